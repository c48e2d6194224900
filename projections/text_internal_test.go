package projections

import "testing"

func TestStorableJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":"x"}`:                    `{"a":"x"}`,
		`{"a":"\u0000"}`:               `{"a":"\ufffd"}`,
		`{"a\u0000":"b\u0000c\u0000"}`: `{"a\ufffd":"b\ufffdc\ufffd"}`,
		`{"a":"\\u0000"}`:              `{"a":"\\u0000"}`,
		`{"a":"\\\u0000"}`:             `{"a":"\\\ufffd"}`,
		`{"a":"\u00001"}`:              `{"a":"\ufffd1"}`,
	} {
		if got := string(storableJSON([]byte(in))); got != want {
			t.Errorf("storableJSON(%s) = %s, want %s", in, got, want)
		}
	}
	b := []byte(`{"a":"x"}`)
	if &storableJSON(b)[0] != &b[0] {
		t.Error("text without a NUL was copied")
	}
}

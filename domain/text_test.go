package domain

import "testing"

func TestStorableText(t *testing.T) {
	for s, want := range map[string]bool{"": true, "退款 refund": true, `\u0000 as text`: true, "a\x00b": false, "\xff": false, "a\tb\n": true} {
		if got := StorableText(s); got != want {
			t.Errorf("StorableText(%q) = %v, want %v", s, got, want)
		}
	}
}

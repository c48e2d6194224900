package process

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600))
	t1 = t0.Add(time.Hour)
)

func published(t *testing.T, src string, version int, at time.Time) Published {
	t.Helper()
	def := mustParse(t, src)
	return Published{Key: def.Key(), Version: version, Digest: def.Digest(), Document: def.Document(), Source: src, PublishedAt: at.UTC()}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	changed := strings.Replace(minimal, "name: Manager", "name: Line manager", 1)
	reformatted := `{"key":"leave","name":"Leave","system":"hr","nodes":[{"key":"manager","name":"Manager","handlers":[{"role":"managers"}]}]}`
	tests := []struct {
		name    string
		given   []Event
		when    Command
		then    []Event
		wantErr error
		probs   []string
	}{
		{
			name: "first publication is version 1",
			when: Publish{Key: "leave", Source: []byte(minimal), At: t0},
			then: []Event{published(t, minimal, 1, t0)},
		},
		{
			name:  "a changed document is the next version",
			given: []Event{published(t, minimal, 1, t0)},
			when:  Publish{Key: "leave", Source: []byte(changed), At: t1},
			then:  []Event{published(t, changed, 2, t1)},
		},
		{
			name:  "the same document again is a no-op",
			given: []Event{published(t, minimal, 1, t0)},
			when:  Publish{Key: "leave", Source: []byte(minimal), At: t1},
		},
		{
			name:  "the same definition written differently is a no-op",
			given: []Event{published(t, minimal, 1, t0)},
			when:  Publish{Key: "leave", Source: []byte(reformatted), At: t1},
		},
		{
			name:  "an older document again is a new version",
			given: []Event{published(t, minimal, 1, t0), published(t, changed, 2, t0)},
			when:  Publish{Key: "leave", Source: []byte(minimal), At: t1},
			then:  []Event{published(t, minimal, 3, t1)},
		},
		{
			name:  "publishing a retired process brings it back",
			given: []Event{published(t, minimal, 1, t0), Retired{Key: "leave", Version: 1, RetiredAt: t0}},
			when:  Publish{Key: "leave", Source: []byte(minimal), At: t1},
			then:  []Event{published(t, minimal, 2, t1)},
		},
		{
			name:    "an invalid document is refused",
			when:    Publish{Key: "leave", Source: []byte("key: leave\nname: Leave\n"), At: t0},
			wantErr: ErrInvalid,
			probs:   []string{"system: is required", "nodes: is required"},
		},
		{
			name:    "the document's key must be the process",
			when:    Publish{Key: "holiday", Source: []byte(minimal), At: t0},
			wantErr: ErrInvalid,
			probs:   []string{`key: the document's key "leave" is not the process "holiday"`},
		},
		{
			name:    "the stream must be the process's",
			given:   []Event{published(t, minimal, 1, t0)},
			when:    Retire{Key: "holiday", At: t0},
			wantErr: ErrInvalid,
			probs:   []string{`key: the stream holds process "leave", not "holiday"`},
		},
		{
			name:    "time must arrive in the command",
			when:    Publish{Key: "leave", Source: []byte(minimal)},
			wantErr: ErrInvalid,
			probs:   []string{"at: the command carries no time"},
		},
		{
			name:  "retire",
			given: []Event{published(t, minimal, 1, t0)},
			when:  Retire{Key: "leave", Reason: " replaced by holiday ", At: t1},
			then:  []Event{Retired{Key: "leave", Version: 1, Reason: "replaced by holiday", RetiredAt: t1.UTC()}},
		},
		{
			name:  "retire twice is a no-op",
			given: []Event{published(t, minimal, 1, t0), Retired{Key: "leave", Version: 1, RetiredAt: t0}},
			when:  Retire{Key: "leave", At: t1},
		},
		{
			name:    "retire before publishing",
			when:    Retire{Key: "leave", At: t1},
			wantErr: ErrNotPublished,
		},
		{
			name:    "unknown command",
			when:    nil,
			wantErr: ErrInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state := Fold(tt.given)
			got, err := Decide(state, tt.when)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.probs != nil {
					wantProblems(t, err, tt.probs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.then) {
				t.Errorf("events =\n%+v\nwant\n%+v", got, tt.then)
			}
		})
	}
}

func TestEvolve(t *testing.T) {
	t.Parallel()
	p1 := published(t, minimal, 1, t0)
	p2 := published(t, strings.Replace(minimal, "Leave", "Leave 2", 1), 2, t1)
	s1 := Evolve(State{}, p1)
	s2 := Evolve(s1, p2)
	s2b := Evolve(s1, p1)
	if len(s1.Versions) != 1 || s2.Versions[1].Digest != p2.Digest || s2b.Versions[1].Digest != p1.Digest {
		t.Error("Evolve shares version slices between states")
	}
	s3 := Evolve(s2, Retired{Key: "leave", Version: 2, RetiredAt: t1})
	if !s3.Retired || s3.Version != 2 || s3.Digest != p2.Digest || s2.Retired {
		t.Errorf("after retire: %+v", s3)
	}
	if latest, ok := s3.Latest(); !ok || latest.Version != 2 {
		t.Errorf("Latest = %+v, %v", latest, ok)
	}
	if v1, ok := s3.Published(1); !ok || v1.Digest != p1.Digest {
		t.Errorf("Published(1) = %+v, %v", v1, ok)
	}
	if _, ok := s3.Published(3); ok {
		t.Error("Published(3) found")
	}
	if _, ok := (State{}).Latest(); ok {
		t.Error("empty state has a latest version")
	}
	def, err := p2.Definition()
	if err != nil || def.Name() != "Leave 2" || def.Digest() != p2.Digest {
		t.Errorf("Definition() = %v, %v", def, err)
	}
	if StreamName("leave") != "process-leave" {
		t.Error("StreamName")
	}
}

func TestEventCodec(t *testing.T) {
	t.Parallel()
	for _, e := range []Event{published(t, minimal, 1, t0), Retired{Key: "leave", Version: 1, Reason: "r", RetiredAt: t1.UTC()}} {
		typ, data, err := EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if typ != e.EventType() {
			t.Errorf("type = %s, want %s", typ, e.EventType())
		}
		back, err := DecodeEvent(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			if p, ok := e.(Published); ok {
				q := back.(Published)
				if string(q.Document) != string(p.Document) || q.PublishedAt != p.PublishedAt || q.Digest != p.Digest {
					t.Errorf("round trip = %+v, want %+v", back, e)
				}
			} else {
				t.Errorf("round trip = %+v, want %+v", back, e)
			}
		}
	}
	_, data, _ := EncodeEvent(published(t, minimal, 1, t0))
	var payload map[string]any
	if err := json.Unmarshal(data, &payload); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"key", "version", "digest", "document", "source", "published_at"} {
		if _, ok := payload[k]; !ok {
			t.Errorf("published payload lacks %q: %s", k, data)
		}
	}
	if _, err := DecodeEvent("process.renamed", []byte(`{}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("DecodeEvent(unknown) = %v", err)
	}
	for _, typ := range []string{EventPublished, EventRetired} {
		if _, err := DecodeEvent(typ, []byte(`[`)); err == nil {
			t.Errorf("DecodeEvent(%s, bad JSON) succeeded", typ)
		}
	}
	if _, _, err := EncodeEvent(nil); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("EncodeEvent(nil) = %v", err)
	}
}

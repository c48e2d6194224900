package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

func sealedStream(t testing.TB, n int) []Link {
	t.Helper()
	prev := Genesis
	cmd := uuid.MustParse("0b3b0a8e-6d1e-4d47-9a9e-0d8f0e0d4f11")
	var links []Link
	for i := 0; i < n; i++ {
		data := []byte(fmt.Sprintf(`{"n":%d,"comment":"第%d步"}`, i, i))
		typ := "ticket.step"
		md, h, err := Seal(Metadata{
			Schema: 1, Actor: "alice", OnBehalfOf: "bob", CommandID: cmd,
			CorrelationID: "corr", Source: "shop", Time: time.Date(2026, 11, 25, 10, 0, i, 0, time.UTC),
		}, prev, typ, data)
		if err != nil {
			t.Fatal(err)
		}
		prev = h
		links = append(links, Link{Version: uint64(i + 1), Type: typ, Data: data, Metadata: md})
	}
	return links
}

func TestSealOpenRoundTrip(t *testing.T) {
	links := sealedStream(t, 1)
	s, err := Open(links[0].Type, links[0].Data, links[0].Metadata)
	if err != nil {
		t.Fatal(err)
	}
	if s.Actor != "alice" || s.OnBehalfOf != "bob" || s.Source != "shop" || s.Prev != Genesis {
		t.Fatalf("opened %+v", s)
	}
	m, err := Decode(links[0].Metadata)
	if err != nil || m.Actor != "alice" || !m.Time.Equal(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("decode: %+v, %v", m, err)
	}
	if !bytes.HasSuffix(links[0].Metadata, []byte(`"hash":"`+s.Hash.String()+`"}`)) {
		t.Fatalf("metadata does not end with its hash: %s", links[0].Metadata)
	}
	// Decode reads what encoding/json reads, sealed metadata or not.
	for _, md := range [][]byte{links[0].Metadata,
		[]byte(`{"schema":2,"ACTOR":"\u00e9ve","command_id":"0b3b0a8e-6d1e-4d47-9a9e-0d8f0e0d4f11","time":"2026-11-25T18:00:00+08:00","other":[1,null]}`)} {
		var std Metadata
		stdErr := json.Unmarshal(md, &std)
		m, err := Decode(md)
		if err != nil || stdErr != nil || !reflect.DeepEqual(m, std) {
			t.Fatalf("Decode %+v (%v), encoding/json %+v (%v)", m, err, std, stdErr)
		}
	}
}

func TestVerifyChain(t *testing.T) {
	links := sealedStream(t, 5)
	head, err := Verify(links)
	if err != nil {
		t.Fatalf("intact chain: %v", err)
	}
	last, _ := Open(links[4].Type, links[4].Data, links[4].Metadata)
	if head != last.Hash {
		t.Fatalf("head %s, want the last event's hash %s", head, last.Hash)
	}

	cases := map[string]func([]Link) []Link{
		"event missing": func(l []Link) []Link { return append(l[:2:2], l[3:]...) },
		"events swapped": func(l []Link) []Link {
			l[1], l[2] = l[2], l[1]
			l[1].Version, l[2].Version = 2, 3
			return l
		},
		"type changed": func(l []Link) []Link { l[3].Type = "ticket.other"; return l },
		"data changed": func(l []Link) []Link { l[2].Data = bytes.Replace(l[2].Data, []byte("2"), []byte("3"), 1); return l },
		"actor changed": func(l []Link) []Link {
			l[1].Metadata = bytes.Replace(l[1].Metadata, []byte("alice"), []byte("mallo"), 1)
			return l
		},
		"hash stripped": func(l []Link) []Link { l[0].Metadata = []byte(`{"actor":"alice"}`); return l },
		"rehashed in place": func(l []Link) []Link {
			// An attacker who rewrites an event and reseals it cannot fix its successor.
			md, _, _ := Seal(Metadata{Actor: "mallory"}, Genesis, l[0].Type, l[0].Data)
			l[0].Metadata = md
			return l
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			fresh := sealedStream(t, 5)
			_, err := Verify(tamper(fresh))
			var be *BreakError
			if !errors.As(err, &be) {
				t.Fatalf("tampered chain verified: %v", err)
			}
		})
	}
}

func TestAnyChangedByteBreaksTheChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		links := sealedStream(t, 4)
		l := &links[rng.IntN(len(links))]
		var target []byte
		switch rng.IntN(2) {
		case 0:
			target = l.Data
		default:
			target = l.Metadata
		}
		pos := rng.IntN(len(target))
		target[pos] ^= byte(1 + rng.IntN(255))
		if _, err := Verify(links); err == nil {
			t.Fatalf("flipping byte %d of event %d still verifies", pos, l.Version)
		}
	}
}

func TestEventID(t *testing.T) {
	cmd := uuid.New()
	if first, again := EventID(cmd, 0), EventID(cmd, 0); first != again {
		t.Fatal("event ids are not deterministic")
	}
	seen := map[uuid.UUID]bool{}
	for _, c := range []uuid.UUID{cmd, uuid.New()} {
		for i := 0; i < 100; i++ {
			id := EventID(c, i)
			if seen[id] {
				t.Fatalf("duplicate event id %s", id)
			}
			seen[id] = true
		}
	}
}

func TestParseHash(t *testing.T) {
	links := sealedStream(t, 1)
	s, _ := Open(links[0].Type, links[0].Data, links[0].Metadata)
	h, err := ParseHash(s.Hash.String())
	if err != nil || h != s.Hash {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "zz", s.Hash.String()[:10]} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
	var u Hash
	if err := u.UnmarshalText([]byte(s.Hash.String())); err != nil || u != s.Hash {
		t.Fatal("UnmarshalText")
	}
}

func FuzzOpen(f *testing.F) {
	links := sealedStream(f, 2)
	for _, l := range links {
		f.Add(l.Type, l.Data, l.Metadata)
	}
	f.Add("x", []byte("{}"), []byte(`{"hash":"00"}`))
	f.Fuzz(func(t *testing.T, typ string, data, md []byte) {
		s, err := Open(typ, data, md)
		if err == nil && digest(typ, data, md[:len(md)-hashTail]) != s.Hash {
			t.Fatal("opened metadata whose hash does not match")
		}
	})
}

// TestSealWritesWhatEncodingJSONWrites: Seal's encoder writes the metadata as
// encoding/json would, byte for byte, whatever its members hold: optional members empty
// or set, characters that encoding/json escapes, times in any zone and precision.
func TestSealWritesWhatEncodingJSONWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	texts := []string{"", "alice", "<script>&amp;</script>", "第1步 \u2028\u2029", "quote\" back\\slash\ttab\x01", "emoji 🎫", "\xff invalid"}
	zones := []*time.Location{time.UTC, time.FixedZone("", 8*3600), time.FixedZone("", -(3*3600 + 1800))}
	pick := func() string { return texts[rng.IntN(len(texts))] }
	for i := range 500 {
		m := Metadata{
			Schema: rng.IntN(3), Actor: pick(), OnBehalfOf: pick(), CommandID: uuid.New(),
			CorrelationID: pick(), CausationID: pick(), Source: pick(), RequestID: pick(),
			Time: time.Date(2026, 11, 25, rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(3)*rng.IntN(1e9), zones[rng.IntN(len(zones))]),
		}
		if i%7 == 0 {
			m.Time = time.Time{}
		}
		var prev Hash
		for j := range prev {
			prev[j] = byte(rng.IntN(256))
		}
		md, _, err := Seal(m, prev, "ticket.step", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		std, err := json.Marshal(chained{Metadata: m, Prev: prev})
		if err != nil {
			t.Fatal(err)
		}
		if got := md[:len(md)-hashTail]; !bytes.Equal(got, std[:len(std)-1]) {
			t.Fatalf("metadata %+v:\n Seal          %s\n encoding/json %s", m, got, std[:len(std)-1])
		}
	}
}

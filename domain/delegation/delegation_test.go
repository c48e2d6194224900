package delegation

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func granted(id, delegate string, from, until time.Time, processes ...string) *Granted {
	return &Granted{Grant: Grant{ID: id, Principal: "boss", Delegate: delegate, From: from, Until: until,
		Processes: processes, GrantedBy: "boss", GrantedAt: t0}}
}

func TestDecide(t *testing.T) {
	grant := GrantCmd{ID: "g1", Principal: "boss", Delegate: "assistant", From: t0, Until: t0.Add(72 * time.Hour), Actor: "boss", At: t0}
	cases := []struct {
		name     string
		given    []Event
		when     Command
		then     []Event
		wantKind domain.Kind
		wantCode string
	}{
		{name: "principal grants", when: grant, then: []Event{granted("g1", "assistant", t0, t0.Add(72*time.Hour))}},
		{name: "admin grants for another", when: func() GrantCmd { c := grant; c.Actor, c.AsAdmin = "root", true; return c }(),
			then: []Event{func() *Granted {
				g := granted("g1", "assistant", t0, t0.Add(72*time.Hour))
				g.Grant.GrantedBy = "root"
				return g
			}()}},
		{name: "grant limited to processes, sorted", when: func() GrantCmd { c := grant; c.Processes = []string{"refund", "claim", "refund"}; return c }(),
			then: []Event{granted("g1", "assistant", t0, t0.Add(72*time.Hour), "claim", "refund")}},
		{name: "someone else grants", when: func() GrantCmd { c := grant; c.Actor = "mallory"; return c }(), wantKind: domain.Forbidden, wantCode: "not-principal"},
		{name: "self delegation", when: func() GrantCmd { c := grant; c.Delegate = "boss"; return c }(), wantKind: domain.Invalid, wantCode: "self-delegation"},
		{name: "no delegate", when: func() GrantCmd { c := grant; c.Delegate = ""; return c }(), wantKind: domain.Invalid, wantCode: "required"},
		{name: "no id", when: func() GrantCmd { c := grant; c.ID = ""; return c }(), wantKind: domain.Invalid, wantCode: "required"},
		{name: "no start", when: func() GrantCmd { c := grant; c.From = time.Time{}; return c }(), wantKind: domain.Invalid, wantCode: "required"},
		{name: "a reason with a NUL", when: func() GrantCmd { c := grant; c.Reason = "leave\x00"; return c }(), wantKind: domain.Invalid, wantCode: "invalid-text"},
		{name: "a reason too long", when: func() GrantCmd { c := grant; c.Reason = strings.Repeat("假", MaxReasonLength+1); return c }(), wantKind: domain.Invalid, wantCode: "too-long"},
		{name: "empty process key", when: func() GrantCmd { c := grant; c.Processes = []string{""}; return c }(), wantKind: domain.Invalid, wantCode: "required"},
		{name: "period ends before it starts", when: func() GrantCmd { c := grant; c.Until = t0.Add(-time.Hour); return c }(), wantKind: domain.Invalid, wantCode: "empty-period"},
		{name: "period already over", when: func() GrantCmd {
			c := grant
			c.From, c.Until = t0.Add(-48*time.Hour), t0.Add(-time.Hour)
			return c
		}(), wantKind: domain.Invalid, wantCode: "past-period"},
		{name: "same grant again is a no-op", given: []Event{granted("g1", "assistant", t0, t0.Add(72*time.Hour))}, when: grant},
		{name: "grant id reused with other terms", given: []Event{granted("g1", "other", t0, t0.Add(72*time.Hour))}, when: grant,
			wantKind: domain.Conflict, wantCode: "grant-id-taken"},
		{name: "principal revokes", given: []Event{granted("g1", "assistant", t0, time.Time{})},
			when: RevokeCmd{GrantID: "g1", Actor: "boss", At: t0.Add(time.Hour)},
			then: []Event{&Revoked{GrantID: "g1", RevokedBy: "boss", RevokedAt: t0.Add(time.Hour)}}},
		{name: "delegate declines", given: []Event{granted("g1", "assistant", t0, time.Time{})},
			when: RevokeCmd{GrantID: "g1", Actor: "assistant", At: t0.Add(time.Hour)},
			then: []Event{&Revoked{GrantID: "g1", RevokedBy: "assistant", RevokedAt: t0.Add(time.Hour)}}},
		{name: "stranger revokes", given: []Event{granted("g1", "assistant", t0, time.Time{})},
			when: RevokeCmd{GrantID: "g1", Actor: "mallory", At: t0}, wantKind: domain.Forbidden, wantCode: "not-party"},
		{name: "revoke unknown grant", when: RevokeCmd{GrantID: "nope", Actor: "boss", At: t0}, wantKind: domain.NotFound, wantCode: "no-such-grant"},
		{name: "revoke twice is a no-op", given: []Event{granted("g1", "assistant", t0, time.Time{}), &Revoked{GrantID: "g1", RevokedBy: "boss", RevokedAt: t0}},
			when: RevokeCmd{GrantID: "g1", Actor: "boss", At: t0.Add(time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s State
			for _, e := range tc.given {
				s = Evolve(s, e)
			}
			got, err := Decide(s, tc.when)
			if tc.wantKind != "" {
				var de *domain.Error
				if !domain.Is(err, tc.wantKind) || !asError(err, &de) || de.Code != tc.wantCode {
					t.Fatalf("got %v, want a %s error with code %s", err, tc.wantKind, tc.wantCode)
				}
				if got != nil {
					t.Fatalf("a refusal returned events %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("got events %#v, want %#v", got, tc.then)
			}
		})
	}
	if _, err := Decide(State{}, nil); !domain.Is(err, domain.Invalid) {
		t.Fatalf("unknown command: %v", err)
	}
}

func asError(err error, target **domain.Error) bool {
	e, ok := err.(*domain.Error)
	*target = e
	return ok
}

func TestActive(t *testing.T) {
	var s State
	s = Evolve(s, granted("g1", "assistant", t0, t0.Add(24*time.Hour), "refund"))
	s = Evolve(s, granted("g2", "deputy", t0, time.Time{}))
	s = Evolve(s, &Revoked{GrantID: "g2", RevokedBy: "boss", RevokedAt: t0.Add(2 * time.Hour)})

	cases := []struct {
		delegate, process string
		at                time.Time
		want              bool
	}{
		{"assistant", "refund", t0, true},
		{"assistant", "refund", t0.Add(-time.Second), false},
		{"assistant", "refund", t0.Add(24 * time.Hour), false},
		{"assistant", "claim", t0.Add(time.Hour), false},
		{"deputy", "claim", t0.Add(time.Hour), true},
		{"deputy", "claim", t0.Add(2 * time.Hour), false},
		{"stranger", "refund", t0.Add(time.Hour), false},
	}
	for _, c := range cases {
		if _, got := s.Active(c.delegate, c.process, c.at); got != c.want {
			t.Errorf("Active(%s, %s, %s) = %v, want %v", c.delegate, c.process, c.at, got, c.want)
		}
	}
	if got := s.ActiveGrants(t0.Add(time.Hour)); len(got) != 2 {
		t.Errorf("two grants stand an hour in, got %d", len(got))
	}
	if got := s.ActiveGrants(t0.Add(3 * time.Hour)); len(got) != 1 || got[0].ID != "g1" {
		t.Errorf("only g1 stands three hours in, got %v", got)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, e := range []Event{
		granted("g1", "assistant", t0, t0.Add(time.Hour), "refund"),
		granted("g2", "assistant", t0, time.Time{}),
		&Revoked{GrantID: "g1", RevokedBy: "boss", RevokedAt: t0},
	} {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip of %s: got %#v, want %#v", typ, back, e)
		}
	}
	if _, err := Decode("delegation.unknown", []byte("{}")); err == nil {
		t.Fatal("unknown type decoded")
	}
	if _, err := Decode(TypeGranted, []byte("{")); err == nil {
		t.Fatal("bad json decoded")
	}
	if _, _, err := Encode(nil); err == nil {
		t.Fatal("nil event encoded")
	}
	if Stream("boss") != "delegation-boss" {
		t.Fatal("stream name")
	}
}

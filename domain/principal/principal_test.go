package principal

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain"
)

var (
	t0    = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	root  = Actor{ID: "root", Admin: true}
	hashA = HashToken("secret-a")
)

func created(id string, roles ...string) *Created {
	return &Created{ID: id, Kind: User, Name: "Fang", Roles: roles, By: "root", At: t0}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name     string
		given    []Event
		when     Command
		then     []Event
		wantKind domain.Kind
		wantCode string
	}{
		{name: "admin creates a user", when: Create{ID: "fang", Kind: User, Name: "Fang", Roles: []string{"finance", "approver", "finance"}, By: root, At: t0},
			then: []Event{created("fang", "approver", "finance")}},
		{name: "admin creates a service", when: Create{ID: "svc-shop", Kind: Service, System: "shop", Roles: []string{RoleSystem}, By: root, At: t0},
			then: []Event{&Created{ID: "svc-shop", Kind: Service, System: "shop", Roles: []string{RoleSystem}, By: "root", At: t0}}},
		{name: "a user creates", when: Create{ID: "x", Kind: User, By: Actor{ID: "fang"}, At: t0}, wantKind: domain.Forbidden, wantCode: "not-admin"},
		{name: "bad id", when: Create{ID: "a b", Kind: User, By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "service without system", when: Create{ID: "svc", Kind: Service, By: root, At: t0}, wantKind: domain.Invalid, wantCode: "required"},
		{name: "user with system", when: Create{ID: "u", Kind: User, System: "shop", By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "unknown kind", when: Create{ID: "u", Kind: "robot", By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "bad role", when: Create{ID: "u", Kind: User, Roles: []string{"Finance"}, By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "bad attribute", when: Create{ID: "u", Kind: User, Attributes: map[string]string{"Level": "1"}, By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "a name with a NUL", when: Create{ID: "u", Kind: User, Name: "a\x00", By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid-text"},
		{name: "a department with a NUL", when: Create{ID: "u", Kind: User, Department: "fin\x00", By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid-text"},
		{name: "an attribute not UTF-8", when: Create{ID: "u", Kind: User, Attributes: map[string]string{"level": "\xff"}, By: root, At: t0}, wantKind: domain.Invalid, wantCode: "invalid-text"},
		{name: "same creation again", given: []Event{created("fang", "finance")}, when: Create{ID: "fang", Kind: User, Name: "Fang", Roles: []string{"finance"}, By: root, At: t0.Add(time.Hour)}},
		{name: "creation with other terms", given: []Event{created("fang", "finance")}, when: Create{ID: "fang", Kind: User, Name: "Other", By: root, At: t0},
			wantKind: domain.Conflict, wantCode: "principal-exists"},
		{name: "grant on nobody", when: GrantRole{Role: "finance", By: root, At: t0}, wantKind: domain.NotFound, wantCode: "no-such-principal"},
		{name: "grant role", given: []Event{created("fang")}, when: GrantRole{Role: "cashier", By: root, At: t0},
			then: []Event{&RoleGranted{Role: "cashier", By: "root", At: t0}}},
		{name: "grant held role", given: []Event{created("fang", "cashier")}, when: GrantRole{Role: "cashier", By: root, At: t0}},
		{name: "user grants themselves", given: []Event{created("fang")}, when: GrantRole{Role: "admin", By: Actor{ID: "fang"}, At: t0},
			wantKind: domain.Forbidden, wantCode: "not-admin"},
		{name: "revoke role", given: []Event{created("fang", "cashier")}, when: RevokeRole{Role: "cashier", By: root, At: t0},
			then: []Event{&RoleRevoked{Role: "cashier", By: "root", At: t0}}},
		{name: "revoke role not held", given: []Event{created("fang")}, when: RevokeRole{Role: "cashier", By: root, At: t0}},
		{name: "admin revokes own admin role", given: []Event{created("root", "admin")}, when: RevokeRole{Role: "admin", By: root, At: t0},
			wantKind: domain.Conflict, wantCode: "self-lockout"},
		{name: "join and leave groups", given: []Event{created("fang")}, when: JoinGroup{Group: "team-a", By: root, At: t0},
			then: []Event{&GroupJoined{Group: "team-a", By: "root", At: t0}}},
		{name: "leave group", given: []Event{created("fang"), &GroupJoined{Group: "team-a"}}, when: LeaveGroup{Group: "team-a", By: root, At: t0},
			then: []Event{&GroupLeft{Group: "team-a", By: "root", At: t0}}},
		{name: "change profile", given: []Event{created("fang")}, when: ChangeProfile{Name: "Fang Li", Department: "finance", Attributes: map[string]string{"level": "3"}, By: root, At: t0},
			then: []Event{&ProfileChanged{Name: "Fang Li", Department: "finance", Attributes: map[string]string{"level": "3"}, By: "root", At: t0}}},
		{name: "same profile", given: []Event{created("fang")}, when: ChangeProfile{Name: "Fang", Attributes: map[string]string{}, By: root, At: t0}},
		{name: "admin issues a token", given: []Event{created("fang")}, when: IssueToken{TokenID: "t1", Hash: hashA, Label: "laptop", By: root, At: t0},
			then: []Event{&TokenIssued{Token: Token{ID: "t1", Hash: hashA, Label: "laptop", IssuedAt: t0, IssuedBy: "root"}}}},
		{name: "principal issues their own token", given: []Event{created("fang")}, when: IssueToken{TokenID: "t1", Hash: hashA, By: Actor{ID: "fang"}, At: t0},
			then: []Event{&TokenIssued{Token: Token{ID: "t1", Hash: hashA, IssuedAt: t0, IssuedBy: "fang"}}}},
		{name: "someone else issues a token", given: []Event{created("fang")}, when: IssueToken{TokenID: "t1", Hash: hashA, By: Actor{ID: "chen"}, At: t0},
			wantKind: domain.Forbidden, wantCode: "not-admin"},
		{name: "token id reused", given: []Event{created("fang"), &TokenIssued{Token: Token{ID: "t1", Hash: hashA}}},
			when: IssueToken{TokenID: "t1", Hash: hashA, By: root, At: t0}, wantKind: domain.Conflict, wantCode: "token-issued"},
		{name: "token with a bad hash", given: []Event{created("fang")}, when: IssueToken{TokenID: "t1", Hash: "secret", By: root, At: t0},
			wantKind: domain.Invalid, wantCode: "invalid"},
		{name: "token expiring in the past", given: []Event{created("fang")}, when: IssueToken{TokenID: "t1", Hash: hashA, ExpiresAt: t0.Add(-time.Hour), By: root, At: t0},
			wantKind: domain.Invalid, wantCode: "past-expiry"},
		{name: "token for a disabled principal", given: []Event{created("fang"), &Disabled{}}, when: IssueToken{TokenID: "t1", Hash: hashA, By: root, At: t0},
			wantKind: domain.Conflict, wantCode: "principal-disabled"},
		{name: "revoke token", given: []Event{created("fang"), &TokenIssued{Token: Token{ID: "t1", Hash: hashA}}},
			when: RevokeToken{TokenID: "t1", By: Actor{ID: "fang"}, At: t0}, then: []Event{&TokenRevoked{TokenID: "t1", By: "fang", At: t0}}},
		{name: "revoke token twice", given: []Event{created("fang"), &TokenIssued{Token: Token{ID: "t1", Hash: hashA}}, &TokenRevoked{TokenID: "t1", At: t0}},
			when: RevokeToken{TokenID: "t1", By: root, At: t0}},
		{name: "revoke unknown token", given: []Event{created("fang")}, when: RevokeToken{TokenID: "t9", By: root, At: t0},
			wantKind: domain.NotFound, wantCode: "no-such-token"},
		{name: "disable", given: []Event{created("fang")}, when: Disable{Reason: "left", By: root, At: t0},
			then: []Event{&Disabled{Reason: "left", By: "root", At: t0}}},
		{name: "disable oneself", given: []Event{created("root", "admin")}, when: Disable{By: root, At: t0}, wantKind: domain.Conflict, wantCode: "self-lockout"},
		{name: "enable", given: []Event{created("fang"), &Disabled{}}, when: Enable{By: root, At: t0}, then: []Event{&Enabled{By: "root", At: t0}}},
		{name: "enable enabled", given: []Event{created("fang")}, when: Enable{By: root, At: t0}},
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
				if !errors.As(err, &de) || de.Kind != tc.wantKind || de.Code != tc.wantCode {
					t.Fatalf("got %v, want a %s error with code %s", err, tc.wantKind, tc.wantCode)
				}
				if got != nil {
					t.Fatalf("a refusal returned events %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.then) {
				t.Fatalf("got %#v, want %#v", got, tc.then)
			}
		})
	}
}

func TestEvolveAndCodec(t *testing.T) {
	evs := []Event{
		&Created{ID: "fang", Kind: User, Roles: []string{"finance"}, Groups: []string{"b", "a"}, By: "root", At: t0},
		&RoleGranted{Role: "approver", By: "root", At: t0},
		&RoleRevoked{Role: "finance", By: "root", At: t0},
		&GroupJoined{Group: "c", By: "root", At: t0},
		&GroupLeft{Group: "a", By: "root", At: t0},
		&ProfileChanged{Name: "Fang", Department: "finance", Attributes: map[string]string{"level": "3"}, By: "root", At: t0},
		&TokenIssued{Token: Token{ID: "t1", Hash: hashA, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), IssuedBy: "root"}},
		&TokenRevoked{TokenID: "t1", By: "root", At: t0.Add(30 * time.Minute)},
		&Disabled{Reason: "left", By: "root", At: t0},
		&Enabled{By: "root", At: t0},
	}
	var s State
	for _, e := range evs {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("%s: round trip %#v, want %#v", typ, back, e)
		}
		before := s.clone()
		s = Evolve(s, back)
		if !reflect.DeepEqual(before, s.clone()) && len(before.Roles) > 0 && &before.Roles[0] == &s.Roles[0] {
			t.Fatalf("%s: Evolve shares the roles slice", typ)
		}
	}
	if !reflect.DeepEqual(s.Roles, []string{"approver"}) || !reflect.DeepEqual(s.Groups, []string{"b", "c"}) || s.Disabled || s.Department != "finance" {
		t.Fatalf("state %+v", s)
	}
	tok, _ := s.Token("t1")
	if !tok.ValidAt(t0.Add(10*time.Minute)) || tok.ValidAt(t0.Add(40*time.Minute)) || tok.ValidAt(t0.Add(-time.Minute)) {
		t.Fatalf("token validity %+v", tok)
	}
	if _, err := Decode("principal.nope", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("unknown type: %v", err)
	}
	if _, _, err := Encode(nil); err == nil {
		t.Fatal("encoding nil succeeded")
	}
	if HashToken("x") == HashToken("y") || len(HashToken("x")) != 64 {
		t.Fatal("HashToken")
	}
}

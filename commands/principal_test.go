package commands_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/principal"
	"github.com/ticketledger/ticketledger/eventstore"
)

// runIndex returns a principal index over store, running until the test ends.
func runIndex(t *testing.T, ctx context.Context, store eventstore.Store) *commands.PrincipalIndex {
	t.Helper()
	index := commands.NewPrincipalIndex(store, nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- index.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return index
}

func TestPrincipals(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		svc := commands.New(store, nil)
		index := runIndex(t, ctx, store)

		adminID := "admin-" + uuid.NewString()[:8]
		boot, created, err := svc.Bootstrap(ctx, commands.Bootstrap{ID: adminID})
		if err != nil || !created || boot.Secret == "" {
			t.Fatalf("bootstrap: %v, created %v", err, created)
		}
		if _, again, err := svc.Bootstrap(ctx, commands.Bootstrap{ID: adminID}); err != nil || again {
			t.Fatalf("a second bootstrap: %v, created %v", err, again)
		}
		if err := index.WaitFor(ctx, boot.Position); err != nil {
			t.Fatal(err)
		}
		root, err := index.Authenticate(ctx, boot.Secret, time.Now())
		if err != nil || root.ID != adminID || !root.Has(commands.RoleAdmin) {
			t.Fatalf("authenticate the bootstrap token: %+v, %v", root, err)
		}
		as := func(c commands.Caller) commands.Request { return commands.Request{CommandID: uuid.New(), Caller: c} }

		fang := "fang-" + uuid.NewString()[:8]
		res, err := svc.CreatePrincipal(ctx, commands.CreatePrincipal{Request: as(root), ID: fang, Kind: principal.User, Name: "Fang",
			Department: "finance", Roles: []string{"finance", commands.RoleApprover}, Attributes: map[string]string{"level": "3"}})
		if err != nil || res.Appended != 1 {
			t.Fatalf("create: %+v, %v", res, err)
		}
		if _, err := svc.CreatePrincipal(ctx, commands.CreatePrincipal{Request: as(commands.Caller{ID: fang}), ID: "x", Kind: principal.User}); !domain.Is(err, domain.Forbidden) {
			t.Fatalf("a user creates a principal: %v", err)
		}
		if _, err := svc.ChangeMembership(ctx, commands.ChangeMembership{Request: as(root), ID: fang, Group: "team-a"}); err != nil {
			t.Fatal(err)
		}
		tok, err := svc.IssueToken(ctx, commands.IssueToken{Request: as(root), ID: fang, Label: "laptop", ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil || tok.Token.Hash != principal.HashToken(tok.Secret) {
			t.Fatalf("issue: %+v, %v", tok, err)
		}
		retry := as(root)
		if _, err := svc.IssueToken(ctx, commands.IssueToken{Request: retry, ID: fang}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.IssueToken(ctx, commands.IssueToken{Request: retry, ID: fang}); !domain.Is(err, domain.Conflict) {
			t.Fatalf("a retried issue: %v", err)
		}
		if err := index.WaitFor(ctx, tok.Position); err != nil {
			t.Fatal(err)
		}
		c, err := index.Authenticate(ctx, tok.Secret, time.Now())
		if err != nil || c.ID != fang || !slices.Equal(c.Roles, []string{commands.RoleApprover, "finance"}) {
			t.Fatalf("authenticate: %+v, %v", c, err)
		}
		if _, err := index.Authenticate(ctx, tok.Secret, time.Now().Add(2*time.Hour)); !domain.Is(err, domain.Unauthenticated) {
			t.Fatalf("an expired token: %v", err)
		}
		if _, err := index.Authenticate(ctx, "tlk_nope", time.Now()); !domain.Is(err, domain.Unauthenticated) {
			t.Fatalf("an unknown token: %v", err)
		}
		dir, err := index.Directory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(dir.UsersInRole("finance"), fang) || !slices.Contains(dir.UsersInGroup("team-a"), fang) {
			t.Fatalf("directory: finance %v, team-a %v", dir.UsersInRole("finance"), dir.UsersInGroup("team-a"))
		}
		if s := dir.Submitter(fang); s.Department != "finance" || s.Attributes["level"] != "3" {
			t.Fatalf("submitter %+v", s)
		}

		rev, err := svc.RevokeToken(ctx, commands.RevokeToken{Request: as(c), ID: fang, TokenID: tok.Token.ID})
		if err != nil {
			t.Fatal(err)
		}
		dis, err := svc.SetPrincipalEnabled(ctx, commands.SetPrincipalEnabled{Request: as(root), ID: fang, Reason: "left"})
		if err != nil {
			t.Fatal(err)
		}
		if err := index.WaitFor(ctx, dis.Position); err != nil {
			t.Fatal(err)
		}
		if !dis.Position.After(rev.Position) {
			t.Fatal("positions out of order")
		}
		if _, err := index.Authenticate(ctx, tok.Secret, time.Now()); !domain.Is(err, domain.Unauthenticated) {
			t.Fatalf("a revoked token: %v", err)
		}
		dir, _ = index.Directory(ctx)
		if slices.Contains(dir.UsersInRole("finance"), fang) {
			t.Fatal("a disabled principal is routed tickets")
		}
		l, err := svc.Principal(ctx, fang)
		if err != nil || !l.State.Disabled || l.Version != 6 {
			t.Fatalf("load: %+v, %v", l, err)
		}
		if _, err := svc.Principal(ctx, "nobody-"+uuid.NewString()[:8]); !domain.Is(err, domain.NotFound) {
			t.Fatalf("unknown principal: %v", err)
		}
	})
}

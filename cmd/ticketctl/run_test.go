package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/internal/ticketdtest"
)

const refundFile = "../../domain/process/examples/refund.yaml"

// result is what one ticketctl run printed and its exit status.
type result struct {
	stdout, stderr string
	status         int
}

// ctl runs ticketctl with env as its whole environment.
func ctl(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	if err != nil {
		fmt.Fprintln(&errOut, "ticketctl:", err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), status: exitStatus(err)}
}

// want fails t unless r has the status and its output holds every string of contains.
func (r result) want(t *testing.T, status int, contains ...string) result {
	t.Helper()
	if testing.Verbose() {
		t.Logf("exit %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	if r.status != status {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.status, status, r.stdout, r.stderr)
	}
	for _, c := range contains {
		if !strings.Contains(r.stdout+r.stderr, c) {
			t.Fatalf("output lacks %q\nstdout:\n%s\nstderr:\n%s", c, r.stdout, r.stderr)
		}
	}
	return r
}

func envOf(s *ticketdtest.Server) map[string]string {
	return map[string]string{"TICKETLEDGER_SERVER": s.URL, "TICKETLEDGER_TOKEN": s.AdminToken,
		"DATABASE_URL": s.DatabaseURL, "EVENTSTORE_URL": s.EventstoreURL}
}

// call sends a JSON request to the server and decodes the answer.
func call(t *testing.T, s *ticketdtest.Server, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

func refundFields(amount, method string) map[string]any {
	return map[string]any{"order_id": "SO-20261125-0042", "customer": "Zhang San", "reason": "wrong size",
		"items":  []map[string]any{{"sku": "TS-42-L", "name": "T-shirt", "quantity": 2, "price": "99.00"}},
		"amount": amount, "refund_method": method, "payee_name": "Zhang San", "payee_account": "6222 0000 1111"}
}

// setupRefund creates the refund's approvers and the shop with ticketctl, publishes the
// refund and returns the tokens of the shop and of the business reviewer.
func setupRefund(t *testing.T, env map[string]string) (shop, xiaoli string) {
	t.Helper()
	ctl(t, env, "process", "apply", refundFile).want(t, 0, `published process "refund" version 1`)
	ctl(t, env, "principal", "create", "xiaoli", "--kind", "user", "--role", "customer-service,approver").want(t, 0, "created principal xiaoli")
	ctl(t, env, "principal", "create", "--kind=user", "fang", "--role", "finance", "--role", "approver").want(t, 0, "created principal fang")
	ctl(t, env, "principal", "create", "chen", "--kind", "user", "--role", "cashier,approver").want(t, 0, "created principal chen")
	ctl(t, env, "principal", "create", "svc-shop", "--kind", "service", "--system", "shop", "--role", "system").want(t, 0, "created principal svc-shop")
	shop = strings.TrimSpace(ctl(t, env, "token", "issue", "svc-shop", "--label", "shop").want(t, 0, "shown this once").stdout)
	xiaoli = strings.TrimSpace(ctl(t, env, "token", "issue", "xiaoli").want(t, 0).stdout)
	return shop, xiaoli
}

// TestProcessAndPrincipals validates, publishes and simulates the refund example, manages
// principals, roles and tokens, and reads the projections' status, all over HTTP.
func TestProcessAndPrincipals(t *testing.T) {
	t.Parallel()
	s := ticketdtest.Start(t, ticketdtest.Options{})
	env := envOf(s)

	ctl(t, env, "process", "validate", refundFile).want(t, 0, `a valid definition of process "refund"`)
	shop, _ := setupRefund(t, env)
	ctl(t, env, "process", "apply", refundFile).want(t, 0, `process "refund" unchanged: version 1 is identical`)
	ctl(t, env, "process", "list").want(t, 0, "refund", "退款申请 Refund")

	fields, _ := json.Marshal(refundFields("198.00", "bank_transfer"))
	sim := ctl(t, env, "process", "simulate", refundFile, "--fields", string(fields), "--submitter", "cust-1001").want(t, 0,
		`process "refund" simulated for submitter cust-1001: valid`, "1. business (Business review): applies", "handlers: xiaoli",
		"2. finance (Finance review): applies", "handlers: fang", "3. cashier (Cashier payout): applies", "handlers: chen")
	// The cashier sees the payee and not the goods; the business reviewer the reverse.
	cashier := sim.stdout[strings.Index(sim.stdout, "3. cashier"):]
	business := sim.stdout[strings.Index(sim.stdout, "1. business"):strings.Index(sim.stdout, "2. finance")]
	if !strings.Contains(cashier, "payee_account=") || strings.Contains(cashier, "items=") || strings.Contains(business, "payee_account=") {
		t.Fatalf("what each node sees:\n%s", sim.stdout)
	}
	small, _ := json.Marshal(refundFields("20.00", "original"))
	ctl(t, env, "process", "simulate", "--process", "refund", "--fields", string(small), "--submitter", "cust-1001").want(t, 0,
		`process "refund" version 1`, "2. finance (Finance review): skipped")
	bad, _ := json.Marshal(map[string]any{"order_id": "so 1", "amount": "-1"})
	ctl(t, env, "process", "simulate", refundFile, "--fields", string(bad)).want(t, 1, "would be refused (7 problems)", refundFile+": fields.amount: must be ≥ 0.01")
	ctl(t, env, "process", "simulate", refundFile, "--fields", "{not json").want(t, 2, "--fields: not valid JSON")
	ctl(t, env, "process", "simulate", refundFile).want(t, 2, "--fields is required")

	list := ctl(t, env, "principal", "list").want(t, 0, "svc-shop", "service", "shop", "customer-service")
	if !regexp.MustCompile(`xiaoli\s+user\s+-\s+approver, customer-service\s+-\s+1\s+false`).MatchString(list.stdout) {
		t.Fatalf("principal list:\n%s", list.stdout)
	}
	ctl(t, env, "principal", "grant-role", "xiaoli", "auditor").want(t, 0, "granted role auditor", "auditor")
	ctl(t, env, "principal", "revoke-role", "xiaoli", "auditor").want(t, 0, "revoked role auditor: principal xiaoli (user): roles approver, customer-service")
	ctl(t, env, "principal", "grant-role", "nobody", "auditor").want(t, 1, "grant-role nobody auditor: 404 Not Found")
	ctl(t, env, "principal", "create", "x", "--kind", "robot").want(t, 2, "--kind must be user or service")
	ctl(t, env, "principal", "create", "Bad Id!", "--kind", "user").want(t, 1, "create principal Bad Id!: 422 Unprocessable Entity: the request does not match the API's schema", "\n  id: string doesn't match")

	issued := ctl(t, env, "token", "issue", "fang", "--label", "laptop", "--expires", "24h").want(t, 0, "for fang (expires ")
	tokenID := strings.Fields(issued.stderr)[1]
	secret := strings.TrimSpace(issued.stdout)
	call(t, s, "GET", "/v1/me", secret, nil, http.StatusOK)
	listed := ctl(t, env, "token", "list", "fang").want(t, 0, "TOKEN_ID", tokenID, "laptop").stdout
	if line := lineWith(listed, tokenID); !strings.Contains(line, " live ") {
		t.Fatalf("the token before its revocation: %q", line)
	}
	ctl(t, env, "token", "revoke", "fang", tokenID).want(t, 0, "revoked token "+tokenID+" of fang")
	call(t, s, "GET", "/v1/me", secret, nil, http.StatusUnauthorized)
	if line := lineWith(ctl(t, env, "token", "list", "fang").want(t, 0).stdout, tokenID); !strings.Contains(line, " revoked ") {
		t.Fatalf("the token after its revocation: %q", line)
	}
	ctl(t, env, "token", "list", "nobody").want(t, 1, "tokens of nobody: 404")
	ctl(t, env, "token", "issue", "fang", "--expires", "yesterday").want(t, 2, "--expires")

	sub := call(t, s, "POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "SO-1",
		"submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("198.00", "bank_transfer")}, http.StatusCreated)
	call(t, s, "GET", "/v1/tickets/"+sub["ticket_id"].(string)+"?min_position="+sub["position"].(string), s.AdminToken, nil, http.StatusOK)
	ctl(t, env, "projection", "status").want(t, 0, "tickets", "caught up", "delegations", "reminders")
	js := ctl(t, env, "--json", "projection", "status").want(t, 0)
	if !json.Valid([]byte(js.stdout)) {
		t.Fatalf("--json: %s", js.stdout)
	}
	ctl(t, map[string]string{"TICKETLEDGER_SERVER": s.URL, "TICKETLEDGER_TOKEN": "wrong"}, "process", "list").want(t, 1, "401 Unauthorized")
}

// TestBrokenDefinition checks that a broken definition is refused with every problem
// and its path, exit status 1, and that nothing is published; and the usage errors.
func TestBrokenDefinition(t *testing.T) {
	t.Parallel()
	s := ticketdtest.Start(t, ticketdtest.Options{})
	env := envOf(s)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	src := `key: leave
name: Leave request
system: hr
fields:
  days: {type: number, integer: true, min: 1, max: 0}
nodes:
  - key: manager
    name: Manager
    handlers: [{role: managers}]
    visible: [hours]
    reject: hr
`
	if err := os.WriteFile(broken, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := ctl(t, env, "process", "validate", broken).want(t, 1, "the definition is invalid (3 problems)",
		broken+": fields.days.max:", broken+": nodes[0].visible[0]:", broken+": nodes[0].reject:")
	if !strings.Contains(r.stderr, `no node "hr"`) {
		t.Fatalf("the reject problem is not precise:\n%s", r.stderr)
	}
	ctl(t, env, "process", "apply", broken).want(t, 1, "the definition is invalid (3 problems)")
	if out := ctl(t, env, "process", "list").want(t, 0).stdout; strings.Contains(out, "leave") {
		t.Fatalf("a broken definition was published:\n%s", out)
	}
	ctl(t, env, "process", "validate", filepath.Join(t.TempDir(), "missing.yaml")).want(t, 1, "read the definition:", "no such file")

	ctl(t, env).want(t, 2, "no command given")
	ctl(t, env, "process").want(t, 2, "needs a subcommand")
	ctl(t, env, "process", "publish", "x").want(t, 2, `unknown command "process publish"`)
	ctl(t, env, "process", "validate").want(t, 2, "missing arguments: want FILE")
	ctl(t, env, "process", "validate", "a", "b").want(t, 2, `unexpected arguments ["b"]`)
	ctl(t, env, "process", "list", "--bogus").want(t, 2, "flag provided but not defined: -bogus")
	ctl(t, env, "audit", "verify").want(t, 2, "give a TICKET_ID or --all")
	ctl(t, env, "help").want(t, 0, "process simulate", "audit export")
	ctl(t, env, "bogus").want(t, 2, `unknown command "bogus"`)
	ctl(t, env, "help", "bogus").want(t, 2, `unknown command "bogus"`)
	ctl(t, env, "help", "audit", "bogus").want(t, 2, `unknown command "audit bogus": want one of audit verify, audit export`)
	if out := ctl(t, env, "help", "audit").want(t, 0, "ticketctl [flags] audit COMMAND", "audit verify", "audit export", "--server URL").stdout; strings.Contains(out, "process simulate") {
		t.Fatalf("help on audit lists other commands:\n%s", out)
	}
	help := ctl(t, env, "process", "apply", "-h").want(t, 0, "usage: ticketctl process apply [flags] FILE", "$TICKETLEDGER_TOKEN")
	if strings.Contains(help.stdout, s.AdminToken) {
		t.Fatalf("help shows the token:\n%s", help.stdout)
	}
	ctl(t, map[string]string{}, "process", "list").want(t, 2, "no bearer token")
	ctl(t, map[string]string{"TICKETLEDGER_TOKEN": "x", "TICKETLEDGER_SERVER": "127.0.0.1:1"}, "process", "list").want(t, 2, "want a URL such as")
	ctl(t, map[string]string{"TICKETLEDGER_TOKEN": "x", "TICKETLEDGER_SERVER": "http://127.0.0.1:1"}, "process", "list").want(t, 1, "cannot reach ticketd at http://127.0.0.1:1")
}

// TestAudit verifies intact tickets, exports a history as JSON lines, then appends a
// forged event to a ticket's stream directly in the store and checks that verify names
// the broken version and fails, on both event stores.
func TestAudit(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts ticketdtest.Options
	}{{"pgstore", ticketdtest.Options{}}, {"esdb-double", ticketdtest.Options{EventStoreDB: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := ticketdtest.Start(t, tc.opts)
			env := envOf(s)
			shop, xiaoli := setupRefund(t, env)
			var ids []string
			for i := range 3 {
				sub := call(t, s, "POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": fmt.Sprintf("SO-%d", i),
					"submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("198.00", "bank_transfer")}, http.StatusCreated)
				ids = append(ids, sub["ticket_id"].(string))
			}
			call(t, s, "POST", "/v1/tickets/"+ids[0]+"/approve", xiaoli, map[string]any{"comment": "goods back"}, http.StatusOK)

			ctl(t, env, "audit", "verify", ids[0]).want(t, 0, "ticket "+ids[0]+": intact,", "chain head ")
			ctl(t, env, "audit", "verify", "--all").want(t, 0, "checked 3 tickets", ": 3 intact, 0 broken")
			ctl(t, env, "audit", "verify", "00000000-0000-4000-8000-000000000000").want(t, 1, "no ticket 00000000-0000-4000-8000-000000000000 in the event log")

			exp := ctl(t, env, "audit", "export", ids[0]).want(t, 0)
			lines := strings.Split(strings.TrimSpace(exp.stdout), "\n")
			if len(lines) < 3 {
				t.Fatalf("export: %d lines:\n%s", len(lines), exp.stdout)
			}
			var prevHash string
			for i, l := range lines {
				var rec struct {
					Ticket   string          `json:"ticket_id"`
					Type     string          `json:"type"`
					Version  uint64          `json:"version"`
					Position string          `json:"position"`
					Data     json.RawMessage `json:"data"`
					Metadata map[string]any  `json:"metadata"`
					Verified bool            `json:"verified"`
				}
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
				}
				if rec.Ticket != ids[0] || rec.Version != uint64(i+1) || !strings.HasPrefix(rec.Type, "ticket.") || rec.Position == "" ||
					len(rec.Data) == 0 || rec.Data[0] != '{' || !rec.Verified || rec.Metadata["hash"] == nil || rec.Metadata["actor"] == nil {
					t.Fatalf("line %d: %s", i+1, l)
				}
				if i > 0 && rec.Metadata["prev"] != prevHash {
					t.Fatalf("line %d does not link to line %d: %s", i+1, i, l)
				}
				prevHash, _ = rec.Metadata["hash"].(string)
			}
			file := filepath.Join(t.TempDir(), "history.jsonl")
			ctl(t, env, "audit", "export", ids[0], "-o", file).want(t, 0, "exported "+fmt.Sprint(len(lines))+" events of ticket "+ids[0]+" to "+file)
			if b, err := os.ReadFile(file); err != nil || string(b) != exp.stdout {
				t.Fatalf("the file holds %q (%v)", b, err)
			}

			// Forge an approval: sealed as if it were the stream's first event.
			ctx := context.Background()
			stream := ticket.Stream(ids[1])
			evs, err := s.Store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			data := []byte(`{"task_id":"forged","by":"mallory"}`)
			md, _, err := envelope.Seal(envelope.Metadata{Schema: 1, Actor: "mallory", Time: time.Now().UTC()}, envelope.Genesis, "ticket.approved", data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Store.Append(ctx, stream, eventstore.Exact(uint64(len(evs))), eventstore.EventData{Type: "ticket.approved", Data: data, Metadata: md}); err != nil {
				t.Fatal(err)
			}
			forged := len(evs) + 1
			ctl(t, env, "audit", "verify", ids[1]).want(t, 1,
				fmt.Sprintf("ticket %s: BROKEN at version %d of %d: links to", ids[1], forged, forged),
				fmt.Sprintf("the hash chain of ticket %s is broken at version %d", ids[1], forged))
			ctl(t, env, "audit", "verify", "--all").want(t, 1, "checked 3 tickets", ": 2 intact, 1 broken",
				fmt.Sprintf("ticket %s: BROKEN at version %d", ids[1], forged), "1 of 3 tickets has a broken hash chain")
			ctl(t, env, "audit", "verify", ids[0]).want(t, 0, "intact")
			broken := ctl(t, env, "audit", "export", ids[1]).want(t, 1, fmt.Sprintf("broken at version %d", forged))
			last := strings.Split(strings.TrimSpace(broken.stdout), "\n")
			if len(last) != forged || !strings.Contains(last[forged-1], `"verified":false`) || !strings.Contains(last[forged-2], `"verified":true`) {
				t.Fatalf("export of a broken chain:\n%s", broken.stdout)
			}
		})
	}
}

// TestProjectionRebuild rebuilds the tickets read model from the log on the stores while
// ticketd serves, and checks that the read model still answers.
func TestProjectionRebuild(t *testing.T) {
	t.Parallel()
	s := ticketdtest.Start(t, ticketdtest.Options{})
	env := envOf(s)
	shop, _ := setupRefund(t, env)
	var last map[string]any
	for i := range 5 {
		last = call(t, s, "POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": fmt.Sprintf("R-%d", i),
			"submitter": map[string]any{"id": "cust-1001"}, "fields": refundFields("198.00", "bank_transfer")}, http.StatusCreated)
	}
	r := ctl(t, env, "projection", "rebuild", "tickets").want(t, 0, "rebuilt projection tickets: ", "events applied", "rebuild tickets  [")
	if !regexp.MustCompile(`\d+/\d+ events`).MatchString(r.stderr) {
		t.Fatalf("no events done/total in the progress:\n%s", r.stderr)
	}
	got := call(t, s, "GET", "/v1/tickets/"+last["ticket_id"].(string)+"?min_position="+last["position"].(string), s.AdminToken, nil, http.StatusOK)
	if got["status"] != "in_progress" {
		t.Fatalf("after the rebuild: %v", got)
	}
	ctl(t, env, "projection", "rebuild", "nothing").want(t, 2, `no projection "nothing": want one of tickets, delegations, reminders`)
	ctl(t, map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, "audit", "verify", "--all").
		want(t, 1, "no PostgreSQL answers at 127.0.0.1:1 (postgres://postgres@127.0.0.1:1/none")
}

// lineWith returns the first line of out that holds s, or "".
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

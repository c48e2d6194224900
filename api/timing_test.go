package api_test

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/api"
)

// appDur matches a Server-Timing value: its "app" metric, and the "store" one if any.
var appDur = regexp.MustCompile(`^app;dur=([0-9]+\.[0-9]{3})(?:, store;dur=([0-9]+\.[0-9]{3}))?(, paced;dur=[0-9]+\.[0-9]{3})?$`)

// TestServerTiming: every answer, a command's, a query's and a problem, routed or not,
// says in Server-Timing how long the server took from the request's arrival to the
// answer's start. A query that waited for its read model counts the wait. A command that
// appended events says how much of its time the event store took; a query, or a command
// refused before it appended, does not.
func TestServerTiming(t *testing.T) {
	store, dbURL := storeKinds[0].open(t)
	// The bound also holds the setup's waits for the principal index and the definitions:
	// long enough for a loaded machine, short enough for one wait that runs it out.
	wait := 2 * time.Second
	s := start(t, store, dbURL, func(c *api.Config) { c.WaitTimeout = wait })
	shop, _, _, _ := s.refundCast()
	// timings returns the answer's app and store durations (store -1 when absent).
	timings := func(r response, what string) (app, store time.Duration) {
		t.Helper()
		m := appDur.FindStringSubmatch(r.header.Get("Server-Timing"))
		if m == nil {
			t.Fatalf("%s: Server-Timing %q", what, r.header.Get("Server-Timing"))
		}
		ms := func(v string) time.Duration {
			if v == "" {
				return -1
			}
			f, _ := strconv.ParseFloat(v, 64)
			return time.Duration(f * float64(time.Millisecond))
		}
		return ms(m[1]), ms(m[2])
	}
	appOf := func(r response, what string) time.Duration {
		t.Helper()
		app, store := timings(r, what)
		if store >= 0 {
			t.Fatalf("%s appended nothing, and its Server-Timing %q has a store part", what, r.header.Get("Server-Timing"))
		}
		return app
	}
	sub := s.must(s.call("POST", "/v1/tickets", shop, map[string]any{"process": "refund", "business_key": "T1",
		"submitter": map[string]any{"id": "c1"}, "fields": refundFields("12.00", "alipay")}), http.StatusCreated, "submit")
	if app, store := timings(sub, "submit"); app <= 0 || store <= 0 || store > app {
		t.Fatalf("submit took %v, of which %v in the event store (Server-Timing %q)", app, store, sub.header.Get("Server-Timing"))
	}
	id := sub.str("ticket_id")
	appOf(s.must(s.call("POST", "/v1/tickets/00000000-0000-0000-0000-000000000042/urge", shop, map[string]any{}), http.StatusNotFound, "an urge of an unknown ticket"), "refused urge")
	appOf(s.must(s.call("GET", "/v1/tickets/"+id+"?min_position="+sub.str("position"), shop, nil), http.StatusOK, "read"), "read")
	behind := s.must(s.call("GET", "/v1/tickets/"+id+"?min_position=999999999/999999999", shop, nil),
		http.StatusServiceUnavailable, "a position the read model has not reached")
	if d := appOf(behind, "projection-behind"); d < wait {
		t.Fatalf("the answer waited %v for the read model and says it took %v", wait, d)
	}
	appOf(s.must(s.call("GET", "/v1/tickets/00000000-0000-0000-0000-000000000042", shop, nil), http.StatusNotFound, "unknown ticket"), "not found")
	appOf(s.must(s.call("GET", "/v1/no-such-route", shop, nil), http.StatusNotFound, "unknown route"), "no route")
	appOf(s.must(s.call("DELETE", "/v1/tickets", shop, nil), http.StatusMethodNotAllowed, "a method the route lacks"), "no method")
	appOf(s.must(s.call("GET", "/v1/me", "tlk_not-a-token", nil), http.StatusUnauthorized, "a bad token"), "unauthenticated")
}

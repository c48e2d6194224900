package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWire: a worker's wire posts JSON with the token, decodes answers and problems,
// keeps its connection alive, and dials again after the server closed it or an exchange
// failed.
func TestWire(t *testing.T) {
	var (
		mu      sync.Mutex
		remotes []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes = append(remotes, r.RemoteAddr)
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != "POST" || r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json":
			http.Error(w, "bad request line or headers", http.StatusBadRequest)
		case r.URL.Path == "/ok":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ticket_id":"t1","status":"running","position":"`+strconv.Itoa(len(body))+`"}`)
		case r.URL.Path == "/conflict":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"status":409,"title":"Conflict","detail":"decided already","code":"conflict"}`)
		case r.URL.Path == "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, `{}`)
		case r.URL.Path == "/slow":
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	w := newWire(srv.URL, 100*time.Millisecond)
	if w == nil {
		t.Fatal("no wire for a plain http server")
	}
	defer w.close()
	post := func(path string) (ticketResult, int, error) {
		var res ticketResult
		status, err := w.post(ctx, path, "tok", []byte(`{"n":1}`), &res)
		return res, status, err
	}

	res, status, err := post("/ok")
	if err != nil || status != 200 || res.TicketID != "t1" || res.Position != "7" {
		t.Fatalf("post /ok = %+v, %d, %v", res, status, err)
	}
	_, status, err = post("/conflict")
	var ae *apiError
	if !errors.As(err, &ae) || status != http.StatusConflict || ae.Code != "conflict" || !strings.Contains(err.Error(), "decided already") {
		t.Fatalf("post /conflict = %d, %v; want a 409 problem", status, err)
	}
	if _, _, err := post("/close"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := post("/ok"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := post("/slow"); err == nil {
		t.Fatal("an answer slower than the timeout did not fail")
	}
	if _, _, err := post("/ok"); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// /ok, /conflict and /close on the first connection; /ok and /slow on a second, as
	// the server closed the first; the last /ok on a third.
	if len(remotes) != 6 || remotes[0] != remotes[1] || remotes[1] != remotes[2] ||
		remotes[3] == remotes[2] || remotes[4] != remotes[3] || remotes[5] == remotes[4] {
		t.Fatalf("connections used: %v", remotes)
	}

	if newWire("https://example.test", time.Second) != nil {
		t.Fatal("a wire for https; the shared client should carry it")
	}
}

// TestServerTiming reads the "app" metric of Server-Timing values, and -1 where there is
// none.
func TestServerTiming(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"app;dur=12.5":                         12500 * time.Microsecond,
		"app;dur=3.250, paced;dur=1.000":       3250 * time.Microsecond,
		"db;dur=2, app;desc=\"handler\";dur=7": 7 * time.Millisecond,
		"  app ; dur=0.001":                    time.Microsecond,
		"":                                     -1,
		"paced;dur=4":                          -1,
		"app":                                  -1,
		"app;dur=soon":                         -1,
		"app;dur=-3":                           -1,
		"application;dur=9":                    -1,
	} {
		if got := serverTiming(v, "app"); got != want {
			t.Errorf("serverTiming(%q, app) = %v, want %v", v, got, want)
		}
	}
	if got := serverTiming("app;dur=30.5, paced;dur=12.250", "paced"); got != 12250*time.Microsecond {
		t.Errorf("paced: %v", got)
	}
	if got := serverTiming("app;dur=30.5, store;dur=21.125, paced;dur=2", "store"); got != 21125*time.Microsecond {
		t.Errorf("store: %v", got)
	}
}

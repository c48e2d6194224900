package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ticketledger/ticketledger/relay/webhook"
)

// webhookListen runs a local receiver that verifies and prints the webhooks ticketd sends:
// the business system's side of the bridge, for trying a process end to end on one
// machine (start ticketd with --webhook-allow 127.0.0.0/8). It answers 204 to a request
// whose Standard Webhooks signature verifies with the secret, 401 otherwise, and stops
// after --count verified deliveries (0: until interrupted).
func webhookListen(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("webhook listen")
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	secretFile := fs.String("secret-file", "", "file holding the endpoint's whsec_ secret, as webhook register prints it (required)")
	count := fs.Int("count", 0, "stop after this many verified deliveries; 0: until interrupted")
	if _, err := o.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *secretFile == "" {
		return usagef("webhook listen: --secret-file is required")
	}
	raw, err := os.ReadFile(*secretFile)
	if err != nil {
		return fmt.Errorf("webhook listen: %w", err)
	}
	secret, err := webhook.ParseSecret(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("webhook listen: %s: %w", *secretFile, err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("webhook listen: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu       sync.Mutex
		verified int
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		id := r.Header.Get(webhook.HeaderID)
		if err := webhook.Verify([]webhook.Secret{secret}, r.Header, body, time.Now(), 0); err != nil {
			fmt.Fprintf(o.stderr, "REFUSED %s: %v\n", id, err)
			http.Error(w, "signature does not verify", http.StatusUnauthorized)
			return
		}
		var p struct {
			Type string `json:"type"`
			Data struct {
				Outcome     string `json:"outcome"`
				TicketID    string `json:"ticket_id"`
				ProcessKey  string `json:"process_key"`
				BusinessKey string `json:"business_key"`
				DecidedBy   string `json:"decided_by"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		verified++
		n := verified
		if o.json {
			fmt.Fprintf(o.stdout, "%s\n", body)
		} else {
			fmt.Fprintf(o.stdout, "%s  %-9s ticket %s  %s %s  decided by %s  (signature verified)\n",
				id, p.Data.Outcome, p.Data.TicketID, p.Data.ProcessKey, p.Data.BusinessKey, p.Data.DecidedBy)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		if *count > 0 && n >= *count {
			stop()
		}
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(o.stderr, "listening on http://%s/ for webhooks signed with the secret in %s\n", lis.Addr(), *secretFile)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		return fmt.Errorf("webhook listen: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook listen: %w", err)
	}
	return nil
}

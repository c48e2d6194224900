package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck asks a ticketd's /readyz, as a container's health check does where the
// image has no client of its own: `ticketd healthcheck [URL]`. The URL defaults to
// /readyz on the port of TICKETD_ADDR (":8080" unset) on 127.0.0.1. It returns nil when
// the answer is 200, else what went wrong.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	target := ""
	switch len(args) {
	case 0:
		addr := getenv("TICKETD_ADDR")
		if addr == "" {
			addr = defaultAddr
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("healthcheck: TICKETD_ADDR %q: %w", addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		target = "http://" + net.JoinHostPort(host, port) + "/readyz"
	case 1:
		target = args[0]
	default:
		return fmt.Errorf("healthcheck: want at most one URL, got %q", args)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", target, res.Status, body)
	}
	fmt.Fprintf(out, "%s: %s\n", target, res.Status)
	return nil
}

package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/relay/egress"
)

func TestPermits(t *testing.T) {
	var deny egress.Policy
	for _, s := range []string{
		"127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1",
		"169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "255.255.255.255",
		"100.64.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "198.18.0.1", "2001:db8::1",
	} {
		if deny.Permits(netip.MustParseAddr(s)) {
			t.Errorf("the default policy permits %s", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:1.1.1.1"} {
		if !deny.Permits(netip.MustParseAddr(s)) {
			t.Errorf("the default policy refuses %s", s)
		}
	}
	open := egress.Policy{Allow: append(append([]netip.Prefix{}, egress.Loopback...), netip.MustParsePrefix("10.0.0.0/8"))}
	for _, s := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "10.9.9.9"} {
		if !open.Permits(netip.MustParseAddr(s)) {
			t.Errorf("the allow-list does not open %s", s)
		}
	}
	if open.Permits(netip.MustParseAddr("192.168.0.1")) || open.Permits(netip.MustParseAddr("169.254.169.254")) {
		t.Error("the allow-list opens more than it names")
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	var deny egress.Policy
	for _, raw := range []string{"http://127.0.0.1:8080/hook", "http://[::1]/x", "https://localhost/hook", "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/"} {
		if _, err := deny.CheckURL(ctx, raw); !errors.Is(err, egress.ErrForbiddenAddress) {
			t.Errorf("CheckURL(%q) = %v, want ErrForbiddenAddress", raw, err)
		}
	}
	for _, raw := range []string{"ftp://example.com/", "/relative", "http://user:pw@8.8.8.8/", "http://", "::not a url", "http://8.8.8.8:99999/", "http://8.8.8.8:0/"} {
		if _, err := deny.CheckURL(ctx, raw); !errors.Is(err, egress.ErrInvalidURL) {
			t.Errorf("CheckURL(%q) = %v, want ErrInvalidURL", raw, err)
		}
	}
	if u, err := deny.CheckURL(ctx, "https://8.8.8.8/hook?x=1"); err != nil || u.Host != "8.8.8.8" {
		t.Errorf("a public address: %v, %v", u, err)
	}
	open := egress.Policy{Allow: egress.Loopback}
	if _, err := open.CheckURL(ctx, "http://localhost:9/hook"); err != nil {
		t.Errorf("localhost with the loopback allow-list: %v", err)
	}
	if _, err := deny.CheckURL(ctx, "http://no-such-host.invalid/"); err == nil {
		t.Error("an unresolvable host was accepted")
	}
}

// TestDialTimeCheck shows that the client refuses a loopback address at dial time even
// when the URL was never checked, and does not follow redirects.
func TestDialTimeCheck(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer redirect.Close()

	_, err := egress.Policy{}.Client(time.Second, 4).Get(target.URL)
	if !errors.Is(err, egress.ErrForbiddenAddress) {
		t.Fatalf("dialing loopback without the allow-list: %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("the refusal is not a dial error: %T", err)
	}

	c := egress.Policy{Allow: egress.Loopback}.Client(time.Second, 4)
	resp, err := c.Get(redirect.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", resp.StatusCode)
	}
}

package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Errors returned by CheckURL and at dial time, tested with errors.Is.
var (
	// ErrForbiddenAddress: the destination is an internal address the policy does not allow.
	ErrForbiddenAddress = errors.New("egress: destination address is not allowed")
	// ErrInvalidURL: the URL is not an absolute http or https URL with a host.
	ErrInvalidURL = errors.New("egress: invalid URL")
)

// Loopback is the allow-list entry that opens the loopback networks, for local setups and
// tests.
var Loopback = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// forbidden lists the special-purpose networks that are not global unicast destinations
// but that netip's predicates do not all cover.
var forbidden = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// Policy decides which addresses outgoing requests may reach. The zero Policy allows
// global unicast addresses only.
type Policy struct {
	// Allow opens networks that would otherwise be refused, e.g. Loopback for local
	// setups and tests, or the private network of an on-premises business system.
	Allow []netip.Prefix
	// Resolver resolves host names in CheckURL; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Permits reports whether the policy lets a request reach ip. IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry.
func (p Policy) Permits(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, a := range p.Allow {
		if a.Contains(ip) {
			return true
		}
	}
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, f := range forbidden {
		if f.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL parses raw and checks that it is an absolute http or https URL without
// credentials whose host resolves only to permitted addresses. Errors wrap
// ErrInvalidURL, ErrForbiddenAddress, or the resolver's error (host not found...).
func (p Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: %q: the scheme must be http or https", ErrInvalidURL, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %q: credentials in the URL are not accepted", ErrInvalidURL, u.Redacted())
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("%w: %q: no host", ErrInvalidURL, raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: %q: the port must be from 1 to 65535", ErrInvalidURL, u.Redacted())
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !p.Permits(ip) {
			return nil, fmt.Errorf("%w: %s", ErrForbiddenAddress, ip)
		}
		return u, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", strings.TrimSuffix(host, "."))
	if err != nil {
		return nil, fmt.Errorf("egress: resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !p.Permits(ip) {
			return nil, fmt.Errorf("%w: %s resolves to %s", ErrForbiddenAddress, host, ip)
		}
	}
	return u, nil
}

// Control is a net.Dialer Control function that refuses connections to addresses the
// policy does not permit, with an error wrapping ErrForbiddenAddress.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read dialled address %q", ErrForbiddenAddress, address)
	}
	if !p.Permits(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// Transport returns an HTTP transport that dials through the policy and ignores proxy
// settings. Its connection pool keeps up to maxIdlePerHost idle connections per host
// (at least 2).
func (p Policy) Transport(dialTimeout time.Duration, maxIdlePerHost int) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: p.Control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(100, maxIdlePerHost),
		MaxIdleConnsPerHost:   max(2, maxIdlePerHost),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns an HTTP client over Transport that never follows redirects: a 3xx
// response is returned to the caller as it is.
func (p Policy) Client(dialTimeout time.Duration, maxIdlePerHost int) *http.Client {
	return &http.Client{
		Transport: p.Transport(dialTimeout, maxIdlePerHost),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

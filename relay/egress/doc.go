// Package egress keeps outgoing webhook requests away from the inside of the network:
// loopback, private (RFC 1918, unique local), link-local (including the cloud metadata
// address 169.254.169.254), shared, reserved, multicast and unspecified addresses are
// refused unless a Policy's allow-list names them.
//
// The check runs twice. CheckURL runs at registration: it parses the URL and resolves its
// host, refusing it when any address is forbidden. Policy.Control runs at dial time on
// the address actually dialled, after resolution, so a host name that resolves somewhere
// else later (DNS rebinding) is still refused. Clients built by Policy.Client never
// follow redirects and ignore proxy settings from the environment.
//
// A Policy is a value; its methods are safe for concurrent use.
package egress

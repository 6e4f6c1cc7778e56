package config

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
)

// NetworkPolicy renders a systemd drop-in that lets the agent reach only
// loopback, the metadata service (when it is used) and the configured NATS
// servers (IPAddressDeny=any). lookup resolves host names (net.LookupHost);
// every address a name has today is allowed, so a server that moves needs
// the drop-in written again.
func NetworkPolicy(c Agent, lookup func(string) ([]string, error)) (string, error) {
	allow := map[string]bool{"localhost": true}
	if c.NATS.URL != "" && c.IMDS.Enabled {
		u, err := url.Parse(c.IMDS.Endpoint)
		if err != nil {
			return "", fmt.Errorf("imds.endpoint: %w", err)
		}
		if err := addHost(allow, u.Hostname(), lookup); err != nil {
			return "", fmt.Errorf("imds.endpoint: %w", err)
		}
	}
	for _, raw := range strings.Split(c.NATS.URL, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return "", fmt.Errorf("nats.url: cannot read a host from %q", raw)
		}
		if err := addHost(allow, u.Hostname(), lookup); err != nil {
			return "", fmt.Errorf("nats.url: %w", err)
		}
	}
	list := make([]string, 0, len(allow))
	for a := range allow {
		list = append(list, a)
	}
	sort.Strings(list)
	return "# Written by `vigil config network-policy`: the agent reaches only these addresses.\n" +
		"# Write it again (and systemctl daemon-reload) when the NATS servers change.\n" +
		"[Service]\nIPAddressDeny=any\nIPAddressAllow=" + strings.Join(list, " ") + "\n", nil
}

func addHost(allow map[string]bool, host string, lookup func(string) ([]string, error)) error {
	if ip := net.ParseIP(host); ip != nil {
		allow[ip.String()] = true
		return nil
	}
	addrs, err := lookup(host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("resolve %s: %v", host, err)
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil {
			allow[ip.String()] = true
		}
	}
	return nil
}

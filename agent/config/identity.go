package config

import (
	"strings"
)

// DeriveNodeID makes a node id from the host name and a stable machine
// identity (the board serial, else /etc/machine-id): "<host>-<last 8 hex of
// the identity>", e.g. "raspberrypi-8f3c21a0". Every card flashed from one
// image is called "raspberrypi"; the serial keeps them apart while the
// name stays readable. Characters outside the id alphabet become '-'.
func DeriveNodeID(hostname, identity string) string {
	host := sanitize(strings.ToLower(strings.SplitN(hostname, ".", 2)[0]))
	if host == "" {
		host = "node"
	}
	id := strings.ToLower(identity)
	var hex strings.Builder
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') {
			hex.WriteByte(c)
		}
	}
	suffix := hex.String()
	if len(suffix) > 8 {
		suffix = suffix[len(suffix)-8:]
	}
	if suffix == "" {
		return host[:min(len(host), 64)]
	}
	if room := 64 - len(suffix) - 1; len(host) > room {
		host = host[:room]
	}
	return host + "-" + suffix
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-")
}

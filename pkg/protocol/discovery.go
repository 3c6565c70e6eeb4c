package protocol

import (
	"fmt"
	"strings"
)

// ValidateDiscoveryPrefix checks a Home Assistant discovery prefix
// (default "homeassistant"): one or more non-empty topic levels of at most
// 64 bytes in all, without wildcards, not a $-topic and not under Tether's
// own root.
func ValidateDiscoveryPrefix(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("discovery prefix is empty")
	case len(p) > 64:
		return fmt.Errorf("discovery prefix is %d bytes, at most 64", len(p))
	case strings.ContainsAny(p, "+#\x00"):
		return fmt.Errorf("discovery prefix %q has a wildcard or NUL", p)
	case strings.HasPrefix(p, "$"):
		return fmt.Errorf("discovery prefix %q is a $-topic", p)
	case p == Root || strings.HasPrefix(p, Root+"/"):
		return fmt.Errorf("discovery prefix %q lies under %s/", p, Root)
	}
	for _, level := range strings.Split(p, "/") {
		if level == "" {
			return fmt.Errorf("discovery prefix %q has an empty level", p)
		}
	}
	return nil
}

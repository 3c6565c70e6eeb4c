package session

import (
	"errors"
	"strings"
)

// ValidateFilter checks an MQTT topic filter [MQTT-4.7.1]: not empty, '#'
// only as the whole last level, '+' only as a whole level.
func ValidateFilter(filter string) error {
	if filter == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("topic filter " + filter + ": '#' must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return errors.New("topic filter " + filter + ": wildcards must fill a whole level")
		}
	}
	return nil
}

// Match reports whether topic (a concrete name) matches filter. Topics
// starting with '$' are not matched by a leading wildcard [MQTT-4.7.2-1].
func Match(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		switch fl {
		case "#":
			return true // [MQTT-4.7.1-2] also matches the parent level
		case "+":
		default:
			if fl != tl {
				return false
			}
		}
		if !fmore || !tmore {
			if !fmore && !tmore {
				return true
			}
			// "a/#" matches "a": the filter's remaining level is '#'.
			return !tmore && frest == "#"
		}
		filter, topic = frest, trest
	}
}

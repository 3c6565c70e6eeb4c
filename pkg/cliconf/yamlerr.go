package cliconf

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// explain turns the YAML decoder's errors about a config file into ones an
// operator can act on, all at once: the setting's dotted path, what was
// wrong, and for a misspelt key the closest known one. Errors it does not
// recognise pass through unchanged.
func explain(path string, src []byte, dst any, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(src, &root) // it parsed once already: this cannot fail
	lines := make([]string, 0, len(te.Errors))
	for _, msg := range te.Errors {
		lines = append(lines, explainOne(msg, &root, reflect.TypeOf(dst)))
	}
	return fmt.Errorf("config file %s:\n  %s", path, strings.Join(lines, "\n  "))
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (.+)$`)
	badValue     = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+) `(.*)` into (\\S+)$")
)

func explainOne(msg string, root *yaml.Node, typ reflect.Type) string {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		key := keyPath(root, line)
		if key == "" {
			key = m[2]
		}
		s := fmt.Sprintf("line %d: unknown setting %q", line, key)
		if known := keysOf(typ, m[3]); len(known) > 0 {
			if best := closest(m[2], known); best != "" {
				s += fmt.Sprintf(" (did you mean %q?)", best)
			} else {
				s += " (known here: " + strings.Join(known, ", ") + ")"
			}
		}
		return s
	}
	if m := badValue.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		key := keyPath(root, line)
		if key == "" {
			key = "value"
		}
		if m[4] == "time.Duration" {
			return fmt.Sprintf("line %d: %s: %s is not a duration: give a unit, e.g. %ss or %sms", line, key, m[3], m[3], m[3])
		}
		return fmt.Sprintf("line %d: %s: %s is not a valid %s", line, key, m[3], friendlyType(m[4]))
	}
	return msg
}

func friendlyType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "map["):
		return "mapping"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "whole number"
	case strings.HasPrefix(t, "float"):
		return "number"
	case t == "bool":
		return "boolean (true or false)"
	case t == "string":
		return "string"
	}
	return "setting"
}

// keyPath returns the dotted path of the mapping key on line (1-based) —
// the innermost one, so "tasks.kill_grace" rather than "tasks".
func keyPath(n *yaml.Node, line int) string {
	var walk func(n *yaml.Node, prefix string) string
	walk = func(n *yaml.Node, prefix string) string {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				if p := walk(c, prefix); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				if inner := walk(v, p); inner != "" {
					return inner
				}
				if k.Line == line || v.Line == line {
					return p
				}
			}
		}
		return ""
	}
	return walk(n, "")
}

var durationType = reflect.TypeOf(time.Duration(0))

// keysOf returns the YAML keys of the struct type named name (as the
// decoder prints it, e.g. "config.Tasks") reachable from t.
func keysOf(t reflect.Type, name string) []string {
	seen := map[reflect.Type]bool{}
	var find func(t reflect.Type) []string
	find = func(t reflect.Type) []string {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || seen[t] {
			return nil
		}
		seen[t] = true
		if t.String() == name {
			var keys []string
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if !f.IsExported() || tag == "-" {
					continue
				}
				if tag == "" {
					tag = strings.ToLower(f.Name)
				}
				keys = append(keys, tag)
			}
			return keys
		}
		for i := 0; i < t.NumField(); i++ {
			if k := find(t.Field(i).Type); k != nil {
				return k
			}
		}
		return nil
	}
	return find(t)
}

// closest returns the known key nearest to key by edit distance, if it is
// near enough to be a plausible misspelling.
func closest(key string, known []string) string {
	best, bestD := "", len(key)/2+2
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

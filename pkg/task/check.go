package task

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/tether-edge/tether/pkg/protocol"
)

// FieldError is one problem a Validate method found: the field, named by
// its JSON path ("spec.builtin.units", "spec.exec.env[\"PATH\"]"), and what
// is wrong with it. It matches protocol.ErrInvalid under errors.Is.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Is makes a FieldError match protocol.ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == protocol.ErrInvalid }

// maxProblems bounds how many problems one Validate reports, so an error
// built from a hostile message stays small enough to send back in a Reply
// (MaxError).
const maxProblems = 16

// problems collects what a Validate finds, in field order.
type problems struct {
	errs []error
	more int // problems past maxProblems, counted only
}

func (p *problems) add(field, format string, args ...any) {
	if len(p.errs) == maxProblems {
		p.more++
		return
	}
	p.errs = append(p.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// id checks an id (a task, a node, a request, a label key).
func (p *problems) id(field, what, s string) {
	if err := checkID(what, s); err != nil {
		p.add(field, "%v", err)
	}
}

// checkID is protocol.ValidateID, whose message names what it checked,
// without quoting all of a long s.
func checkID(what, s string) error {
	if len(s) > protocol.MaxIDLen {
		return fmt.Errorf("%s %s is longer than %d characters", what, quote(s), protocol.MaxIDLen)
	}
	return protocol.ValidateID(what, s)
}

// optionalID checks an id that may be left empty.
func (p *problems) optionalID(field, what, s string) {
	if s != "" {
		p.id(field, what, s)
	}
}

func (p *problems) err() error {
	if p.more > 0 {
		errs := append(p.errs[:len(p.errs):len(p.errs)], &FieldError{Field: "…", Problem: fmt.Sprintf("%d more problems not shown", p.more)})
		return errors.Join(errs...)
	}
	return errors.Join(p.errs...)
}

// quote is %q of s, shortened so an error never repeats a long value.
func quote(s string) string {
	const max = 48
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}

// text checks a free-text string: valid UTF-8 (JSON cannot carry anything
// else unchanged, and a signed body must mean what was signed) and at most
// max bytes.
func (p *problems) text(field, s string, max int) {
	if len(s) > max {
		p.add(field, "is %d bytes long, limit %d", len(s), max)
	} else if !utf8.ValidString(s) {
		p.add(field, "is not valid UTF-8")
	}
}

// arg checks a string that goes into an execve(2) call: text without NUL
// bytes, which the kernel cannot pass.
func (p *problems) arg(field, s string, max int) {
	p.text(field, s, max)
	if strings.IndexByte(s, 0) >= 0 {
		p.add(field, "contains a NUL byte")
	}
}

func (p *problems) progress(field string, done, total int64) {
	switch {
	case done < 0 || total < 0:
		p.add(field, "progress %d of %d: neither may be negative", done, total)
	case total > 0 && done > total:
		p.add(field, "progress %d is more than total %d", done, total)
	case done > maxCount || total > maxCount:
		p.add(field, "progress %d of %d: neither may be above %d", done, total, int64(maxCount))
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func checkVersion(v int) error {
	if v != Version {
		return fmt.Errorf("%w: v=%d, want %d", protocol.ErrVersion, v, Version)
	}
	return nil
}

package powerloss

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind says what a console line means (see the package doc).
type Kind int

const (
	KindInitBooted Kind = iota + 1
	KindInitMounting
	KindInitMounted
	KindInitStart
	KindInitExit
	KindInitError
	KindOpened
	KindHave
	KindCommit
	KindCompactBegin
	KindCompactEnd
	KindPuback  // PUBACK <seq>: the workload releases seq (as the broker's PUBACK would); it may vanish from now on
	KindDeleted // DELETED <seq>: the deletion of seq is durable; it must never be listed again
	KindStore   // STORE disk=<bytes> live=<bytes> open_ms=<ms>: the store's size and open time (Line.Disk, Live, OpenMS)
	KindBroken  // the workload found one of its own invariants broken
	KindError   // the workload could not go on (open or write failed)
	KindTask    // TASK <id> <event> …: the task workload's task (Line.Event)
	KindEvent   // EVENT <kind> <n>: the n-th store event of its kind this boot begins (Line.Store, Nth)
	KindHostAck // TETHER-PL-HOST ACK <seq>: the harness acknowledged seq over the console (hostack.go); never the guest's
	KindBlob    // BLOB <event> …: the task workload's transfer of task data (Line.Blob; blob.go)
	KindOther   // a TETHER-PL word this harness does not know
)

// TaskEvent is what a TASK line says of the task (see the package doc).
type TaskEvent int

const (
	TaskSubmit   TaskEvent = iota + 1 // the store did not know it: the assignment was handed over
	TaskStored                        // the store knew it: Text the state, Done/Total where it resumes, Output if succeeded
	TaskAccepted                      // the runner's accepted event is durable
	TaskResumed                       // RESUMED-FROM: the running event is durable; Done is where the attempt (re)started
	TaskProgress                      // a checkpoint at Done is durable
	TaskDone                          // the succeeded event is durable; Output
	TaskFailed                        // the task ended otherwise; Text is the state and why
)

// Line is one parsed protocol line.
type Line struct {
	Kind               Kind
	Recovered          bool   // OPENED
	Next               uint64 // OPENED
	From, To           uint64 // HAVE (inclusive); COMMIT, PUBACK and DELETED have From == To
	Disk, Live, OpenMS int64  // STORE
	Text               string // INIT MOUNTED, EXIT and ERROR, BROKEN, ERROR: the rest of the line; KindOther: the word

	Task        string    // TASK: the task's id
	Event       TaskEvent // TASK
	Done, Total int64     // TASK STORED, RESUMED-FROM, PROGRESS: <done>/<total>
	Output      string    // TASK DONE, STORED succeeded: the task's output

	Store StoreEvent // EVENT
	Nth   int        // EVENT: its count within the boot, from 1

	Blob BlobLine // BLOB
}

const (
	initPrefix = "TETHER-PL-INIT "
	wlPrefix   = "TETHER-PL "
)

// ParseLine parses one complete console line. ok is false for lines that
// are not part of the protocol (kernel messages, the workload's logs); err
// is set for a protocol line that is malformed.
func ParseLine(s string) (l Line, ok bool, err error) {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.Index(s, initPrefix); i >= 0 {
		return parseInit(s[i+len(initPrefix):])
	}
	if i := strings.Index(s, hostPrefix); i >= 0 {
		return parseHost(s[i+len(hostPrefix):])
	}
	i := strings.Index(s, wlPrefix)
	if i < 0 {
		return Line{}, false, nil
	}
	f := strings.Fields(s[i+len(wlPrefix):])
	if len(f) == 0 {
		return Line{}, true, fmt.Errorf("empty protocol line %q", s)
	}
	switch f[0] {
	case "OPENED":
		l, err = parseOpened(f[1:])
	case "HAVE":
		l.Kind = KindHave
		if len(f) != 2 {
			return l, true, fmt.Errorf("HAVE wants one range: %q", s)
		}
		l.From, l.To, err = parseRange(f[1])
	case "COMMIT":
		l.Kind = KindCommit
		if len(f) != 2 {
			return l, true, fmt.Errorf("COMMIT wants one seq: %q", s)
		}
		l.From, err = strconv.ParseUint(f[1], 10, 64)
		l.To = l.From
	case "PUBACK", "DELETED":
		l.Kind = KindPuback
		if f[0] == "DELETED" {
			l.Kind = KindDeleted
		}
		if len(f) != 2 {
			return l, true, fmt.Errorf("%s wants one seq: %q", f[0], s)
		}
		l.From, err = strconv.ParseUint(f[1], 10, 64)
		l.To = l.From
	case "STORE":
		l, err = parseStore(f[1:])
	case "COMPACT", "COMPACTION", "GC", "FLATTEN":
		if len(f) < 2 {
			return l, true, fmt.Errorf("%s wants BEGIN or END: %q", f[0], s)
		}
		switch f[1] {
		case "BEGIN", "START":
			l.Kind = KindCompactBegin
		case "END", "DONE":
			l.Kind = KindCompactEnd
		default:
			return l, true, fmt.Errorf("%s wants BEGIN or END: %q", f[0], s)
		}
	case "BROKEN":
		l = Line{Kind: KindBroken, Text: strings.Join(f[1:], " ")}
	case "ERROR":
		l = Line{Kind: KindError, Text: strings.Join(f[1:], " ")}
	case "TASK":
		l, err = parseTask(f[1:])
	case "EVENT":
		l, err = parseEvent(f[1:])
	case "BLOB":
		l, err = parseBlob(f[1:])
	default:
		l = Line{Kind: KindOther, Text: f[0]}
	}
	if err != nil {
		return l, true, fmt.Errorf("%q: %w", s, err)
	}
	return l, true, nil
}

// parseTask parses the words after TASK. An event word this harness does
// not know makes a KindOther line, as an unknown TETHER-PL word does.
func parseTask(f []string) (Line, error) {
	if len(f) < 2 {
		return Line{Kind: KindTask}, fmt.Errorf("TASK wants an id and an event")
	}
	l := Line{Kind: KindTask, Task: f[0]}
	args := f[2:]
	var err error
	switch f[1] {
	case "SUBMIT":
		l.Event = TaskSubmit
	case "ACCEPTED":
		l.Event = TaskAccepted
	case "STORED":
		l.Event = TaskStored
		if len(args) != 2 && len(args) != 3 {
			return l, fmt.Errorf("TASK STORED wants <state> <done>/<total> [<output>]")
		}
		l.Text = args[0]
		l.Done, l.Total, err = parseProgress(args[1])
		if len(args) == 3 {
			l.Output = args[2]
		}
	case "RESUMED-FROM", "PROGRESS":
		l.Event = TaskResumed
		if f[1] == "PROGRESS" {
			l.Event = TaskProgress
		}
		if len(args) != 1 {
			return l, fmt.Errorf("TASK %s wants <done>/<total>", f[1])
		}
		l.Done, l.Total, err = parseProgress(args[0])
	case "DONE":
		l.Event = TaskDone
		if len(args) != 1 {
			return l, fmt.Errorf("TASK DONE wants the output")
		}
		l.Output = args[0]
	case "FAILED":
		l.Event = TaskFailed
		l.Text = strings.Join(args, " ")
	default:
		return Line{Kind: KindOther, Text: "TASK " + f[1]}, nil
	}
	return l, err
}

// parseProgress parses <done>/<total>, done at most total.
func parseProgress(s string) (done, total int64, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("progress %q: want <done>/<total>", s)
	}
	if done, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, err
	}
	if total, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, err
	}
	if done < 0 || total < 1 || done > total {
		return 0, 0, fmt.Errorf("progress %s: want 0 <= done <= total, total > 0", s)
	}
	return done, total, nil
}

func parseInit(rest string) (Line, bool, error) {
	word, arg, _ := strings.Cut(strings.TrimSpace(rest), " ")
	switch word {
	case "BOOTED":
		return Line{Kind: KindInitBooted}, true, nil
	case "MOUNTING":
		return Line{Kind: KindInitMounting}, true, nil
	case "MOUNTED":
		return Line{Kind: KindInitMounted, Text: arg}, true, nil
	case "START":
		return Line{Kind: KindInitStart}, true, nil
	case "EXIT":
		return Line{Kind: KindInitExit, Text: arg}, true, nil
	case "ERROR":
		return Line{Kind: KindInitError, Text: arg}, true, nil
	}
	return Line{}, true, fmt.Errorf("unknown init line %q", rest)
}

func parseOpened(kv []string) (Line, error) {
	l := Line{Kind: KindOpened}
	var haveRec, haveNext bool
	for _, f := range kv {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "recovered":
			switch v {
			case "0":
			case "1":
				l.Recovered = true
			default:
				return l, fmt.Errorf("recovered=%q, want 0 or 1", v)
			}
			haveRec = true
		case "next":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return l, fmt.Errorf("next: %w", err)
			}
			l.Next, haveNext = n, true
		}
	}
	if !haveRec || !haveNext {
		return l, fmt.Errorf("OPENED wants recovered= and next=")
	}
	return l, nil
}

func parseRange(s string) (from, to uint64, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if from, err = strconv.ParseUint(a, 10, 64); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return from, from, nil
	}
	if to, err = strconv.ParseUint(b, 10, 64); err != nil {
		return 0, 0, err
	}
	if to < from {
		return 0, 0, fmt.Errorf("range %s runs backwards", s)
	}
	return from, to, nil
}

// parseStore parses the words after STORE: disk=, live= and open_ms=,
// each a count of at most 2⁵³.
func parseStore(kv []string) (Line, error) {
	l := Line{Kind: KindStore}
	seen := map[string]bool{}
	for _, f := range kv {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 1<<53 {
			return l, fmt.Errorf("STORE %s: want a count", f)
		}
		switch k {
		case "disk":
			l.Disk = n
		case "live":
			l.Live = n
		case "open_ms":
			l.OpenMS = n
		default:
			continue
		}
		seen[k] = true
	}
	if len(seen) != 3 {
		return l, fmt.Errorf("STORE wants disk=, live= and open_ms=")
	}
	return l, nil
}

// parseEvent parses the words after EVENT: a kind and its count within the
// boot; words after those are the workload's (a file name) and ignored. A
// kind this harness does not know makes a KindOther line.
func parseEvent(f []string) (Line, error) {
	if len(f) < 2 {
		return Line{Kind: KindEvent}, fmt.Errorf("EVENT wants a kind and a count")
	}
	e, ok := parseStoreEvent(f[0])
	if !ok {
		return Line{Kind: KindOther, Text: "EVENT " + f[0]}, nil
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 {
		return Line{Kind: KindEvent, Store: e}, fmt.Errorf("EVENT %s %s: want a count from 1", f[0], f[1])
	}
	return Line{Kind: KindEvent, Store: e, Nth: n}, nil
}

// parseHost parses the words after TETHER-PL-HOST: ACK <seq>.
func parseHost(rest string) (Line, bool, error) {
	f := strings.Fields(rest)
	if len(f) != 2 || f[0] != "ACK" {
		return Line{Kind: KindHostAck}, true, fmt.Errorf("host line %q: want ACK <seq>", rest)
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return Line{Kind: KindHostAck}, true, fmt.Errorf("host line %q: %w", rest, err)
	}
	return Line{Kind: KindHostAck, From: seq, To: seq}, true, nil
}

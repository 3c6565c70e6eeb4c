package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// taskClient is a connected session for the task commands.
type taskClient struct {
	sess   *session.Session
	topics protocol.Topics
	user   string
	cf     *clientFlags
	stop   func()
}

// dialTasks parses the connection flags' session and runs it until stop.
// The task commands act as an operator by default: monitors may not submit.
func dialTasks(ctx context.Context, env Env, cf *clientFlags) (*taskClient, error) {
	sess, topics, err := cf.session(env)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sess.Run(runCtx) }()
	c := &taskClient{sess: sess, topics: topics, user: cf.username, cf: cf, stop: func() { cancel(); <-done }}
	if err := awaitConnection(ctx, sess, cf); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// request publishes a request made with its request id and reply topic to
// topic, and waits for the scheduler's reply until the timeout. A request
// marked again is published once more, the same request with the same id,
// after each third of the timeout without a reply: a broker may
// acknowledge a request and never deliver it, or a reply (docs/scaling.md),
// and a request whose second copy changes nothing is safe to send twice.
// asked is how many times it was published.
func (c *taskClient) request(ctx context.Context, topic string, again bool, build func(id, replyTo string) any) (task.Reply, int, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	replyTo := c.topics.Reply(c.user, id)
	replies := make(chan task.Reply, 1)
	if err := c.sess.Subscribe(ctx, replyTo, 1, func(m session.Message) {
		r, err := task.DecodeReply(m.Payload)
		if err != nil || r.RequestID != id {
			return
		}
		select {
		case replies <- r:
		default:
		}
	}); err != nil {
		return task.Reply{}, 0, err
	}
	payload, err := json.Marshal(build(id, replyTo))
	if err != nil {
		return task.Reply{}, 0, err
	}
	asked := 0
	publish := func() error {
		asked++
		if err := c.sess.Publish(ctx, session.Message{Topic: topic, QoS: 1, Payload: payload}); err != nil {
			return fmt.Errorf("publishing the request: %w", err)
		}
		return nil
	}
	if err := publish(); err != nil {
		return task.Reply{}, asked, err
	}
	end := time.Now().Add(c.cf.timeout)
	t := time.NewTimer(c.cf.timeout)
	defer t.Stop()
	var askAgain <-chan time.Time
	if again {
		tk := time.NewTicker(c.cf.timeout / 3)
		defer tk.Stop()
		askAgain = tk.C
	}
	for {
		select {
		case r := <-replies:
			return r, asked, nil
		case <-askAgain:
			if len(c.cf.brokers) > 1 {
				// The broker may have taken the request and be
				// delivering nothing: ask the next one.
				c.moveOn(ctx, end)
			}
			if err := publish(); err != nil {
				return task.Reply{}, asked, err
			}
			if asked == 3 {
				askAgain = nil
			}
		case <-t.C:
			times := "once"
			if asked > 1 {
				times = fmt.Sprintf("%d times", asked)
			}
			return task.Reply{}, asked, fmt.Errorf("no scheduler answered within %v (asked %s): is `tether-broker serve` running for region %s, and is %q an operator (operator_users)?",
				c.cf.timeout, times, c.topics.Region(), c.user)
		case <-ctx.Done():
			return task.Reply{}, asked, ctx.Err()
		}
	}
}

// moveOn drops the connection for the next broker and waits for it, until
// ctx ends or end. A reply on its way over the old connection is lost with
// it; the request asked again on the new one gets its own.
func (c *taskClient) moveOn(ctx context.Context, end time.Time) {
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	// nil: disconnected already, Run is on its way to the next one.
	if gone := c.sess.Redial(errors.New("no reply to the request: asking again through the next broker")); gone != nil {
		select {
		case <-gone:
		case <-ctx.Done():
			return
		}
	}
	_ = c.sess.WaitConnected(ctx) // the publish after reports a connection still missing
}

// statuses subscribes to filter and returns the retained task statuses it
// delivers: those that arrive until none came for quiet, bounded by the
// timeout.
func (c *taskClient) statuses(ctx context.Context, filter string, quiet time.Duration) (map[string]task.Status, error) {
	ch := make(chan task.Status, 1024)
	if err := c.sess.Subscribe(ctx, filter, 1, func(m session.Message) {
		if len(m.Payload) == 0 {
			return // a cleared status
		}
		st, err := task.DecodeStatus(m.Payload)
		if err != nil {
			return
		}
		select {
		case ch <- st:
		default:
		}
	}); err != nil {
		return nil, err
	}
	out := map[string]task.Status{}
	deadline := time.NewTimer(c.cf.timeout)
	defer deadline.Stop()
	for {
		q := time.NewTimer(quiet)
		select {
		case st := <-ch:
			q.Stop()
			if prev, ok := out[st.Task]; !ok || !st.OlderThan(&prev) {
				out[st.Task] = st
			}
			continue
		case <-q.C:
		case <-deadline.C:
			q.Stop()
		case <-ctx.Done():
			q.Stop()
			return nil, ctx.Err()
		}
		return out, nil
	}
}

func taskFlagSet(env Env, name, usage string) (*flag.FlagSet, *clientFlags) {
	fs := flag.NewFlagSet("tether-broker "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, usage+"\n\nFlags:\n")
		fs.PrintDefaults()
	}
	cf := &clientFlags{}
	cf.register(fs, env)
	if env.Getenv("TETHER_USERNAME") == "" {
		cf.username = "operator"
		f := fs.Lookup("username")
		f.DefValue = cf.username
		f.Usage = "MQTT username; an operator (operator_users) may submit and cancel (TETHER_USERNAME)"
	}
	return fs, cf
}

// parseInterspersed parses flags wherever they are among args, as people
// write them (`task ID --json`), and returns the other arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := cliconf.ParseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runSubmit(ctx context.Context, env Env, args []string) error {
	fs, cf := taskFlagSet(env, "submit", "Usage: tether-broker submit -f FILE [--input NAME=PATH ...] [flags]\n\n"+
		"Submits a task spec (YAML, or JSON for a .json file; - reads stdin) to the scheduler and prints its id.\n"+
		"Each --input uploads a file to the scheduler first and adds it to the spec's inputs.\n"+
		"Submitting a spec with the same id again is idempotent. See docs/tasks.md.")
	file := fs.String("f", "", "task spec file (YAML or JSON); - for stdin")
	var inputs inputFlag
	fs.Var(&inputs, "input", "NAME=PATH: upload the file at PATH as the task's input NAME (repeatable)")
	transferTimeout := fs.Duration("transfer-timeout", DefaultTransferTimeout, "how long each upload may take")
	wait := fs.Bool("wait", false, "follow the task to its end with a live progress display; exit non-zero unless it succeeds")
	asJSON := fs.Bool("json", false, "print the reply (and with --wait the final status) as JSON")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *file == "" || len(rest) > 0 {
		cliconf.Hint(fs)
		return errors.New("submit: give one spec with -f FILE")
	}
	spec, err := readSpec(env, *file)
	if err != nil {
		return err
	}
	// The inputs are staged and hashed before anything is sent, so the
	// spec they complete is validated before connecting.
	up, err := stageInputs(&spec, inputs)
	if err != nil {
		return err
	}
	defer up.close()
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	c, err := dialTasks(ctx, env, cf)
	if err != nil {
		return err
	}
	defer c.stop()
	if err := c.upload(ctx, env, up, *transferTimeout); err != nil {
		return err
	}
	// A spec without an id gets one here, before it is sent, so that
	// asking again cannot make a second task.
	generated := spec.ID == ""
	if generated {
		spec.ID = ulid.Make().String()
	}
	if *wait {
		// Subscribe before submitting so no update is missed.
		return c.submitAndFollow(ctx, env, spec, generated, *asJSON)
	}
	r, err := c.submit(ctx, spec, generated)
	if err != nil {
		return err
	}
	return printReply(env, r, *asJSON)
}

// submit submits spec, which has an id, asking again while no reply
// comes. When the id was generated for this submission, the "already
// submitted" a second copy may hear of is this submission's own first
// copy, and is reported as a submission.
func (c *taskClient) submit(ctx context.Context, spec task.Spec, generated bool) (task.Reply, error) {
	r, asked, err := c.request(ctx, c.topics.TaskSubmit(), true, func(id, replyTo string) any {
		return task.SubmitRequest{V: task.Version, RequestID: id, ReplyTo: replyTo, Spec: spec}
	})
	if err != nil {
		return r, err
	}
	if generated && asked > 1 && r.Existing {
		r.Existing = false
	}
	if !r.OK {
		return r, fmt.Errorf("the scheduler refused the task: %s", r.Error)
	}
	return r, nil
}

func (c *taskClient) submitAndFollow(ctx context.Context, env Env, spec task.Spec, generated, asJSON bool) error {
	return c.follow(ctx, env, spec.ID, asJSON, func() error {
		r, err := c.submit(ctx, spec, generated)
		if err != nil {
			return err
		}
		if !asJSON {
			return printReply(env, r, false)
		}
		return nil
	})
}

func printReply(env Env, r task.Reply, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	if r.Existing {
		_, err := fmt.Fprintf(env.Stdout, "%s (already submitted: %s)\n", r.Task, r.State)
		return err
	}
	_, err := fmt.Fprintln(env.Stdout, r.Task)
	return err
}

// follow prints a task's progress until it ends; then (after calling
// start, if given, once subscribed) it exits non-zero unless the task
// succeeded.
func (c *taskClient) follow(ctx context.Context, env Env, id string, asJSON bool, start func() error) error {
	updates := make(chan task.Status, 64)
	if err := c.sess.Subscribe(ctx, c.topics.TaskStatus(id), 1, func(m session.Message) {
		st, err := task.DecodeStatus(m.Payload)
		if err != nil || st.Task != id {
			return
		}
		select {
		case updates <- st:
		default: // a slow terminal: the next update carries the news
		}
	}); err != nil {
		return err
	}
	if start != nil {
		if err := start(); err != nil {
			return err
		}
	}
	tty := isTerminal(env.Stderr)
	var last string
	var latest *task.Status // a deposed scheduler's late status is dropped
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(env.Stderr)
			}
			return ctx.Err()
		case st := <-updates:
			if latest != nil && st.OlderThan(latest) {
				continue
			}
			latest = &st
			line := progressLine(st)
			if line != last && !asJSON {
				if tty {
					fmt.Fprintf(env.Stderr, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(env.Stderr, line)
				}
				last = line
			}
			if !task.Terminal(st.State) {
				continue
			}
			if tty && !asJSON {
				fmt.Fprintln(env.Stderr)
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
			} else if st.Result != nil && st.Result.Output != "" {
				fmt.Fprintf(env.Stdout, "output: %s\n", st.Result.Output)
			}
			if st.State != task.StateSucceeded {
				return fmt.Errorf("task %s %s: %s", id, st.State, dash(st.Error))
			}
			return nil
		}
	}
}

func progressLine(st task.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s attempt %d", st.Task, st.State, st.Attempt)
	if st.Node != "" {
		fmt.Fprintf(&b, " on %s", st.Node)
	}
	if st.Total > 0 {
		pct := 100 * float64(st.Progress) / float64(st.Total)
		const width = 20
		filled := int(pct / 100 * width)
		fmt.Fprintf(&b, " [%s%s] %5.1f%% (%d/%d)", strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, st.Progress, st.Total)
	}
	if st.Error != "" {
		fmt.Fprintf(&b, " — %s", st.Error)
	}
	return b.String()
}

// isTerminal reports whether w is a terminal, which gets the live progress
// bar: a file, pipe or /dev/null (a character device, but no terminal) gets
// one line per change.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && fdIsTerminal(f.Fd())
}

// readSpec reads a spec file: JSON if it is named *.json, else YAML.
func readSpec(env Env, file string) (task.Spec, error) {
	var (
		b   []byte
		err error
	)
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(env.Stdin, task.MaxMessage+1))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return task.Spec{}, fmt.Errorf("reading the spec: %w", err)
	}
	// Parsed, not validated: the caller adds the --input files and
	// validates the whole.
	var spec task.Spec
	if strings.EqualFold(filepath.Ext(file), ".json") {
		spec, err = task.ParseSpecJSON(b)
	} else {
		spec, err = task.ParseSpecYAML(b)
	}
	if err != nil {
		return task.Spec{}, fmt.Errorf("%s: %w", file, err)
	}
	return spec, nil
}

func runTasks(ctx context.Context, env Env, args []string) error {
	fs, cf := taskFlagSet(env, "tasks", "Usage: tether-broker tasks [flags]\n\n"+
		"Lists every task the scheduler holds, a page at a time (the list op on tether/v1/<region>/tasks/control).")
	state := fs.String("state", "", "only tasks in this state (pending, assigned, running, succeeded, failed, cancelled); 'active' for the first three")
	node := fs.String("node", "", "only tasks whose current attempt is on this node")
	asJSON := fs.Bool("json", false, "print the statuses as JSON")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		cliconf.Hint(fs)
		return fmt.Errorf("tasks: unexpected %q (for one task: tether-broker task ID)", rest[0])
	}
	c, err := dialTasks(ctx, env, cf)
	if err != nil {
		return err
	}
	defer c.stop()
	all, err := c.list(ctx)
	if err != nil {
		return err
	}
	var list []task.Status
	for _, st := range all {
		switch {
		case *state == "active" && task.Terminal(st.State):
		case *state != "" && *state != "active" && st.State != *state:
		case *node != "" && st.Node != *node:
		default:
			list = append(list, st)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].Submitted.Equal(list[j].Submitted) {
			return list[i].Submitted.Before(list[j].Submitted)
		}
		return list[i].Task < list[j].Task
	})
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	return printTasks(env.Stdout, list, time.Now())
}

// list pages through every task with the scheduler's list op.
func (c *taskClient) list(ctx context.Context) ([]task.Status, error) {
	var all []task.Status
	after := ""
	for {
		r, _, err := c.request(ctx, c.topics.TaskControl(), true, func(id, replyTo string) any {
			return task.ControlRequest{V: task.Version, RequestID: id, ReplyTo: replyTo, Op: task.OpList, After: after}
		})
		if err != nil {
			return nil, err
		}
		if !r.OK {
			return nil, fmt.Errorf("listing tasks: %s", r.Error)
		}
		all = append(all, r.Tasks...)
		if r.Next == "" {
			return all, nil
		}
		if r.Next <= after {
			return nil, fmt.Errorf("listing tasks: the scheduler's cursor %q does not advance past %q", r.Next, after)
		}
		after = r.Next
	}
}

func printTasks(w io.Writer, list []task.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATE\tATTEMPT\tNODE\tPROGRESS\tSUBMITTED\tUPDATED")
	for _, st := range list {
		progress := "-"
		if st.Total > 0 {
			progress = fmt.Sprintf("%.0f%%", 100*float64(st.Progress)/float64(st.Total))
		}
		state := st.State
		if st.AtRisk && !task.Terminal(st.State) {
			state += " AT-RISK"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", st.Task, state, st.Attempt, dash(st.Node), progress,
			ago(st.Submitted, now), ago(st.Updated, now))
	}
	if len(list) == 0 {
		fmt.Fprintln(tw, "(no tasks)")
	}
	return tw.Flush()
}

func runTask(ctx context.Context, env Env, args []string) error {
	fs, cf := taskFlagSet(env, "task", "Usage: tether-broker task [flags] ID\n       tether-broker task ID --output NAME -o PATH\n\n"+
		"Prints a task's status with its attempt history, or downloads one of its outputs (-o - writes it to stdout).")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	output := fs.String("output", "", "download the task's output NAME instead of printing its status")
	outPath := fs.String("o", "", "with --output: the file to write it to; - for stdout")
	transferTimeout := fs.Duration("transfer-timeout", DefaultTransferTimeout, "how long the download may take")
	id, c, err := oneTask(ctx, env, fs, cf, args, "task")
	if err != nil {
		return err
	}
	defer c.stop()
	if (*output == "") != (*outPath == "") {
		return errors.New("task: --output NAME and -o PATH go together")
	}
	got, err := c.statuses(ctx, c.topics.TaskStatus(id), 300*time.Millisecond)
	if err != nil {
		return err
	}
	st, ok := got[id]
	if !ok {
		return fmt.Errorf("no task %s in region %s", id, c.topics.Region())
	}
	if *output != "" {
		blobID, err := outputID(st, *output)
		if err != nil {
			return err
		}
		return c.download(ctx, env, blobID, *outPath, *transferTimeout)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printTask(env.Stdout, st)
}

func printTask(w io.Writer, st task.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "task\t%s\n", st.Task)
	fmt.Fprintf(tw, "state\t%s\n", st.State)
	fmt.Fprintf(tw, "attempt\t%d\n", st.Attempt)
	fmt.Fprintf(tw, "node\t%s\n", dash(st.Node))
	fmt.Fprintf(tw, "submitted\t%s\n", st.Submitted.Format(time.RFC3339))
	fmt.Fprintf(tw, "updated\t%s\n", st.Updated.Format(time.RFC3339))
	if st.Total > 0 {
		fmt.Fprintf(tw, "progress\t%d/%d\n", st.Progress, st.Total)
	}
	if !st.EstDone.IsZero() {
		est := st.EstDone.Format(time.RFC3339)
		if st.AtRisk {
			est += " — AT RISK: after the deadline"
		}
		fmt.Fprintf(tw, "estimated done\t%s\n", est)
	}
	if st.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", st.Error)
	}
	if r := st.Result; r != nil {
		fmt.Fprintf(tw, "exit code\t%d\n", r.ExitCode)
		fmt.Fprintf(tw, "cpu\t%v\n", time.Duration(r.CPUMS)*time.Millisecond)
		if r.MaxRSSKB > 0 {
			fmt.Fprintf(tw, "max rss\t%d KiB\n", r.MaxRSSKB)
		}
		if r.Output != "" {
			fmt.Fprintf(tw, "output\t%s\n", r.Output)
		}
		for _, name := range slices.Sorted(maps.Keys(r.Outputs)) {
			fmt.Fprintf(tw, "output %s\t%s (task %s --output %s -o FILE)\n", name, r.Outputs[name], st.Task, name)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Attempts) > 0 {
		fmt.Fprintln(w, "\nattempts:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "N\tNODE\tASSIGNED\tENDED\tSTATE\tRESUMED FROM\tREASON")
		for _, a := range st.Attempts {
			ended := "-"
			if !a.Ended.IsZero() {
				ended = a.Ended.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", a.N, a.Node, a.Assigned.Format(time.RFC3339), ended, a.State, a.ResumedFrom, dash(a.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r := st.Result; r != nil && (r.Stdout != "" || r.Stderr != "") {
		fmt.Fprintf(w, "\nstdout (tail):\n%s\nstderr (tail):\n%s\n", r.Stdout, r.Stderr)
	}
	return nil
}

func runCancel(ctx context.Context, env Env, args []string) error {
	fs, cf := taskFlagSet(env, "cancel", "Usage: tether-broker cancel [flags] ID\n\nCancels a task: a running attempt is killed on its node.")
	id, c, err := oneTask(ctx, env, fs, cf, args, "cancel")
	if err != nil {
		return err
	}
	defer c.stop()
	r, _, err := c.request(ctx, c.topics.TaskControl(), true, func(rid, replyTo string) any { // cancelling a cancelled task succeeds again
		return task.ControlRequest{V: task.Version, RequestID: rid, ReplyTo: replyTo, Op: task.OpCancel, Task: id}
	})
	if err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("cancel %s: %s", id, r.Error)
	}
	_, err = fmt.Fprintf(env.Stdout, "%s %s\n", id, dash(r.State))
	return err
}

// oneTask parses the flags and the one task id of a command about a task,
// and connects.
func oneTask(ctx context.Context, env Env, fs *flag.FlagSet, cf *clientFlags, args []string, cmd string) (string, *taskClient, error) {
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(rest) != 1 {
		cliconf.Hint(fs)
		return "", nil, fmt.Errorf("%s: give one task id", cmd)
	}
	if err := protocol.ValidateID("task id", rest[0]); err != nil {
		return "", nil, err
	}
	c, err := dialTasks(ctx, env, cf)
	if err != nil {
		return "", nil, err
	}
	return rest[0], c, nil
}

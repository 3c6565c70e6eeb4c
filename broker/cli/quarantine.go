package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

func runQuarantine(ctx context.Context, env Env, args []string) error {
	fs, cf := taskFlagSet(env, "quarantine", "Usage: tether-broker quarantine [--release NODE] [flags]\n\n"+
		"Lists the nodes in quarantine: the scheduler places no new task on a node whose attempts\n"+
		"failed tasks.quarantine_after times in a row, for tasks.quarantine. --release ends one's now.")
	release := fs.String("release", "", "end this node's quarantine now")
	asJSON := fs.Bool("json", false, "print the nodes in quarantine as JSON")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		cliconf.Hint(fs)
		return fmt.Errorf("quarantine: unexpected %q (release a node with --release NODE)", rest[0])
	}
	op := task.OpQuarantine
	if *release != "" {
		if err := protocol.ValidateID("node id", *release); err != nil {
			return err
		}
		op = task.OpRelease
	}
	c, err := dialTasks(ctx, env, cf)
	if err != nil {
		return err
	}
	defer c.stop()
	// Listing the quarantine may be asked again; releasing may not: a
	// second release of a node the first released is refused.
	r, _, err := c.request(ctx, c.topics.TaskControl(), op == task.OpQuarantine, func(id, replyTo string) any {
		return task.ControlRequest{V: task.Version, RequestID: id, ReplyTo: replyTo, Op: op, Node: *release}
	})
	if err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("quarantine: %s", r.Error)
	}
	if *release != "" {
		fmt.Fprintf(env.Stdout, "%s released\n", *release)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r.Quarantine)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tQUARANTINED UNTIL")
	for _, q := range r.Quarantine {
		fmt.Fprintf(tw, "%s\t%s (in %v)\n", q.Node, q.Until.Format(time.RFC3339), time.Until(q.Until).Round(time.Second))
	}
	if len(r.Quarantine) == 0 {
		fmt.Fprintln(tw, "(no node in quarantine)")
	}
	return tw.Flush()
}

// printQuarantined prints the nodes in quarantine under the fleet table,
// from the retained list the scheduler keeps (tasks/quarantine); nothing
// when there is none. The list arrives with the table on subscribe; a
// short wait covers their order.
func printQuarantined(w io.Writer, list <-chan []byte, now time.Time) error {
	var b []byte
	select {
	case b = <-list:
	case <-time.After(200 * time.Millisecond):
		return nil
	}
	l, err := task.DecodeQuarantineList(b)
	if err != nil {
		return fmt.Errorf("quarantine list: %w", err)
	}
	if len(l.Nodes) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nin quarantine (no new tasks; tether-broker quarantine --release NODE ends it):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, q := range l.Nodes {
		fmt.Fprintf(tw, "%s\tuntil %s\t(in %v)\n", q.Node, q.Until.Format(time.RFC3339), q.Until.Sub(now).Round(time.Second))
	}
	return tw.Flush()
}

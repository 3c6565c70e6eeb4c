package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tether-edge/tether/pkg/atomicfile"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/task"
)

// Task data from the command line: `submit --input NAME=PATH` uploads a
// file to the scheduler's blob store and names it in the spec as an input
// the scheduler holds; `task ID --output NAME -o PATH` downloads an output
// the scheduler fetched from the node that made it. Both move blobs over
// the operator's own blob topics (pkg/blob), resuming after a lost
// connection like every transfer. The bytes are staged in a temporary
// store first, so the file is read once and hashed before it is offered.

// DefaultTransferTimeout bounds one upload or download: 20 MB at 1 Mbit/s
// take under 3 minutes.
const DefaultTransferTimeout = 10 * time.Minute

// inputFlag collects the repeatable --input NAME=PATH.
type inputFlag struct{ names, paths []string }

func (f *inputFlag) String() string { return "" }

func (f *inputFlag) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || path == "" {
		return fmt.Errorf("%q: want NAME=PATH", v)
	}
	if !task.DataName(name) {
		return fmt.Errorf("%q is not an input name: 1 to 64 of a-z, 0-9 and '_', starting with a letter", name)
	}
	if slices.Contains(f.names, name) {
		return fmt.Errorf("input %q given twice", name)
	}
	f.names, f.paths = append(f.names, name), append(f.paths, path)
	return nil
}

// transfer is an operator's temporary blob store and, once started, its
// endpoint serving the scheduler's wants, until close.
type transfer struct {
	store *blob.Store
	dir   string
	ep    *blob.Endpoint
	names []string
	ids   []blob.ID
	stop  context.CancelFunc // nil until started
	done  chan struct{}
}

// newTransfer makes a temporary store with room for quota bytes.
func newTransfer(quota int64) (*transfer, error) {
	dir, err := os.MkdirTemp("", "tether-transfer-")
	if err != nil {
		return nil, err
	}
	st, err := blob.Open(blob.Options{Dir: dir, Quota: max(quota, 1)})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &transfer{store: st, dir: dir}, nil
}

// start attaches the endpoint to c's session and serves wants.
func (t *transfer) start(ctx context.Context, c *taskClient) error {
	ep, err := blob.NewEndpoint(blob.EndpointOptions{Store: t.store, Send: blob.OperatorSend(c.sess, c.topics, c.user)})
	if err != nil {
		return err
	}
	if err := blob.AttachOperator(ctx, c.sess, c.topics, c.user, ep); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	t.ep, t.stop, t.done = ep, stop, make(chan struct{})
	go func() {
		defer close(t.done)
		_ = ep.Run(runCtx) // returns when stopped
	}()
	return nil
}

func (t *transfer) close() {
	if t == nil {
		return
	}
	if t.stop != nil {
		t.stop()
		<-t.done
	}
	_ = t.store.Close()
	_ = os.RemoveAll(t.dir)
}

// stageInputs copies each --input file into a temporary store, hashing
// it, and adds it to spec's inputs as held by the scheduler (where upload
// puts it). A name the spec already has is an error: the command line
// does not silently replace what the file says. Nil without inputs.
func stageInputs(spec *task.Spec, in inputFlag) (*transfer, error) {
	if len(in.names) == 0 {
		return nil, nil
	}
	var total int64
	for i, p := range in.paths {
		if _, dup := spec.Inputs[in.names[i]]; dup {
			return nil, fmt.Errorf("input %q is in the spec already", in.names[i])
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.names[i], err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("input %s: %s is not a regular file", in.names[i], p)
		}
		total += fi.Size()
	}
	t, err := newTransfer(total)
	if err != nil {
		return nil, err
	}
	if spec.Inputs == nil {
		spec.Inputs = map[string]task.Input{}
	}
	for i, p := range in.paths {
		id, err := t.stage(p)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("input %s: %w", in.names[i], err)
		}
		spec.Inputs[in.names[i]] = task.Input{Blob: id}
		t.names, t.ids = append(t.names, in.names[i]), append(t.ids, id)
	}
	return t, nil
}

// stage copies the file at path into the store and returns its id.
func (t *transfer) stage(path string) (blob.ID, error) {
	f, err := os.Open(path)
	if err != nil {
		return blob.ID{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return blob.ID{}, err
	}
	return t.store.Put(f, fi.Size())
}

// upload offers each staged input to the scheduler and returns once it
// holds them all. Nothing to do for a nil t.
func (c *taskClient) upload(ctx context.Context, env Env, t *transfer, timeout time.Duration) error {
	if t == nil {
		return nil
	}
	if err := t.start(ctx, c); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i, id := range t.ids {
		start := time.Now()
		if err := t.ep.Offer(ctx, "", id); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("input %s: not uploaded within %v (--transfer-timeout)", t.names[i], timeout)
			}
			return fmt.Errorf("input %s: %w", t.names[i], err)
		}
		fmt.Fprintf(env.Stderr, "uploaded %s: %s (%v)\n", t.names[i], id, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// download fetches blob id from the scheduler into path ("-": stdout). The
// scheduler fetches a task's outputs from their node when the task
// succeeds, so an output it does not hold yet is asked for again every
// second until timeout.
func (c *taskClient) download(ctx context.Context, env Env, id blob.ID, path string, timeout time.Duration) error {
	t, err := newTransfer(id.Size)
	if err != nil {
		return err
	}
	defer t.close()
	if err := t.start(ctx, c); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	said := false
	for {
		_, err := t.ep.Fetch(ctx, "", id)
		if err == nil {
			break
		}
		if !errors.Is(err, blob.ErrNotFound) {
			if ctx.Err() != nil {
				return fmt.Errorf("%s not downloaded within %v (--transfer-timeout)", id, timeout)
			}
			return err
		}
		if !said {
			fmt.Fprintln(env.Stderr, "the scheduler does not hold it yet; waiting")
			said = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the scheduler did not get %s within %v (--transfer-timeout): is the node that made it online?", id, timeout)
		case <-time.After(time.Second):
		}
	}
	f, err := t.store.OpenBlob(id)
	if err != nil {
		return err
	}
	defer f.Close()
	if path == "-" {
		_, err = io.Copy(env.Stdout, f)
		return err
	}
	return atomicfile.Write(path, f, atomicfile.Options{}) // 0600 when new: task data is not everyone's
}

// outputID returns the id of output name of a task in st, or an error
// saying why there is none.
func outputID(st task.Status, name string) (blob.ID, error) {
	if st.State != task.StateSucceeded || st.Result == nil {
		return blob.ID{}, fmt.Errorf("task %s is %s: outputs come with success", st.Task, st.State)
	}
	id, ok := st.Result.Outputs[name]
	if !ok {
		names := slices.Sorted(maps.Keys(st.Result.Outputs))
		if len(names) == 0 {
			return blob.ID{}, fmt.Errorf("task %s stored no outputs", st.Task)
		}
		return blob.ID{}, fmt.Errorf("task %s has no output %q; it has %s", st.Task, name, strings.Join(names, ", "))
	}
	return id, nil
}

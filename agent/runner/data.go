package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/task"
)

// Blobs is what the runner needs of the agent's task data: its blob store
// and the transfer from the scheduler.
type Blobs interface {
	// Fetch returns once the store holds id, fetched from the scheduler
	// when it did not: verified, resumed after a lost connection, until
	// ctx ends.
	Fetch(ctx context.Context, id blob.ID) error
	// Path is the file of a blob the store holds; nobody writes it.
	Path(id blob.ID) (string, error)
	// Put stores size bytes from r as a blob.
	Put(r io.Reader, size int64) (blob.ID, error)
}

// errNoBlobs: a task names data on an agent that keeps none.
var errNoBlobs = errors.New("this agent keeps no task data (no blob store)")

// fetchInputs makes the store hold every input of spec, in name order.
func (r *Runner) fetchInputs(ctx context.Context, spec task.Spec) error {
	if len(spec.Inputs) == 0 {
		return nil
	}
	if r.opts.Blobs == nil {
		return errNoBlobs
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Inputs)) {
		if err := r.opts.Blobs.Fetch(ctx, spec.Inputs[name].Blob); err != nil {
			return fmt.Errorf("input %s: %w", name, err)
		}
	}
	return nil
}

// Exec tasks find their data in the attempt directory:
//
//	inputs/<name>   TETHER_INPUT_<NAME>: a copy of the input blob, read-only
//	outputs/<name>  TETHER_OUTPUT_<NAME>: where the task writes each output
//
// TETHER_INPUTS and TETHER_OUTPUTS name the two directories. An input is
// copied, not linked: a task that changed its file's mode and wrote to it
// would otherwise change the blob in the store.

// dataEnv copies the inputs into dir/inputs, makes dir/outputs and
// returns the variables that name them.
func (r *Runner) dataEnv(dir string, spec task.Spec) ([]string, error) {
	if len(spec.Inputs) == 0 && len(spec.Outputs) == 0 {
		return nil, nil
	}
	in, out := filepath.Join(dir, "inputs"), filepath.Join(dir, "outputs")
	for _, d := range []string{in, out} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	env := []string{"TETHER_INPUTS=" + in, "TETHER_OUTPUTS=" + out}
	for _, name := range slices.Sorted(maps.Keys(spec.Inputs)) {
		if r.opts.Blobs == nil {
			return nil, errNoBlobs
		}
		src, err := r.opts.Blobs.Path(spec.Inputs[name].Blob)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		dst := filepath.Join(in, name)
		if err := copyFile(dst, src); err != nil {
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		env = append(env, "TETHER_INPUT_"+strings.ToUpper(name)+"="+dst)
	}
	for _, name := range spec.Outputs {
		env = append(env, "TETHER_OUTPUT_"+strings.ToUpper(name)+"="+filepath.Join(out, name))
	}
	return env, nil
}

// copyFile copies src to a new read-only file dst.
func copyFile(dst, src string) error {
	s, err := os.Open(src)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o400)
	if err != nil {
		return err
	}
	_, err = io.Copy(d, s)
	return errors.Join(err, d.Close())
}

// storeOutputs stores every output the spec names from dir/outputs and
// returns their ids. An output the task did not leave as a regular file
// fails the attempt.
func (r *Runner) storeOutputs(dir string, spec task.Spec) (map[string]blob.ID, error) {
	if len(spec.Outputs) == 0 {
		return nil, nil
	}
	if r.opts.Blobs == nil {
		return nil, errNoBlobs
	}
	ids := make(map[string]blob.ID, len(spec.Outputs))
	for _, name := range spec.Outputs {
		id, err := r.putFile(filepath.Join(dir, "outputs", name))
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", name, err)
		}
		ids[name] = id
	}
	return ids, nil
}

// putFile stores a regular file as a blob.
func (r *Runner) putFile(p string) (blob.ID, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return blob.ID{}, errors.New("the task did not write it")
		}
		return blob.ID{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return blob.ID{}, err
	}
	if !fi.Mode().IsRegular() {
		return blob.ID{}, fmt.Errorf("%s is not a regular file", fi.Mode().Type())
	}
	return r.opts.Blobs.Put(f, fi.Size())
}

// runSHA256 is the sha256 builtin: it hashes each input from the store
// and stores sha256sum's listing of them ("<hex>  <name>\n", by name) as
// its output when the spec names one. Result.Output is the first input's
// digest.
func (r *Runner) runSHA256(ctx context.Context, spec task.Spec) outcome {
	var list strings.Builder
	var res task.Result
	for i, name := range slices.Sorted(maps.Keys(spec.Inputs)) {
		if err := ctx.Err(); err != nil {
			return outcome{res: res, err: context.Cause(ctx)}
		}
		sum, err := r.hashBlob(ctx, spec.Inputs[name].Blob)
		if err != nil {
			return outcome{res: res, err: fmt.Errorf("input %s: %w", name, err)}
		}
		if i == 0 {
			res.Output = sum
		}
		fmt.Fprintf(&list, "%s  %s\n", sum, name)
	}
	res.WorkDone = 1
	if slices.Contains(spec.Outputs, task.SHA256Output) {
		id, err := r.opts.Blobs.Put(strings.NewReader(list.String()), int64(list.Len()))
		if err != nil {
			return outcome{res: res, err: fmt.Errorf("output %s: %w", task.SHA256Output, err)}
		}
		res.Outputs = map[string]blob.ID{task.SHA256Output: id}
	}
	return outcome{res: res}
}

// hashBlob hashes a blob's file (the store verified it when it arrived;
// this reads it again, as a task would).
func (r *Runner) hashBlob(ctx context.Context, id blob.ID) (string, error) {
	p, err := r.opts.Blobs.Path(id)
	if err != nil {
		return "", err
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

package serve

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/ha"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestSigningKeyLivesInTheRegion: with ha, the first scheduler to act
// with a key file installs its key in the region; a scheduler with no key
// file that acts next signs with the region's key; one whose key file
// holds another key refuses to act, naming both key ids, before it stands
// by (campaign fails: it never takes the lease); one whose
// key file holds the region's key acts with it.
func TestSigningKeyLivesInTheRegion(t *testing.T) {
	t.Parallel()
	const region, user = haRegion, haUser
	cluster := startHACluster(t)
	k1, f1 := keyFile(t, "region.key")
	k2, f2 := keyFile(t, "other.key")

	// act runs a scheduler with key file f ("" for none) until its task
	// store is open, then resigns; it returns openTasks' key, what the
	// scheduler logged, and campaign's or openTasks' error.
	act := func(holder, f string) (ed25519.PrivateKey, string, error) {
		t.Helper()
		cfg := config.Default()
		cfg.Region, cfg.Username = region, user
		cfg.HA = config.HA{NATSURL: cluster.ClientURLs(0), Holder: holder, LeaseTTL: 2 * time.Second}
		cfg.Tasks.SigningKeyFile = f
		var logs testenv.SyncBuffer
		log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testLogWriter(t)), nil))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		lead, err := campaign(ctx, cfg, haPassword, log)
		if err != nil {
			return nil, logs.String(), err
		}
		if lead == nil {
			t.Fatalf("%s: campaign ended without a term", holder)
		}
		defer lead.close()
		st, _, key, err := openTasks(ctx, cfg, Options{Logger: log}, lead)
		if st != nil {
			st.Close()
		}
		return key, logs.String(), err
	}

	key, logs, err := act("sched-a", f1)
	if err != nil || !key.Equal(k1) || !strings.Contains(logs, `msg="signing key installed in the region from tasks.signing_key_file" component=tasks key=`+keyID(k1)) {
		t.Fatalf("the first scheduler, with a key file: key %v, err %v; want its key installed in the region. Log:\n%s", key != nil, err, logs)
	}
	key, logs, err = act("sched-b", "")
	if err != nil || !key.Equal(k1) || !strings.Contains(logs, `msg="signing key loaded from the region" component=tasks key=`+keyID(k1)) {
		t.Fatalf("a scheduler without a key file: key %v, err %v; want the region's key. Log:\n%s", key != nil, err, logs)
	}
	key, logs, err = act("sched-c", f2)
	if key != nil || err == nil || !strings.Contains(err.Error(), keyID(k1)) || !strings.Contains(err.Error(), keyID(k2)) ||
		!strings.Contains(err.Error(), f2) || !strings.Contains(err.Error(), "refusing to act") {
		t.Fatalf("a scheduler whose key file holds another key: key %v, err %v; want it refused, naming %s (the region's) and %s (%s)",
			key != nil, err, keyID(k1), keyID(k2), f2)
	}
	if strings.Contains(logs, "holding the region") || strings.Contains(logs, "standing by") {
		t.Errorf("the scheduler with another key stood by or took the lease before it refused. Log:\n%s", logs)
	}
	t.Logf("refused: %v", err)
	key, logs, err = act("sched-d", f1)
	if err != nil || !key.Equal(k1) || !strings.Contains(logs, `msg="signing key loaded; the region holds the same key"`) {
		t.Fatalf("a scheduler whose key file holds the region's key: key %v, err %v. Log:\n%s", key != nil, err, logs)
	}
}

// keyFile writes a new signing key into the test's directory.
func keyFile(t *testing.T, name string) (ed25519.PrivateKey, string) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := taskengine.EncodeSigningKey(k)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return k, f
}

func keyID(k ed25519.PrivateKey) string { return task.KeyID(k.Public().(ed25519.PublicKey)) }

// testLogWriter is where a test's scheduler logs beside its capture:
// stderr under -v, else nowhere.
func testLogWriter(t *testing.T) io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return io.Discard
}

// TestStandbyRefusesAKeyInstalledWhileItWaits: a standby whose key file
// holds another key than the one the acting scheduler installs while it
// waits (two schedulers of a new region started together, with different
// files) ends its campaign with the refusal within a few key checks,
// without taking the lease: the acting scheduler keeps its term.
func TestStandbyRefusesAKeyInstalledWhileItWaits(t *testing.T) {
	t.Parallel()
	cluster := startHACluster(t)
	k1, _ := keyFile(t, "region.key")
	k2, f2 := keyFile(t, "other.key")
	cfg := config.Default()
	cfg.Region, cfg.Username = haRegion, haUser
	cfg.HA = config.HA{NATSURL: cluster.ClientURLs(0), Holder: "sched-a", LeaseTTL: 2 * time.Second}
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testLogWriter(t)), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first, err := campaign(ctx, cfg, haPassword, log)
	if err != nil || first == nil {
		t.Fatalf("the first scheduler, no key file, on a region without a key: %v", err)
	}
	defer first.close()

	cfg.HA.Holder, cfg.Tasks.SigningKeyFile = "sched-c", f2
	refused := make(chan error, 1)
	go func() {
		l, err := campaign(ctx, cfg, haPassword, log)
		if l != nil {
			l.close()
			err = errors.New("it took the lease")
		}
		refused <- err
	}()
	testenv.Eventually(t, 30*time.Second, "sched-c standing by", func() bool {
		return strings.Contains(logs.String(), `msg="standing by for the region's lease" component=ha holder=sched-c`)
	})
	if _, installed, err := first.term.SigningKey(ctx, k1); err != nil || !installed {
		t.Fatalf("the acting scheduler's install: installed %v, err %v", installed, err)
	}
	installedAt := time.Now()
	select {
	case err := <-refused:
		if err == nil || !errors.Is(err, ha.ErrKeyMismatch) || !strings.Contains(err.Error(), keyID(k1)) ||
			!strings.Contains(err.Error(), keyID(k2)) || !strings.Contains(err.Error(), "refusing to act") {
			t.Fatalf("sched-c, its key file another key than the one installed while it stood by: %v; want the refusal naming %s and %s", err, keyID(k1), keyID(k2))
		}
		t.Logf("refused %v after the install: %v", time.Since(installedAt).Round(10*time.Millisecond), err)
	case <-time.After(4 * keyCheckEvery):
		t.Fatalf("sched-c still standing by %v after the region's key was installed", 4*keyCheckEvery)
	}
	if !first.term.Valid() {
		t.Error("the acting scheduler lost its term")
	}
	if strings.Contains(logs.String(), `msg="ha: holding the region" component=ha holder=sched-c`) {
		t.Error("sched-c took the lease")
	}
}

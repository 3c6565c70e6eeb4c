package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/enrol"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/serve"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestAgentEnrolsWithItsToken: tether-agent started with enrol.token_file
// and no password enrols with a running scheduler, writes the password it
// generated (0600), and that password is the node's in the scheduler's
// credentials file.
func TestAgentEnrolsWithItsToken(t *testing.T) {
	dir := t.TempDir()
	file, creds := filepath.Join(dir, "enrol.json"), filepath.Join(dir, "credentials")
	tok, token, err := enrol.NewToken(time.Now(), 1, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = enrol.Update(file, func(s *enrol.State) error { s.Tokens = append(s.Tokens, tok); return nil })
	for u, pw := range map[string]string{"tether-scheduler": "sched-pw", tok.User(): token[len(tok.ID)+1:]} {
		if err := mqttd.AddUser(creds, u, pw); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Embedded.Listen, cfg.Embedded.CredentialsFile, cfg.Password = "127.0.0.1:0", creds, "sched-pw"
	cfg.Tasks.Dir, cfg.Enrol.File = filepath.Join(dir, "tasks"), file
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, cfg, serve.Options{Logger: slog.New(slog.DiscardHandler), OnReady: func(u string) { ready <- u }})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler not ready")
	}
	tokenFile, pwFile := filepath.Join(dir, "site.token"), filepath.Join(dir, "agent", "agent.pw")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("brokers: [%s]\nnode_id: pi-7\ndata_dir: %s\nenrol:\n  token_file: %s\n", url, filepath.Join(dir, "agent"), tokenFile)
	cfgFile := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() {
		adone <- run(actx, []string{"--config", cfgFile}, func(string) string { return "" }, io.Discard, io.Discard)
	}()
	var fi os.FileInfo
	if !testenv.Within(15*time.Second, func() bool {
		var err error
		fi, err = os.Stat(pwFile)
		return err == nil
	}) {
		acancel()
		t.Fatalf("no password file after 15 s (agent: %v)", <-adone)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v", fi.Mode().Perm())
	}
	acancel()
	<-adone
	pw, _ := os.ReadFile(pwFile)
	c, err := mqttd.LoadCredentials(creds)
	if err != nil || !c.Verify("pi-7", string(pw[:len(pw)-1])) {
		t.Fatalf("the agent's password is not pi-7's in the credentials file: %v", err)
	}
}

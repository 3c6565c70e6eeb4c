package cli

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// TestServeRefuses32Bit: tether-broker built for 32-bit ARM (armv7, as
// for 32-bit Raspberry Pi OS) and run under qemu refuses `serve` at once
// with a message that says what to install — before it starts a broker —
// while its client commands still run.
func TestServeRefuses32Bit(t *testing.T) {
	t.Parallel()
	qemu := testenv.RequireTool(t, "qemu-arm-static", "qemu-arm")
	bin := testenv.Build(t, t.TempDir(), "./broker", "tether-broker", "linux", "arm", "7")
	out, err := exec.Command(qemu, bin, "serve", "--listen", "127.0.0.1:0", "--tasks-dir", t.TempDir()).CombinedOutput()
	if err == nil {
		t.Fatalf("serve on 32-bit succeeded:\n%s", out)
	}
	s := string(out)
	if !strings.Contains(s, "needs a 64-bit system") || !strings.Contains(s, "64-bit Raspberry Pi OS") || strings.Contains(s, "mqttd") {
		t.Errorf("serve on 32-bit says:\n%s", s)
	}
	if out, err := exec.Command(qemu, bin, "version").CombinedOutput(); err != nil {
		t.Errorf("version on 32-bit: %v\n%s", err, out)
	}
}

package mqttd

import (
	"bytes"
	"fmt"

	"github.com/tether-edge/tether/pkg/atomicfile"
	"github.com/tether-edge/tether/pkg/protocol"
)

func validateUser(user string) error {
	if err := protocol.ValidateID("user", user); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data (atomicfile.Write): a power cut
// leaves the old file or the new one. An existing file's mode and owner are
// kept (root:mosquitto 0640 so Mosquitto can read it); a new file is 0600.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, bytes.NewReader(data), atomicfile.Options{KeepOwner: true}); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

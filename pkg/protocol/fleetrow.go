package protocol

import "time"

// FleetRow is one node's row of the fleet view, retained on
// tether/v1/<region>/fleet/nodes/<node>: the fleet table's row with the
// version, the scheduler's time of the row and the instance of the
// scheduler that published it (a row left by an earlier run of the
// scheduler, on a broker that keeps retained messages, says so).
type FleetRow struct {
	V         int       `json:"v"`
	TS        time.Time `json:"ts"`
	Scheduler string    `json:"scheduler,omitempty"`
	FleetNode
}

// FleetRow is tether/v1/<region>/fleet/nodes/<node> (retained): the node's
// row of the fleet view.
func (t Topics) FleetRow(node string) string { return t.prefix + "/fleet/nodes/" + node }

// AllFleetRows is tether/v1/<region>/fleet/nodes/+: every node's row.
func (t Topics) AllFleetRows() string { return t.prefix + "/fleet/nodes/+" }

// DecodeFleetRow parses and validates one node's row of the fleet view.
func DecodeFleetRow(data []byte) (FleetRow, error) {
	var m FleetRow
	if err := decode(data, MaxMessage, &m); err != nil {
		return FleetRow{}, err
	}
	if err := m.Validate(); err != nil {
		return FleetRow{}, err
	}
	return m, nil
}

// Validate checks a FleetRow as DecodeFleetRow does.
func (m *FleetRow) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	if err := CheckTime("ts", m.TS); err != nil {
		return err
	}
	if err := checkString("scheduler", m.Scheduler); err != nil {
		return err
	}
	return m.FleetNode.Validate()
}

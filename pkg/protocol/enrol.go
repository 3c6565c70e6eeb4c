package protocol

import "unicode/utf8"

// Zero-touch enrolment (docs/protocol.md, "Enrolment"): an agent holding a
// site enrolment token and no credentials connects as the token's
// enrolment identity and publishes an EnrolRequest on EnrolRequest(node);
// the scheduler answers on EnrolReply(node).

// Enrolment outcomes.
const (
	EnrolEnrolled = "enrolled" // the password is the node's; connect as the node
	EnrolPending  = "pending"  // waits for an operator (nodes approve); ask again
	EnrolRefused  = "refused"  // never from this request
)

const (
	// MaxEnrolMessage bounds an enrolment message.
	MaxEnrolMessage = 4 << 10
	// MaxEnrolToken and MaxEnrolPassword bound their fields: a token is
	// 56 characters, a generated password 32.
	MaxEnrolToken    = 128
	MaxEnrolPassword = 256
	minEnrolPassword = 16
)

// EnrolRequest is a node asking for its credentials: its id, the site
// token, and the password it generated for itself (which the scheduler
// stores hashed, as `passwd add` would).
type EnrolRequest struct {
	V        int    `json:"v"`
	Node     string `json:"node"`
	Token    string `json:"token"`
	Password string `json:"password"`
}

// EnrolReply is the scheduler's answer. Reason is set for pending and
// refused, and for an enrolment that was not fresh ("already enrolled",
// "approved").
type EnrolReply struct {
	V       int    `json:"v"`
	Node    string `json:"node"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// DecodeEnrolRequest parses and validates an enrolment request.
func DecodeEnrolRequest(data []byte) (EnrolRequest, error) {
	var m EnrolRequest
	if err := decode(data, MaxEnrolMessage, &m); err != nil {
		return EnrolRequest{}, err
	}
	if err := m.Validate(); err != nil {
		return EnrolRequest{}, err
	}
	return m, nil
}

// Validate checks an EnrolRequest as DecodeEnrolRequest does: the token's
// form is the scheduler's to judge, only its size is checked here.
func (m *EnrolRequest) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	if err := ValidateID("node", m.Node); err != nil {
		return invalid("%v", err)
	}
	if m.Token == "" || len(m.Token) > MaxEnrolToken || !utf8.ValidString(m.Token) {
		return invalid("token: want 1 to %d bytes of UTF-8", MaxEnrolToken)
	}
	if n := len(m.Password); n < minEnrolPassword || n > MaxEnrolPassword {
		return invalid("password: want %d to %d bytes", minEnrolPassword, MaxEnrolPassword)
	}
	for i := 0; i < len(m.Password); i++ {
		if c := m.Password[i]; c <= ' ' || c >= 0x7f {
			return invalid("password: only printable ASCII without spaces")
		}
	}
	return nil
}

// DecodeEnrolReply parses and validates an enrolment reply.
func DecodeEnrolReply(data []byte) (EnrolReply, error) {
	var m EnrolReply
	if err := decode(data, MaxEnrolMessage, &m); err != nil {
		return EnrolReply{}, err
	}
	if err := m.Validate(); err != nil {
		return EnrolReply{}, err
	}
	return m, nil
}

// Validate checks an EnrolReply as DecodeEnrolReply does.
func (m *EnrolReply) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	if err := ValidateID("node", m.Node); err != nil {
		return invalid("%v", err)
	}
	switch m.Outcome {
	case EnrolEnrolled:
	case EnrolPending, EnrolRefused:
		if m.Reason == "" {
			return invalid("%s without a reason", m.Outcome)
		}
	default:
		return invalid("outcome %q: want %s, %s or %s", m.Outcome, EnrolEnrolled, EnrolPending, EnrolRefused)
	}
	return checkString("reason", m.Reason)
}

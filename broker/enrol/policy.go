package enrol

import (
	"fmt"
	"time"
)

// Outcome is what becomes of one enrolment request.
type Outcome uint8

const (
	// Enrolled: the node's credentials are (or already were) in place.
	Enrolled Outcome = iota + 1
	// Pending: outside the token's policy; waits for nodes approve.
	Pending
	// Refused: never enrolled from this request.
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Enrolled:
		return "enrolled"
	case Pending:
		return "pending"
	case Refused:
		return "refused"
	}
	return "?"
}

// Request is what a node presents, as the policy needs it.
type Request struct {
	Node   string
	Token  string // "<id>.<secret>"
	Secret string // the password the node generated for itself
}

// Existing is what the scheduler already knows of the node.
type Existing struct {
	// Enrolled: the node has credentials; SameKey: the request's password
	// is theirs.
	Enrolled, SameKey bool
	// Revoked: an operator revoked the node; only nodes approve brings
	// it back.
	Revoked bool
	// Approved: an operator approved the node's pending request.
	Approved bool
}

// Decision is the policy's answer; Reason says why for anything but a
// fresh enrolment, in words an operator acts on. Use is true when the
// decision spends one of the token's uses.
type Decision struct {
	Outcome Outcome
	Reason  string
	Use     bool
}

// Reasons, stable: docs/protocol.md lists them and tests match them.
const (
	ReasonUnknownToken = "unknown enrolment token"
	ReasonRevokedToken = "enrolment token revoked"
	ReasonExpired      = "enrolment token expired"
	ReasonExhausted    = "enrolment token used up"
	ReasonNameNotAllow = "node id not allowed by the token"
	ReasonOtherKey     = "node id already enrolled with another key"
	ReasonNodeRevoked  = "node revoked"
	ReasonAlready      = "already enrolled"
	ReasonApproved     = "approved"
)

// Decide applies tok's policy (nil: no token with the request's id) to req
// at now. Order: a wrong or revoked token is refused outright (a holder of
// no valid token gets no pending entry); a node enrolled with another key
// is refused (revoke it first); a node already enrolled with this key is
// told so again (a lost reply is retried); an approved node is enrolled;
// then expiry, remaining uses and the name pattern each make the request
// pend, with their reason, until an operator approves it.
func Decide(now time.Time, tok *Token, req Request, ex Existing) Decision {
	id, secret, err := ParseToken(req.Token)
	switch {
	case err != nil || tok == nil || tok.ID != id || !tok.Matches(secret):
		return Decision{Outcome: Refused, Reason: ReasonUnknownToken}
	case tok.Revoked:
		return Decision{Outcome: Refused, Reason: ReasonRevokedToken}
	case ex.Enrolled && !ex.SameKey:
		return Decision{Outcome: Refused, Reason: ReasonOtherKey}
	case ex.Enrolled:
		return Decision{Outcome: Enrolled, Reason: ReasonAlready}
	case ex.Approved:
		return Decision{Outcome: Enrolled, Reason: ReasonApproved}
	case ex.Revoked:
		return Decision{Outcome: Pending, Reason: ReasonNodeRevoked}
	case !now.Before(tok.Expires):
		return Decision{Outcome: Pending, Reason: ReasonExpired}
	case tok.UsesLeft <= 0:
		return Decision{Outcome: Pending, Reason: ReasonExhausted}
	}
	re, err := compileNames(tok.Names)
	if err != nil {
		return Decision{Outcome: Pending, Reason: fmt.Sprintf("token's names pattern: %v", err)}
	}
	if re != nil && !re.MatchString(req.Node) {
		return Decision{Outcome: Pending, Reason: ReasonNameNotAllow}
	}
	return Decision{Outcome: Enrolled, Use: true}
}

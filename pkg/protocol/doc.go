// Package protocol is Tether's wire protocol: the MQTT topic tree, the JSON
// messages carried on it, and their validation. docs/protocol.md is the
// user-facing description of the same contract; the golden files under
// testdata/ pin the encoding.
//
// Every topic lives under
//
//	tether/v1/<region>/…
//
// where v1 is the protocol's major version. A message's "v" field carries the
// same major version; a decoder refuses any other. Fields may be added within
// a major version, so decoders ignore fields they do not know.
//
// Every agent→scheduler message carries the node's sequence number ("seq")
// and the agent process's instance id ("instance"), Sparkplug-style, so the
// scheduler can see gaps and duplicates, and tell two agents that share one
// node id apart.
package protocol

// Version is the protocol's major version, in topics (v1) and in every
// message's "v" field.
const Version = 1

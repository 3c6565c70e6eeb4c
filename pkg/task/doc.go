// Package task is Tether's task model, shared by the scheduler and the
// agent: the task spec people submit, the messages that carry tasks between
// submitter, scheduler and agents, and the signing that lets an agent trust
// an assignment without trusting the broker. docs/tasks.md is its user
// documentation; docs/protocol.md lists the topics.
//
// # Decoding
//
// Every Decode function bounds the input (MaxMessage), parses it, and
// validates the result fully, so a caller can trust what it gets. Failures
// wrap the classes of pkg/protocol: ErrTooLarge, ErrSyntax (malformed JSON
// or YAML, a wrong type, an unknown field where fields are strict),
// ErrVersion, and ErrInvalid. A Validate method reports every problem it
// finds at once (errors.Join of *FieldError, each naming the field by its
// JSON path, such as "spec.builtin.units"), so a submitter can fix a spec
// in one go.
//
// # Unknown fields
//
// What a person or a tool writes to make something happen is strict: a spec
// (JSON or YAML), a SubmitRequest, a ControlRequest, and the signed
// Envelope and Assignment an agent acts on. A misspelt field there
// ("retires: 3") would otherwise be dropped silently and the task run
// without it; and an agent that does not know a field a newer scheduler
// signed must refuse the assignment (the scheduler sees the refusal)
// rather than run the task without what the field asks for.
//
// What reports a state is lenient, as in pkg/protocol: a Reply, a Status
// and an agent's Event may gain fields within a major version, and older
// readers ignore them. A scheduler upgraded after its agents still reads
// their events, and a submitter's tool still reads newer replies.
package task

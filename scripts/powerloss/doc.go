// Package powerloss proves that Tether's store survives real power cuts,
// and that a checkpointable task runs across them to the right result.
//
// A workload runs inside a qemu-system-x86_64 VM (TCG, Debian's kernel,
// a busybox initramfs) with the store on a virtio disk whose host cache is
// off (cache=none). The harness cuts the power by sending SIGKILL to qemu
// at a moment chosen by a seeded plan, boots again on the same disk image
// and checks what the store reports against what it had acknowledged.
// Only tests and the helpers they need live here; `make powerloss` runs
// the long version.
//
// Killing qemu loses the guest's memory, never a write qemu handed to the
// host. With Config.VolatileCache (POWERLOSS_DISK=volatile) the harness
// serves the disk itself over NBD as a device with a volatile write cache
// (volatile.go, nbd.go): blocks written since the last flush are kept or
// lost at random at each cut, which is what an SD card's cache may do.
//
// # Console protocol
//
// Only complete console lines count. /init (init.sh) prints
//
//	TETHER-PL-INIT BOOTED        busybox is up, modules not yet loaded
//	TETHER-PL-INIT MOUNTING      ext4 is about to mount /dev/vda (and replay its journal)
//	TETHER-PL-INIT MOUNTED <o>   /dev/vda is mounted on /data; <o>: every ext4 option in force
//	TETHER-PL-INIT START         the workload is being started
//	TETHER-PL-INIT EXIT <code>   the workload ended (it never should)
//	TETHER-PL-INIT ERROR <text>  init could not go on
//
// and the workload, with TETHER_POWERLOSS_DIR set to its store directory:
//
//	TETHER-PL OPENED recovered=<0|1> next=<seq>   the store is open
//	TETHER-PL HAVE <from>-<to> | HAVE <seq>       every record found, before any other line
//	TETHER-PL COMMIT <seq>                         <seq> is durable (acknowledged)
//	TETHER-PL PUBACK <seq>                         optional: <seq> is released on the harness's ACK (below): it may vanish from now on
//	TETHER-PL DELETED <seq>                        optional: the deletion of a released <seq> is durable: never listed again
//	TETHER-PL COMPACT BEGIN | COMPACT END          optional: compaction or value-log GC
//	TETHER-PL EVENT <kind> <n> [...]               optional: the n-th (from 1, within the boot) store event of
//	                                               kind rotate, gc, close or open begins; not between OPENED and the listing's end
//	TETHER-PL BROKEN <what>                        optional: an invariant of the workload's own is broken
//	TETHER-PL ERROR <what>                         the workload cannot go on (open or a write failed)
//
// (GC, COMPACTION and FLATTEN are accepted for COMPACT; START and DONE for
// BEGIN and END.) Unknown TETHER-PL words are ignored, so a workload may
// print more.
//
// The harness is the workload's broker. It writes into the console's input
// (qemu's stdin, the guest's ttyS0, not echoed: init.sh) one line per
// record it acknowledges,
//
//	ACK <seq> <check>                              <check>: ackline.Check(seq) in hex; a garbled line is ignored
//
// for every COMMIT it read and, once the listing ended, every seq listed
// (the records an agent sends again at start), each after a delay drawn
// from the boot's seeded stream (ackDelay): 35 % at once, 15 % not in this
// boot, the rest 1 ms – 5 s later (the event cuts' Pareto delay). The
// workload releases a record only on reading its ACK, through store.Ack as
// the uplink does on a PUBACK, printing PUBACK first and DELETED once a
// commit begun after the Ack returned. A task's last event is released
// only once the task's next transition committed (the workloads check
// that it is listed). The console log records each ACK sent, among the
// guest's lines in the order the harness saw them, as
//
//	TETHER-PL-HOST ACK <seq>
//
// (KindHostAck): a PUBACK of a seq the harness had not acknowledged in
// that boot is refused (Stats.Unacked, a failure), and a guest line of the
// harness's form is malformed. The self-test workload releases nothing
// and is sent nothing (Config.NoAcks).
//
// The task workload (agent/runner's TestPowerLossTaskWorkload, the task
// run: Config.Task) prints the same lines for the store its runner writes
// to — every task event is an outbox record, COMMIT once durable, released
// on the harness's ACK as above — and for its one task:
//
//	TETHER-PL TASK <id> SUBMIT                 the store does not know the task: its signed assignment goes to the runner
//	TETHER-PL TASK <id> STORED <state> <done>/<total> [<output>]
//	                                           the store knows it (before the runner starts): its state, where it resumes, its output once succeeded
//	TETHER-PL TASK <id> ACCEPTED               the accepted event is durable
//	TETHER-PL TASK <id> RESUMED-FROM <n>/<total>   the running event is durable: the attempt (re)started at unit n
//	TETHER-PL TASK <id> PROGRESS <done>/<total>    a checkpoint at done is durable
//	TETHER-PL TASK <id> DONE <output>          the succeeded event is durable
//	TETHER-PL TASK <id> FAILED <state> <why>   the task ended otherwise
//
// Each is printed only after the store's write returned, so a printed
// checkpoint is one the store must still hold after a cut. Unknown TASK
// words are ignored too.
//
// Beside its task, the task workload fetches a stream of task-data blobs
// into the agent's blob store on the same disk, over the real blob
// protocol from a peer in memory, paced as a slow link, and prints BLOB
// lines (blob.go): the complete blobs it re-hashed at start, the partial
// one, each fetch's start and end (with the bytes it resumed from) and
// each removal.
//
// # Aims
//
// A plan (PlanCuts) aims seven cuts in ten at phases of a boot, each at a
// point of the phase's window, and three at store events: Cut.Delay after
// the Cut.Nth EVENT line of kind Cut.Event, the delay from a bounded Pareto
// distribution (paretoDelay). An event cut whose event has not come
// Config.EventWait after the listing cuts then and is counted missed; a run
// whose event cuts all missed checked no event and fails (Report.Thin).
// Where a cut lands is judged from the console either way.
//
// # Invariants, after every cut
//
//   - the store opens: OPENED appears, no ERROR; recovered=1 (the store
//     quarantined itself) is counted and fails the run;
//   - the workload's own checks hold: no BROKEN line (the store's
//     workload checks its task journal: state, history and checkpoint
//     committed together);
//   - acknowledged records lost = 0: every seq printed as COMMIT before
//     any cut, and not released by a PUBACK, is in the HAVE set of the next
//     boot that lists completely;
//   - a record is released only on the harness's acknowledgement: every
//     PUBACK follows an ACK of its seq sent in the same boot;
//   - deleted records resurrected = 0: no seq printed as DELETED is in a
//     later HAVE set (and a run that released records must have checked
//     some deletion);
//   - no duplicates: no seq listed twice, none committed twice;
//   - seqs never reused: next is above every seq acknowledged or listed.
//
// and in the task run, over the whole run:
//
//   - the task is submitted only while the store does not know it;
//   - every start resumes at or past the last checkpoint printed before
//     the cut, at the checkpoint the store holds (STORED), and progress only
//     goes forward within a boot;
//   - the task ends once (DONE, or a STORED succeeded whose DONE line died
//     with the cut), with the output computed on the host without
//     interruption (runner.BuiltinOutput), never runs again, and ends after
//     at least TaskConfig.MinCuts cuts (fewer: the task is too small for the
//     plan, a calibration failure);
//   - it does not stall (TaskConfig.Stall) and does not outlast the budget;
//   - no complete blob is ever corrupt (every listing re-hashes each one),
//     every blob installed is listed by every later listing until its
//     removal began, each is the stream's blob, a partial file belongs to
//     the fetch a cut interrupted, and at least one cut lands mid-transfer.
package powerloss

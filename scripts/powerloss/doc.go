// Package powerloss proves that Tether's store survives real power cuts.
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
//	TETHER-PL COMPACT BEGIN | COMPACT END          optional: compaction or value-log GC
//	TETHER-PL BROKEN <what>                        optional: an invariant of the workload's own is broken
//	TETHER-PL ERROR <what>                         the workload cannot go on (open or a write failed)
//
// (GC, COMPACTION and FLATTEN are accepted for COMPACT; START and DONE for
// BEGIN and END.) Unknown TETHER-PL words are ignored, so a workload may
// print more.
//
// # Invariants, after every cut
//
//   - the store opens: OPENED appears, no ERROR; recovered=1 (the store
//     quarantined itself) is counted and fails the run;
//   - the workload's own checks hold: no BROKEN line (the store's
//     workload checks its task journal: state, history and checkpoint
//     committed together);
//   - acknowledged records lost = 0: every seq printed as COMMIT before
//     any cut is in the HAVE set of the next boot that lists completely;
//   - no duplicates: no seq listed twice, none committed twice;
//   - seqs never reused: next is above every seq acknowledged or listed.
package powerloss

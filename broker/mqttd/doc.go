// Package mqttd is tether-broker's embedded MQTT broker: mochi-mqtt
// (github.com/mochi-mqtt/server/v2) with Tether's authentication, topic ACL,
// listeners and sizing. docs/security.md is the operator's view; the same
// rules ship for Mosquitto in deploy/mosquitto.
//
// Use:
//
//	srv, err := mqttd.New(mqttd.Options{Region: "eu-1", CredentialsFile: "creds", SchedulerUsers: []string{"scheduler"}})
//	go srv.Run(ctx)   // binds, serves until ctx is done, then closes everything
//	<-srv.Ready()     // srv.Addr() is now the bound address
//
// Credentials are Mosquitto password files (LoadCredentials, AddUser,
// HashPassword); Server.Reload re-reads them and the TLS files.
//
// What mochi v2.7.9 does that this package relies on or works around (read
// in its server.go, clients.go and listeners/):
//
//   - Retained messages expire: a sweep every second deletes any retained
//     message older than Capabilities.MaximumMessageExpiryInterval (default
//     86400 s), whatever the publisher asked for. Tether's node births are
//     retained for the node's lifetime, so the interval is 0, which mochi
//     treats as "no limit" (an MQTT 5 publisher's own expiry still applies).
//   - ACL denials: mochi drops a QoS 0 publish its OnACLCheck denies, but
//     closes the connection of an MQTT 3.1.1 client whose QoS 1/2 publish
//     it denies (3.1.1 has no negative PUBACK), and drops publishes to
//     $SYS/… (or any topic name it finds invalid) before any hook, without
//     a PUBACK, so a QoS 1 client waits forever. This package therefore
//     judges publishes in OnPublish, and acknowledges those mochi would
//     leave unanswered in OnPacketRead (hook.go). A denied SUBSCRIBE filter
//     gets SUBACK 0x80. Will messages are published without any ACL check,
//     so this package checks the will topic at CONNECT. The read ACL runs
//     again on every delivery, so it must be cheap (it does not allocate).
//   - Logs: mochi logs whole packets, payload included, with failed or
//     refused publishes; its logger is wrapped (logsafe.go).
//   - Refused CONNECTs: OnConnectAuthenticate returning false is CONNACK
//     0x05 "not authorized" for MQTT 3.1.1 (not 0x04) and 0x86 for MQTT 5.
//   - Bound address: listeners.TCP resolves ":0" only inside Init, and no
//     mochi listener bounds the time before CONNECT or closes connections
//     that have not sent one; Server.Close then waits for them forever; and
//     mochi's listeners stop for good on any accept error (out of file
//     descriptors). This package binds its own sockets (listener.go), so
//     Addr is exact, accept errors are retried with a backoff, connections
//     not yet authenticated are limited and have a CONNECT deadline,
//     shutdown closes every socket and waits for every goroutine, and every
//     packet's declared size is checked against the client's limit before
//     mochi allocates it (packetguard.go: mochi has one MaximumPacketSize
//     for all clients, which must admit the scheduler's fleet table).
//   - Session teardown race: when a clean-session client disconnects and a
//     new connection with the same client id arrives during the teardown,
//     mochi can delete the new client and its subscriptions (it checks
//     IsTakenOver, then deletes by id). Tether's agents and scheduler use
//     persistent sessions (clean session false), which that teardown does
//     not touch.
//   - A message is acknowledged (PUBACK) before it is routed, and a
//     subscriber whose session is full (MaxInflight) loses it. flow.go
//     holds the publisher before the PUBACK instead, for the persistent
//     sessions of schedulers, nodes and enrolling devices; a watcher's is
//     never waited for (see flowHook).
//   - OnPublish runs on the publisher's read goroutine before the message
//     is retained, acknowledged or routed, and OnWill before a will is.
//     receiver.go applies a Receiver's messages there, so the in-process
//     scheduler has applied what the broker acknowledges.
//   - A subscription replays all matching retained messages at once into
//     the client's pending-writes queue (Options.MaxPendingWrites); what
//     does not fit is dropped. This package replays them itself instead,
//     waiting for room, one replay at a time per client (retained.go).
package mqttd

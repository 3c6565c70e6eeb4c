// Package e2e holds Tether's end-to-end tests: the real tether-broker and
// tether-agent binaries, started as processes, talking MQTT over loopback
// through the embedded broker or a real Mosquitto 2, and ARM agents under
// qemu user emulation. It has no non-test code.
package e2e

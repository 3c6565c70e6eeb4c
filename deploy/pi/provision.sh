#!/usr/bin/env bash
# Provisions one Raspberry Pi (or any systemd Linux device) over SSH:
# copies the agent built for its architecture, asks it for its node id,
# creates its credentials on this (scheduler) machine, and installs the
# config (node id pinned, the scheduler's public key pinned), password, CA
# (tls:// brokers only) and systemd unit.
#
#   deploy/pi/provision.sh pi@raspberrypi.local tls://scheduler.example.net:8883
#
# Safe to run again on the same device: an existing /etc/tether/agent.yaml is
# kept (the new one is written beside it as agent.yaml.provisioned), the node
# keeps its pinned id and an existing user keeps working — its password is
# changed and the new one installed on the device.
#
# With TOKEN=FILE (a site token from 'tether-broker enrol token create'),
# no credentials are made here: the token is installed as
# /etc/tether/site.token and the agent enrols itself at its first start
# (enrol.token_file; docs/security.md), its password written to
# /etc/tether/agent.pw. Nothing on this machine needs a reload.
#
# Environment: TOKEN, CREDENTIALS (default /etc/tether/credentials), CA (default
# /etc/tether/certs/ca.crt; only for tls:// brokers), SIGNING_KEY (default
# /etc/tether/scheduler.key), REGION (default "default"), DIST (default dist),
# BROKER (default bin/tether-broker of this checkout, else tether-broker),
# SSH_CONFIG (an ssh_config(5) file for ssh and scp, e.g. a fleet's jump host,
# keys and pinned host keys; default: ssh's own).
#
# The agent is enabled and started when the device runs systemd; otherwise
# the unit is installed and the script says to start the agent.
set -euo pipefail
usage="usage: provision.sh USER@HOST BROKER_URL"
host=${1:?$usage}
broker_url=${2:?$usage}
creds=${CREDENTIALS:-/etc/tether/credentials}
ca=${CA:-/etc/tether/certs/ca.crt}
signing_key=${SIGNING_KEY:-/etc/tether/scheduler.key}
token=${TOKEN:-}
region=${REGION:-default}
dist=${DIST:-dist}
ssh_opts=()
[ -z "${SSH_CONFIG:-}" ] || ssh_opts=(-F "$SSH_CONFIG")
here=$(cd "$(dirname "$0")/../.." && pwd)
broker=${BROKER:-$here/bin/tether-broker}
[ -x "$broker" ] || broker=$(command -v tether-broker) || { echo "provision: tether-broker not found (make build, or BROKER=)" >&2; exit 1; }

die() { echo "provision: $*" >&2; exit 1; }
# The remote commands are built here on purpose (sudo on the device).
# shellcheck disable=SC2029
on() { ssh "${ssh_opts[@]}" "$host" "$@"; }
copy() { scp -q "${ssh_opts[@]}" "$1" "$host:$2"; }

# Check everything this machine must supply before touching the device.
case $broker_url in
  tls://* | ssl://* | mqtts://*) tls=1; [ -r "$ca" ] || die "$ca missing: a $broker_url broker needs its CA (CA=)" ;;
  tcp://* | mqtt://*) tls=0 ;;
  *) die "broker URL $broker_url: want tcp://HOST:1883 or tls://HOST:8883" ;;
esac
[ -z "$token" ] || [ -r "$token" ] || die "$token missing: TOKEN= names a site token file (tether-broker enrol token create)"
[ -r "$signing_key" ] || die "$signing_key missing: the agent pins the scheduler's public key (tether-broker keygen -o $signing_key; SIGNING_KEY=)"
scheduler_key=$("$broker" keygen --public "$signing_key") || die "cannot read the public key of $signing_key"

case $(on uname -m) in
  armv6l) target=linux_armv6 ;;
  armv7l) target=linux_armv7 ;;
  aarch64) target=linux_arm64 ;;
  x86_64) target=linux_amd64 ;;
  riscv64) target=linux_riscv64 ;;
  *) die "unsupported architecture" ;;
esac
bin=$dist/$target/tether-agent
[ -x "$bin" ] || die "$bin missing: run 'make cross' first"

copy "$bin" /tmp/tether-agent
# A device provisioned before keeps the id pinned in its config, whatever
# its host name is now.
node=$(on "sudo sed -n 's/^node_id: *\"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\} *$/\\1/p' /etc/tether/agent.yaml 2>/dev/null" || true)
[ -n "$node" ] || node=$(on /tmp/tether-agent --print-node-id)
echo "provision: $host is node $node ($target)"
password=""
[ -n "$token" ] || password=$("$broker" passwd -f "$creds" add "$node")

on sudo install -d -m 0755 /etc/tether
on sudo install -m 0755 /tmp/tether-agent /usr/local/bin/tether-agent
ca_line=""
if [ "$tls" = 1 ]; then
  copy "$ca" /tmp/tether-ca.crt
  on sudo install -m 0644 /tmp/tether-ca.crt /etc/tether/ca.crt
  ca_line=$'tls:\n  ca_file: /etc/tether/ca.crt'
fi
enrol_line=""
if [ -n "$token" ]; then
  # The agent enrols itself; an agent.pw left from an earlier enrolment
  # or provisioning is kept.
  on "sudo sh -c 'umask 077; cat > /etc/tether/site.token'" < "$token"
  enrol_line=$'enrol:\n  token_file: /etc/tether/site.token'
else
  printf '%s\n' "$password" | on "sudo sh -c 'umask 077; cat > /etc/tether/agent.pw'"
fi
config="brokers: [$broker_url]
region: $region
node_id: \"$node\"
password_file: /etc/tether/agent.pw
$ca_line
$enrol_line
tasks:
  scheduler_keys:
    - $scheduler_key"
if on test -e /etc/tether/agent.yaml; then
  printf '%s\n' "$config" | on "sudo tee /etc/tether/agent.yaml.provisioned >/dev/null"
  echo "provision: kept the device's /etc/tether/agent.yaml; the provisioned one is agent.yaml.provisioned"
else
  printf '%s\n' "$config" | on "sudo tee /etc/tether/agent.yaml >/dev/null"
fi
copy "$here/deploy/systemd/tether-agent.service" /tmp/tether-agent.service
on sudo install -m 0644 /tmp/tether-agent.service /etc/systemd/system/
if ! on test -d /run/systemd/system; then
  echo "provision: $node is installed; $host does not run systemd, so start it with the device's init: /usr/local/bin/tether-agent --config /etc/tether/agent.yaml"
elif on "sudo systemctl daemon-reload && sudo systemctl enable tether-agent && sudo systemctl restart tether-agent"; then
  echo "provision: $node is running"
else
  die "$node is installed but systemctl could not start tether-agent (journalctl -u tether-agent on $host)"
fi
if [ -n "$token" ]; then
  echo "provision: it enrols itself with the site token (tether-broker nodes pending shows it if it waits)"
else
  echo "provision: reload the broker to accept it: systemctl reload tether-broker"
fi

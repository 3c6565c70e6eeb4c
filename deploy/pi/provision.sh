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
# BROKER (default bin/tether-broker of this checkout, else tether-broker).
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
here=$(cd "$(dirname "$0")/../.." && pwd)
broker=${BROKER:-$here/bin/tether-broker}
[ -x "$broker" ] || broker=$(command -v tether-broker) || { echo "provision: tether-broker not found (make build, or BROKER=)" >&2; exit 1; }

die() { echo "provision: $*" >&2; exit 1; }

# Check everything this machine must supply before touching the device.
case $broker_url in
  tls://* | ssl://* | mqtts://*) tls=1; [ -r "$ca" ] || die "$ca missing: a $broker_url broker needs its CA (CA=)" ;;
  tcp://* | mqtt://*) tls=0 ;;
  *) die "broker URL $broker_url: want tcp://HOST:1883 or tls://HOST:8883" ;;
esac
[ -z "$token" ] || [ -r "$token" ] || die "$token missing: TOKEN= names a site token file (tether-broker enrol token create)"
[ -r "$signing_key" ] || die "$signing_key missing: the agent pins the scheduler's public key (tether-broker keygen -o $signing_key; SIGNING_KEY=)"
scheduler_key=$("$broker" keygen --public "$signing_key") || die "cannot read the public key of $signing_key"

case $(ssh "$host" uname -m) in
  armv6l) target=linux_armv6 ;;
  armv7l) target=linux_armv7 ;;
  aarch64) target=linux_arm64 ;;
  x86_64) target=linux_amd64 ;;
  riscv64) target=linux_riscv64 ;;
  *) die "unsupported architecture" ;;
esac
bin=$dist/$target/tether-agent
[ -x "$bin" ] || die "$bin missing: run 'make cross' first"

scp -q "$bin" "$host:/tmp/tether-agent"
# A device provisioned before keeps the id pinned in its config, whatever
# its host name is now.
node=$(ssh "$host" "sudo sed -n 's/^node_id: *\"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\} *$/\\1/p' /etc/tether/agent.yaml 2>/dev/null" || true)
[ -n "$node" ] || node=$(ssh "$host" /tmp/tether-agent --print-node-id)
echo "provision: $host is node $node ($target)"
password=""
[ -n "$token" ] || password=$("$broker" passwd -f "$creds" add "$node")

ssh "$host" sudo install -d -m 0755 /etc/tether
ssh "$host" sudo install -m 0755 /tmp/tether-agent /usr/local/bin/tether-agent
ca_line=""
if [ "$tls" = 1 ]; then
  scp -q "$ca" "$host:/tmp/tether-ca.crt"
  ssh "$host" sudo install -m 0644 /tmp/tether-ca.crt /etc/tether/ca.crt
  ca_line=$'tls:\n  ca_file: /etc/tether/ca.crt'
fi
enrol_line=""
if [ -n "$token" ]; then
  # The agent enrols itself; an agent.pw left from an earlier enrolment
  # or provisioning is kept.
  ssh "$host" "sudo sh -c 'umask 077; cat > /etc/tether/site.token'" < "$token"
  enrol_line=$'enrol:\n  token_file: /etc/tether/site.token'
else
  printf '%s\n' "$password" | ssh "$host" "sudo sh -c 'umask 077; cat > /etc/tether/agent.pw'"
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
if ssh "$host" test -e /etc/tether/agent.yaml; then
  printf '%s\n' "$config" | ssh "$host" "sudo tee /etc/tether/agent.yaml.provisioned >/dev/null"
  echo "provision: kept the device's /etc/tether/agent.yaml; the provisioned one is agent.yaml.provisioned"
else
  printf '%s\n' "$config" | ssh "$host" "sudo tee /etc/tether/agent.yaml >/dev/null"
fi
scp -q "$here/deploy/systemd/tether-agent.service" "$host:/tmp/tether-agent.service"
ssh "$host" "sudo install -m 0644 /tmp/tether-agent.service /etc/systemd/system/ && sudo systemctl daemon-reload && sudo systemctl enable tether-agent && sudo systemctl restart tether-agent"
if [ -n "$token" ]; then
  echo "provision: $node is running and enrols itself with the site token (tether-broker nodes pending shows it if it waits)"
else
  echo "provision: $node is running; reload the broker to accept it: systemctl reload tether-broker"
fi

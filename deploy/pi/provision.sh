#!/usr/bin/env bash
# Provisions one Raspberry Pi (or any systemd Linux device) over SSH:
# copies the agent built for its architecture, asks it for its node id,
# creates its credentials on this (scheduler) machine, and installs the
# config, password, CA and systemd unit.
#
#   deploy/pi/provision.sh pi@raspberrypi.local tls://scheduler.example.net:8883
#
# Environment: CREDENTIALS (default /etc/tether/credentials), CA (default
# /etc/tether/certs/ca.crt), REGION (default "default"), DIST (default dist).
set -euo pipefail
host=${1:?usage: provision.sh USER@HOST BROKER_URL}
broker_url=${2:?usage: provision.sh USER@HOST BROKER_URL}
creds=${CREDENTIALS:-/etc/tether/credentials}
ca=${CA:-/etc/tether/certs/ca.crt}
region=${REGION:-default}
dist=${DIST:-dist}
here=$(cd "$(dirname "$0")/../.." && pwd)

case $(ssh "$host" uname -m) in
  armv6l) target=linux_armv6 ;;
  armv7l) target=linux_armv7 ;;
  aarch64) target=linux_arm64 ;;
  x86_64) target=linux_amd64 ;;
  riscv64) target=linux_riscv64 ;;
  *) echo "provision: unsupported architecture" >&2; exit 1 ;;
esac
bin=$dist/$target/tether-agent
[ -x "$bin" ] || { echo "provision: $bin missing: run 'make cross' first" >&2; exit 1; }

scp -q "$bin" "$host:/tmp/tether-agent"
node=$(ssh "$host" /tmp/tether-agent --print-node-id)
echo "provision: $host is node $node ($target)"
password=$("$here/bin/tether-broker" passwd -f "$creds" add "$node")

ssh "$host" sudo install -d -m 0755 /etc/tether
ssh "$host" sudo install -m 0755 /tmp/tether-agent /usr/local/bin/tether-agent
scp -q "$ca" "$host:/tmp/tether-ca.crt"
ssh "$host" sudo install -m 0644 /tmp/tether-ca.crt /etc/tether/ca.crt
printf '%s\n' "$password" | ssh "$host" "sudo sh -c 'umask 077; cat > /etc/tether/agent.pw'"
ssh "$host" "sudo tee /etc/tether/agent.yaml >/dev/null" <<YAML
brokers: [$broker_url]
region: $region
password_file: /etc/tether/agent.pw
tls:
  ca_file: /etc/tether/ca.crt
YAML
scp -q "$here/deploy/systemd/tether-agent.service" "$host:/tmp/tether-agent.service"
ssh "$host" "sudo install -m 0644 /tmp/tether-agent.service /etc/systemd/system/ && sudo systemctl daemon-reload && sudo systemctl enable --now tether-agent"
echo "provision: $node is running; reload the broker to accept it: systemctl reload tether-broker"

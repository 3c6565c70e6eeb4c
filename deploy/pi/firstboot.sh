#!/bin/sh
# Tether's first-boot setup of a Raspberry Pi (or any Debian device): a
# card is flashed once and the device joins the region at its first boot,
# with nobody logging in to it.
#
# Before the first boot, put a folder tether/ on the card's boot partition
# (/boot/firmware on Raspberry Pi OS Bookworm, /boot before) holding:
#
#   firstboot.sh                 this script
#   tether-agent_*_<arch>.deb    the agent package for the board (make packages:
#                                armhf for every 32-bit board, arm64 for 64-bit OS)
#   site.token                   a site enrolment token: tether-broker enrol token create
#   tether.env                   KEY=VALUE lines, read (not run) by this script:
#       BROKER=tls://scheduler.example.net:8883   required; several: space-separated
#       SCHEDULER_KEY=<base64>                    required: tether-broker keygen --public KEY
#       REGION=default                            optional
#       NODE_ID=greenhouse-7                      optional: derived from the board serial
#   ca.crt                       the broker's CA, for a tls:// broker with a private CA
#
# and have it run once as root at the first boot: with Raspberry Pi Imager's
# settings, add the line
#
#   sh /boot/firmware/tether/firstboot.sh
#
# to the firstrun.sh Imager writes on the boot partition, before its last
# lines (or run it once over SSH). It installs the package, writes
# /etc/tether/agent.yaml (node id pinned, the scheduler's key pinned, the
# token as enrol.token_file), moves the token off the boot partition —
# anyone holding the card can read that partition — and starts the agent,
# which enrols itself (docs/security.md). A second run does nothing; a run
# that failed can be run again. TETHER_BOOT names the folder instead.
set -eu

die() { echo "tether firstboot: $*" >&2; exit 1; }
say() { echo "tether firstboot: $*"; }

boot=${TETHER_BOOT:-}
if [ -z "$boot" ]; then
  for d in /boot/firmware/tether /boot/tether; do
    if [ -d "$d" ]; then boot=$d; break; fi
  done
fi
{ [ -n "$boot" ] && [ -d "$boot" ]; } || die "no tether/ folder on the boot partition (/boot/firmware/tether or /boot/tether; TETHER_BOOT=)"
[ "$(id -u)" = 0 ] || die "run as root"

marker=/var/lib/tether/agent/firstboot.done # removed with the package's data on purge
if [ -e "$marker" ]; then
  say "already set up on $(cat "$marker"); nothing to do"
  exit 0
fi

# tether.env is read line by line, never sourced: only the known keys, and
# their values are written into YAML quoted.
BROKER="" SCHEDULER_KEY="" REGION=default NODE_ID=""
[ -r "$boot/tether.env" ] || die "$boot/tether.env missing: it names the broker and the scheduler's key"
while IFS= read -r line || [ -n "$line" ]; do
  line=$(printf '%s' "$line" | tr -d '\r')
  case $line in '' | '#'*) continue ;; esac
  key=${line%%=*}
  value=${line#*=}
  case $value in \"*\") value=${value#\"}; value=${value%\"} ;; esac
  case $key in
    BROKER) BROKER=$value ;;
    SCHEDULER_KEY) SCHEDULER_KEY=$value ;;
    REGION) REGION=$value ;;
    NODE_ID) NODE_ID=$value ;;
    *) die "tether.env: unknown key $key (BROKER, SCHEDULER_KEY, REGION, NODE_ID)" ;;
  esac
done <"$boot/tether.env"
[ -n "$BROKER" ] || die "tether.env: BROKER is required (tls://HOST:8883 or tcp://HOST:1883)"
[ -n "$SCHEDULER_KEY" ] || die "tether.env: SCHEDULER_KEY is required (tether-broker keygen --public KEYFILE on the scheduler)"
for v in "$BROKER" "$SCHEDULER_KEY" "$REGION" "$NODE_ID"; do
  case $v in *[\"\\]*) die "tether.env: a value holds a quote or backslash: $v" ;; esac
done
for b in $BROKER; do
  case $b in
    tls://* | ssl://* | mqtts://* | tcp://* | mqtt://*) ;;
    *) die "tether.env: BROKER $b: want tls://HOST:8883 or tcp://HOST:1883" ;;
  esac
done
token=$boot/site.token
[ -s "$token" ] || [ -s /etc/tether/site.token ] || die "$token missing: a site token from tether-broker enrol token create"

arch=$(dpkg --print-architecture)
deb=$(find "$boot" -maxdepth 1 -name "tether-agent_*_$arch.deb" | sort -V | tail -n 1)
[ -n "$deb" ] || die "no tether-agent_*_$arch.deb in $boot (make packages)"
say "installing $(basename "$deb")"
dpkg --install "$deb" || die "dpkg --install $deb failed"

[ -n "$NODE_ID" ] || NODE_ID=$(tether-agent --print-node-id) || die "cannot derive the node id"
say "this device is node $NODE_ID"

# The agent runs as tether: it reads the token and writes the password it
# is given into its own data directory.
if [ -s "$token" ]; then
  install -m 0640 -o root -g tether "$token" /etc/tether/site.token
  rm -f "$token"
fi
ca_lines=""
if [ -s "$boot/ca.crt" ]; then
  install -m 0644 "$boot/ca.crt" /etc/tether/ca.crt
  ca_lines="tls:
  ca_file: /etc/tether/ca.crt"
fi
brokers=""
for b in $BROKER; do brokers="$brokers
  - \"$b\""; done
conf=/etc/tether/agent.yaml
tmp=$conf.firstboot.tmp
cat >"$tmp" <<EOF
# Written by deploy/pi/firstboot.sh at this device's first boot; the
# package's own is agent.yaml.dpkg-firstboot. See docs/configuration.md.
brokers:$brokers
region: "$REGION"
node_id: "$NODE_ID"
password_file: /var/lib/tether/agent/agent.pw
enrol:
  token_file: /etc/tether/site.token
$ca_lines
data_dir: /var/lib/tether/agent
tasks:
  scheduler_keys:
    - "$SCHEDULER_KEY"
EOF
chmod 0644 "$tmp"
[ -e "$conf.dpkg-firstboot" ] || cp -p "$conf" "$conf.dpkg-firstboot"
mv "$tmp" "$conf"

if [ -d /run/systemd/system ]; then
  systemctl enable tether-agent >/dev/null 2>&1 || die "systemctl enable tether-agent failed"
  systemctl restart tether-agent || die "systemctl restart tether-agent failed"
  say "tether-agent started: it enrols itself (tether-broker nodes pending on the scheduler shows it if it waits)"
else
  say "no systemd running: start tether-agent with its unit when the system is up"
fi
date -u +%Y-%m-%dT%H:%M:%SZ >"$marker"

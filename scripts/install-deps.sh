#!/usr/bin/env bash
# Installs the system packages Tether's tests need, from Debian's archive:
#   mosquitto, mosquitto-clients  interoperability tests against Mosquitto 2
#   qemu-user-static              running the armv6/armv7/arm64 agents
#   openssl                       scripts/gen-certs.sh
# Idempotent: installs only what is missing. Needs root (or sudo) when
# something is missing; prints what to run otherwise.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v qemu-arm-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v openssl >/dev/null 2>&1 || need+=(openssl)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
# Deduplicate.
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "install-deps: installing ${need[*]}" >&2

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-deps: missing ${need[*]}; run as root: apt-get update && apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The packages' service scripts must not start a system-wide Mosquitto on
# port 1883: tests start their own on free ports, and `make run` needs 1883.
# policy-rc.d answering 101 is Debian's way to forbid service starts during
# an install (without systemd); with systemd the unit is disabled after.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  made_policy=1
fi
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
[ -n "$made_policy" ] && $sudo rm -f "$policy"
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

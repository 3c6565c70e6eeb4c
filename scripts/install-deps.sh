#!/usr/bin/env bash
# Installs the system packages Tether's tests need, from Debian's archive:
#   mosquitto, mosquitto-clients  interoperability tests against Mosquitto 2
#   qemu-user-static              running the armv6/armv7/arm64 agents, and the
#                                 agent store's tests on those and riscv64
#   openssl                       scripts/gen-certs.sh
#   qemu-system-x86, busybox-static, e2fsprogs, xz-utils
#                                 the power-cut VM (scripts/powerloss)
#   systemd, dpkg                 systemd-analyze and dpkg-deb for the
#                                 packages' tests (scripts/packages)
#   chromium                      the web dashboard's headless-browser tests
#   iproute2                      ip: the network namespaces, bridge and
#                                 veths of the partition tests
#                                 (pkg/testenv/netns); slim images lack it
#   openssh-server, openssh-client, sudo
#                                 provision.sh's test: this machine is the
#                                 device, reached over SSH on loopback
#   and shellcheck, with which `make lint` checks every shell script
# builds nats-server (the 3-node cluster of the NATS tests, deploy/nats) from
# the Go module proxy into .cache/bin/nats-server-<version>: Debian 12's
# package is 2.9, which acknowledges an MQTT QoS 1 message before JetStream
# stored it (docs/scaling.md);
# and downloads (never installs) Debian's amd64 kernel package into
# .cache/powerloss/debs/ for that VM: the harness extracts what it needs
# from it, the host's /boot is not touched.
# Idempotent: installs only what is missing. Needs root (or sudo) when
# something is missing; prints what to run otherwise.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v qemu-arm-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v qemu-riscv64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v mkfs.ext4 >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.ext4 ] || [ -x /sbin/mkfs.ext4 ] || need+=(e2fsprogs)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || [ -x /bin/ip ] || need+=(iproute2)

# The power-cut VM's kernel: the .deb that linux-image-amd64 points at,
# downloaded once into .cache/powerloss/debs/ (kept across runs).
kernel_deb() {
  local debs pkg
  debs="$(cd "$(dirname "$0")/.." && pwd)/.cache/powerloss/debs"
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    $sudo apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || { echo "install-deps: linux-image-amd64 not found in apt's lists" >&2; return 1; }
  compgen -G "$debs/${pkg}_*.deb" >/dev/null && return 0
  echo "install-deps: downloading $pkg into $debs" >&2
  mkdir -p "$debs"
  # apt-get download writes into the current directory; as root it warns
  # that the _apt user cannot write there, which is harmless. Whether the
  # download worked is the .deb being there, checked below.
  (
    cd "$debs"
    apt-get download -qq "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true
  )
  compgen -G "$debs/${pkg}_*.deb" >/dev/null
}

# nats-server for the NATS tests; the version is natstest.Version's.
nats_version=v2.15.3
nats_bin="$(cd "$(dirname "$0")/.." && pwd)/.cache/bin/nats-server-$nats_version"
if [ ! -x "$nats_bin" ]; then
  echo "install-deps: building nats-server $nats_version into $nats_bin" >&2
  tmp=$(mktemp -d)
  GOBIN=$tmp go install "github.com/nats-io/nats-server/v2@$nats_version"
  mkdir -p "$(dirname "$nats_bin")"
  mv "$tmp/nats-server" "$nats_bin"
  rmdir "$tmp"
fi

sudo=""
if [ ${#need[@]} -eq 0 ]; then
  kernel_deb
  exit 0
fi
# Deduplicate.
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "install-deps: installing ${need[*]}" >&2

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
kernel_deb

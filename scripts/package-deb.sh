#!/usr/bin/env bash
# Builds one Debian package of Tether with dpkg-deb (no daemon, no root):
#
#   scripts/package-deb.sh PACKAGE DEB_ARCH BINARY VERSION OUTDIR
#
#   PACKAGE   tether-agent or tether-broker
#   DEB_ARCH  armhf, arm64, amd64 or riscv64 (armhf carries the armv6 build,
#             which runs on every Raspberry Pi OS 32-bit board)
#   BINARY    the cross-built, stripped binary (make cross)
#   VERSION   a Debian version; it must start with a digit
#   OUTDIR    where PACKAGE_VERSION_DEB_ARCH.deb is written
#
# DEB_COMPRESSION (default xz) picks dpkg-deb's compressor; tests use gzip.
#
# What a package holds (docs/packages.md):
#   /usr/bin/PACKAGE                       0755 root:root
#   /lib/systemd/system/PACKAGE.service    0644 root:root  hardened unit
#   /etc/tether/{agent,broker}.yaml        0644 root:root  conffile
#   /usr/share/doc/PACKAGE/                README.md, copyright
# and maintainer scripts that create the system user "tether", keep data
# under /var/lib/tether/{agent,broker} (0700 tether:tether, made by the
# unit's StateDirectory= and by postinst), stop the service on remove and
# delete that data only on purge.
set -euo pipefail

pkg=${1:?usage: package-deb.sh PACKAGE DEB_ARCH BINARY VERSION OUTDIR}
arch=${2:?missing DEB_ARCH}
bin=${3:?missing BINARY}
version=${4:?missing VERSION}
out=${5:?missing OUTDIR}
here=$(cd "$(dirname "$0")/.." && pwd)

case $pkg in
  tether-agent) role=agent; desc="Tether edge agent: reports a device's resources over MQTT and runs signed tasks" ;;
  tether-broker) role=broker; desc="Tether regional scheduler with an embedded MQTT broker" ;;
  *) echo "package-deb: unknown package $pkg (tether-agent or tether-broker)" >&2; exit 2 ;;
esac
case $arch in armhf | arm64 | amd64 | riscv64) ;; *) echo "package-deb: unknown architecture $arch" >&2; exit 2 ;; esac
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { echo "package-deb: version $version must start with a digit" >&2; exit 2; }
[ -x "$bin" ] || { echo "package-deb: $bin is not an executable" >&2; exit 2; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/tether" "$root/usr/share/doc/$pkg"
install -m 0755 "$bin" "$root/usr/bin/$pkg"
install -m 0644 "$here/README.md" "$root/usr/share/doc/$pkg/README.md"
cat >"$root/usr/share/doc/$pkg/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tether
Files: *
Copyright: The Tether authors
License: see the Tether source repository
EOF

# The unit: the hand-install unit from deploy/systemd with the package's
# paths. Both packages run as the static user "tether" with their own state
# directory, so a machine may run the scheduler and an agent side by side.
unit="$root/lib/systemd/system/$pkg.service"
sed -e "s|/usr/local/bin/$pkg|/usr/bin/$pkg|" \
  -e "s|^StateDirectory=tether$|StateDirectory=tether/$role|" \
  -e 's|^DynamicUser=yes$|User=tether\nGroup=tether|' \
  "$here/deploy/systemd/$pkg.service" >"$unit"
chmod 0644 "$unit"
grep -q "^StateDirectory=tether/$role$" "$unit" || { echo "package-deb: $pkg.service has no StateDirectory=tether" >&2; exit 1; }

# The configuration, pointed at the package's state directory.
conf="$root/etc/tether/$role.yaml"
if [ "$role" = agent ]; then
  sed -e 's|^data_dir: /var/lib/tether$|data_dir: /var/lib/tether/agent|' \
    -e 's|# workdir: /var/lib/tether/tasks|# workdir: /var/lib/tether/agent/tasks|' \
    "$here/deploy/agent.yaml" >"$conf"
  grep -q '^data_dir: /var/lib/tether/agent$' "$conf" || { echo "package-deb: agent.yaml has no data_dir" >&2; exit 1; }
else
  sed -e 's|dir: /var/lib/tether/tasks|dir: /var/lib/tether/broker/tasks|' "$here/deploy/broker.yaml" >"$conf"
  grep -q 'dir: /var/lib/tether/broker/tasks' "$conf" || { echo "package-deb: broker.yaml has no tasks dir" >&2; exit 1; }
fi
chmod 0644 "$conf"
echo "/etc/tether/$role.yaml" >"$root/DEBIAN/conffiles"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: Tether <tether@localhost>
Installed-Size: $size
Depends: passwd
Section: net
Priority: optional
Homepage: https://github.com/tether-edge/tether
Description: $desc
 A static, CGO-free binary with a hardened systemd unit. Configuration is
 /etc/tether/$role.yaml; data lives under /var/lib/tether/$role.
EOF

cat >"$root/DEBIAN/postinst" <<EOF
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
  if ! getent group tether >/dev/null; then groupadd --system tether; fi
  if ! getent passwd tether >/dev/null; then
    useradd --system --gid tether --home-dir /var/lib/tether --no-create-home \\
      --shell /usr/sbin/nologin --comment "Tether" tether
  fi
  install -d -m 0755 -o root -g root /var/lib/tether
  install -d -m 0700 -o tether -g tether /var/lib/tether/$role
  # Secrets the operator puts in /etc/tether stay readable by tether only.
  chown root:tether /etc/tether
  chmod 0750 /etc/tether
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    systemctl enable $pkg.service >/dev/null || true
    # An upgrade restarts a running service; a first install leaves it
    # stopped until the operator has put credentials in place.
    if systemctl is-active --quiet $pkg.service; then systemctl restart $pkg.service || true; fi
  fi
fi
exit 0
EOF

cat >"$root/DEBIAN/prerm" <<EOF
#!/bin/sh
set -e
if [ "\$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop $pkg.service >/dev/null 2>&1 || true
  systemctl disable $pkg.service >/dev/null 2>&1 || true
fi
exit 0
EOF

cat >"$root/DEBIAN/postrm" <<EOF
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
if [ "\$1" = purge ]; then
  # Purge deletes this package's data; the other package's stays.
  rm -rf /var/lib/tether/$role
  rmdir /var/lib/tether 2>/dev/null || true
  rmdir /etc/tether 2>/dev/null || true
fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"

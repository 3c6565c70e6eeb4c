#!/usr/bin/env bash
# Make a development PKI for Tether's MQTT TLS listener (embedded broker or
# Mosquitto): a CA, a server certificate and a client certificate.
#
#   scripts/gen-certs.sh [DIR] [EXTRA_NAME...]
#
# DIR defaults to ./.cache/certs. The server certificate is valid for
# localhost, 127.0.0.1 and ::1, plus every EXTRA_NAME (a DNS name or an IP
# address, e.g. broker.lan 192.168.1.10). Set CLIENTS="node-1 node-2" to
# also make one client certificate per name (CN = name).
#
# Idempotent: existing files are kept, so running it again changes nothing
# and never replaces a CA that already signed certificates. To reissue a
# certificate (e.g. with new names), delete its .crt and run again.
#
# Files (keys are 0600):
#   ca.crt ca.key            the CA: ca.crt is the broker's ClientCAFile /
#                            Mosquitto's cafile, and what clients trust
#   server.crt server.key    the broker's CertFile/KeyFile (certfile/keyfile)
#   client.crt client.key    a client certificate for mTLS (CN=tether-client)
#   <name>.crt <name>.key    per-name client certificates from $CLIENTS
#
# For development and tests only: in production use your own PKI.
set -euo pipefail

dir=${1:-./.cache/certs}
if [ $# -gt 0 ]; then shift; fi
days=${DAYS:-825} # the longest validity Apple and browsers accept for leaves

command -v openssl >/dev/null || { echo "gen-certs: openssl is not installed" >&2; exit 1; }
mkdir -p "$dir"
umask 077

# key FILE: an EC P-256 key, unless FILE exists.
key() {
	[ -f "$1" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# leaf NAME CN EXTFILE: a certificate signed by the CA, unless NAME.crt exists.
leaf() {
	local name=$1 cn=$2 ext=$3
	[ -f "$dir/$name.crt" ] && return 0
	key "$dir/$name.key"
	openssl req -new -key "$dir/$name.key" -subj "/CN=$cn" -out "$dir/$name.csr"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -CAserial "$dir/ca.srl" -days "$days" -sha256 \
		-extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
	rm -f "$dir/$name.csr"
	chmod 0644 "$dir/$name.crt"
	echo "gen-certs: made $dir/$name.crt"
}

if [ ! -f "$dir/ca.crt" ]; then
	key "$dir/ca.key"
	openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=Tether development CA" \
		-days 3650 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$dir/ca.crt"
	chmod 0644 "$dir/ca.crt"
	echo "gen-certs: made $dir/ca.crt"
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do
	if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
		san="$san,IP:$name"
	else
		san="$san,DNS:$name"
	fi
done
cat >"$tmp" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san
EOF
leaf server tether-broker "$tmp"

cat >"$tmp" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EOF
leaf client tether-client "$tmp"
for name in ${CLIENTS:-}; do
	leaf "$name" "$name" "$tmp"
done

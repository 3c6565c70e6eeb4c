#!/usr/bin/env bash
# Measures the agent as it runs: steady RSS and CPU at 1 s and 10 s sampling,
# disk bytes written, and uplink bytes (MQTT layer, as counted by the agent's
# own connection) for change-only reporting vs sending every sample. Five
# agents run side by side against one scheduler on loopback: change-only at
# 1 s and 10 s sampling; heartbeat-only, 1 s sampling with change thresholds
# no sample reaches, so it reports once a heartbeat (60 s) whatever the host
# does: an idle device's floor, which a busy build machine cannot disturb;
# sending every 1 s sample; and sending every 100 ms sample: ten durable
# records a second through the store, each appended, published and
# acknowledged.
#
#   scripts/bench-agent.sh [SECONDS]     (default 300; KEEP=1 keeps the logs)
#
# After a warm-up: RSS (VmRSS, and its anonymous and file-backed parts, each
# its own maximum) every 5 s; CPU from /proc/<pid>/stat and disk bytes from
# write_bytes of /proc/<pid>/io (what the process sent to the block layer,
# page-cache writeback of its files included) over the rest of the run.
# "steady" uplink is measured between the first and the last report after
# the warm-up, so it excludes connecting and the birth; "whole run"
# includes them. Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
make -s build >/dev/null
dir=$(mktemp -d)
# The agents log at debug level (the steady uplink is read from their logs):
# on tmpfs, so that the log is not counted as the agents' disk writes.
logs=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
echo "bench-agent: working in $dir, logs in $logs" >&2
# Wait for the processes before removing their directory: a scheduler whose
# task store's directory is gone never finishes closing it (Badger retries
# the failed memtable flush once a second, forever).
trap 'kill $(jobs -p) 2>/dev/null || true; wait; [ -n "${KEEP:-}" ] || rm -rf "$dir" "$logs"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
creds=$dir/credentials
agents=(change-1s change-10s heartbeat-1s sendall-1s sendall-100ms)
for u in tether-scheduler "${agents[@]}"; do
  bin/tether-broker passwd -f "$creds" add "$u" 2>/dev/null > "$dir/$u.pw"
done
bin/tether-broker serve --listen "127.0.0.1:$port" --credentials-file "$creds" \
  --password-file "$dir/tether-scheduler.pw" --tasks-dir "$dir/tasks" 2> "$dir/serve.log" &
sleep 1

declare -A pid
start_agent() { # name sample-interval extra...
  local name=$1 every=$2; shift 2
  mkdir -p "$dir/$name"
  bin/tether-agent --broker "tcp://127.0.0.1:$port" --node "$name" --password-file "$dir/$name.pw" \
    --data-dir "$dir/$name" --sample-interval "$every" --log-level debug "$@" 2> "$logs/$name.log" &
  pid[$name]=$!
}
start_agent change-1s 1s
start_agent change-10s 10s
cat > "$dir/heartbeat-only.yaml" <<'YAML'
thresholds:
  cpu: {abs: 101}
  mem: {abs: 101}
  swap: {abs: 101}
  disk: {abs: 101}
  load: {abs: 1000000}
  temp: {abs: 1000000}
  net: {abs: 1.0e+15}
YAML
start_agent heartbeat-1s 1s --config "$dir/heartbeat-only.yaml"
start_agent sendall-1s 1s --send-all
start_agent sendall-100ms 100ms --send-all

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
written() { awk '/^write_bytes:/ {print $2}' "/proc/$1/io"; }
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }
now() { date +%s.%N; }
hz=$(getconf CLK_TCK)
# Warm up, then measure CPU over the rest and RSS every 5 s.
warm=$(( secs < 60 ? secs / 4 : 30 ))
sleep "$warm"
warm_until=$(date -u +%H:%M:%S)
declare -A t0 w0 rssmax anonmax filemax
for n in "${agents[@]}"; do
  t0[$n]=$(ticks "${pid[$n]}"); w0[$n]=$(written "${pid[$n]}")
  rssmax[$n]=0; anonmax[$n]=0; filemax[$n]=0
done
begin=$(now)
read -r busy0 total0 < <(busy)
end=$(( $(date +%s) + secs - warm ))
while [ "$(date +%s)" -lt "$end" ]; do
  for n in "${agents[@]}"; do
    read -r r a f < <(awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {print r, a, f}' \
      "/proc/${pid[$n]}/status")
    [ "$r" -gt "${rssmax[$n]}" ] && rssmax[$n]=$r
    [ "$a" -gt "${anonmax[$n]}" ] && anonmax[$n]=$a
    [ "$f" -gt "${filemax[$n]}" ] && filemax[$n]=$f
  done
  sleep 5
done
elapsed=$(awk -v a="$(now)" -v b="$begin" 'BEGIN { print a - b }')
read -r busy1 total1 < <(busy)
declare -A cpu disk
for n in "${agents[@]}"; do
  cpu[$n]=$(awk -v t1="$(ticks "${pid[$n]}")" -v t0="${t0[$n]}" -v hz="$hz" -v e="$elapsed" \
    'BEGIN { printf "%.3f", 100 * (t1 - t0) / hz / e }')
  disk[$n]=$(awk -v w1="$(written "${pid[$n]}")" -v w0="${w0[$n]}" -v e="$elapsed" \
    'BEGIN { printf "%.2f", (w1 - w0) * 3600 / e / 1048576 }')
done
for n in "${agents[@]}"; do kill -TERM "${pid[$n]}"; done
wait "${pid[@]}" 2>/dev/null || true

# steady LOG: bytes per second between the first and the last report sent
# after the warm-up (the log's "report sent" lines carry the byte counter).
steady() {
  grep 'msg="report sent"' "$1" | awk -v after="$warm_until" '
    { t = substr($1, 17, 8); if (t < after) next
      s = substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60 + substr(t, 7, 2)
      for (i = 1; i <= NF; i++) if ($i ~ /^uplink_sent_bytes=/) { split($i, kv, "="); b = kv[2] }
      if (n++ == 0) { s0 = s; b0 = b } s1 = s; b1 = b }
    END { if (n > 1 && s1 > s0) printf "%.2f", (b1 - b0) / (s1 - s0); else printf "n/a" }'
}

echo "measured over ${elapsed%.*} s after a ${warm} s warm-up; the machine's CPU (all cores) was" \
  "$(awk -v b="$busy1" -v b0="$busy0" -v t="$total1" -v t0="$total0" 'BEGIN { printf "%.1f", 100 * (b - b0) / (t - t0) }')%" \
  "busy meanwhile, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| agent | sampling | RSS max (MiB) | anon / file max (MiB) | CPU (% of one core) | disk written (MiB/hour) | uplink sent B/s, whole run | uplink sent B/s, steady | received B/s | sent per hour, steady |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in "${agents[@]}"; do
  line=$(grep 'tether-agent stopped' "$logs/$n.log")
  field() { sed -E "s/.*$1=([0-9]+).*/\\1/" <<< "$line"; }
  awk -v n="$n" -v every="${n#*-}" -v rss="${rssmax[$n]}" -v anon="${anonmax[$n]}" -v file="${filemax[$n]}" \
    -v cpu="${cpu[$n]}" -v disk="${disk[$n]}" -v sent="$(field uplink_sent_bytes)" \
    -v recv="$(field uplink_received_bytes)" -v ran="$(field ran_for_s)" -v st="$(steady "$logs/$n.log")" 'BEGIN {
      hour = (st == "n/a") ? "n/a" : sprintf("%.0f KiB", st * 3600 / 1024)
      printf "| %s | %s | %.2f | %.1f / %.1f | %s | %s | %.2f | %s | %.2f | %s |\n", n, every, rss / 1024,
        anon / 1024, file / 1024, cpu, disk, sent / ran, st, recv / ran, hour }'
done
# Why the change-only and heartbeat-only agents sent their reports after the warm-up.
for n in change-1s change-10s heartbeat-1s; do
  echo "$n reports by reason: $(grep 'msg="report sent"' "$logs/$n.log" |
    awk -v after="$warm_until" 'substr($1, 17, 8) >= after' | grep -o 'reason=[a-z_]*' | sort | uniq -c |
    awk '{printf "%s %s, ", $2, $1}')" >&2
done

#!/usr/bin/env bash
# Measures the agent as it runs: steady RSS and CPU at 1 s and 10 s sampling,
# and uplink bytes (MQTT layer, both directions, counted by the agent's own
# connection) for change-only reporting vs sending every sample. Agents run
# side by side against one scheduler on loopback.
#
#   scripts/bench-agent.sh [SECONDS]     (default 300)
#
# Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
make -s build >/dev/null
dir=$(mktemp -d); echo "bench-agent: working in $dir" >&2
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
creds=$dir/credentials
add() { bin/tether-broker passwd -f "$creds" add "$1" 2>/dev/null > "$dir/$1.pw"; }
for u in tether-scheduler change-1s change-10s sendall-1s; do add "$u"; done
bin/tether-broker serve --listen "127.0.0.1:$port" --credentials-file "$creds" \
  --password-file "$dir/tether-scheduler.pw" 2> "$dir/serve.log" &
sleep 1

declare -A pid
start_agent() { # name sample-interval extra...
  local name=$1 every=$2; shift 2
  mkdir -p "$dir/$name"
  bin/tether-agent --broker "tcp://127.0.0.1:$port" --node "$name" --password-file "$dir/$name.pw" \
    --data-dir "$dir/$name" --sample-interval "$every" "$@" 2> "$dir/$name.log" &
  pid[$name]=$!
}
start_agent change-1s 1s
start_agent change-10s 10s
start_agent sendall-1s 1s --send-all

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# Warm up, then measure CPU over the rest and RSS every 5 s.
warm=$(( secs < 60 ? secs / 4 : 30 ))
sleep "$warm"
declare -A t0 rssmax
for n in "${!pid[@]}"; do t0[$n]=$(ticks "${pid[$n]}"); rssmax[$n]=0; done
begin=$(date +%s.%N)
end=$(( $(date +%s) + secs - warm ))
while [ "$(date +%s)" -lt "$end" ]; do
  for n in "${!pid[@]}"; do
    r=$(awk '/VmRSS/ {print $2}' "/proc/${pid[$n]}/status")
    [ "$r" -gt "${rssmax[$n]}" ] && rssmax[$n]=$r
  done
  sleep 5
done
elapsed=$(echo "$(date +%s.%N) - $begin" | bc)
declare -A cpu
for n in "${!pid[@]}"; do
  t1=$(ticks "${pid[$n]}")
  cpu[$n]=$(echo "scale=3; 100 * ($t1 - ${t0[$n]}) / $hz / $elapsed" | bc)
done
for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}"; done
wait "${pid[@]}" 2>/dev/null || true

echo "| agent | sampling | steady RSS max (MiB) | CPU (% of one core) | uplink sent B/s | received B/s | sent per hour |"
echo "|---|---|---|---|---|---|---|"
for n in change-1s change-10s sendall-1s; do
  line=$(grep 'tether-agent stopped' "$dir/$n.log")
  sent=$(sed -E 's/.*uplink_sent_bytes=([0-9]+).*/\1/' <<< "$line")
  recv=$(sed -E 's/.*uplink_received_bytes=([0-9]+).*/\1/' <<< "$line")
  ran=$(sed -E 's/.*ran_for_s=([0-9]+).*/\1/' <<< "$line")
  every=${n#*-}
  printf "| %s | %s | %.1f | %s | %.2f | %.2f | %.0f KiB |\n" "$n" "$every" "$(echo "${rssmax[$n]} / 1024" | bc -l)" "${cpu[$n]}" \
    "$(echo "$sent / $ran" | bc -l)" "$(echo "$recv / $ran" | bc -l)" "$(echo "$sent * 3600 / $ran / 1024" | bc -l)"
done

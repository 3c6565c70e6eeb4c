#!/usr/bin/env bash
# `make load`: a simulated fleet (tether-broker loadgen) of LOAD_SIZES
# sessions (default "1000 5000 10000") against a scheduler with its embedded
# broker and against one behind Mosquitto 2 (LOAD_BROKERS, default
# "embedded mosquitto"). Each run: a connect storm, LOAD_STEADY (default
# 60s) of steady state, a mass drop and reconnect, LOAD_STEADY again, a
# graceful stop. Prints one table; exits non-zero when any run lost an
# acknowledged message (or could not run). Every run is bounded by
# loadgen's --settle waits; the whole thing by LOAD_TIMEOUT per run.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${LOAD_SIZES:-1000 5000 10000}
brokers=${LOAD_BROKERS:-embedded mosquitto}
steady=${LOAD_STEADY:-60s}
run_timeout=${LOAD_TIMEOUT:-15m}
bin=bin/tether-broker
max=0
for n in $sizes; do ((n > max)) && max=$n; done

need=$((max + 1000))
if (($(ulimit -n) < need)); then
  ulimit -n "$need" 2>/dev/null || { echo "load: need $need open files for $max sessions (ulimit -n)" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/tether-load.XXXXXX)
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "load: $max node users into $work/credentials" >&2
seq -f 'lg-%05g' "$max" | $bin passwd -f "$work/credentials" import > "$work/nodes.txt"
for u in tether-scheduler monitor monitor-r monitor-n; do
  $bin passwd -f "$work/credentials" add "$u" > "$work/$u.pw" 2>/dev/null
done

port=$((21000 + RANDOM % 20000))
wait_port() {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "load: nothing listens on 127.0.0.1:$port" >&2
  return 1
}

# mosquitto_conf DIR: the shipped configuration and ACL on this run's port,
# as broker/e2e's startMosquitto makes them, with a user for each monitor.
mosquitto_conf() {
  local dir=$1
  # shellcheck disable=SC2016 # the ${...} are the ACL template's, replaced literally
  sed -e 's/\${REGION}/default/g' -e 's/\${SCHEDULER_USER}/tether-scheduler/g' \
    -e 's/\${MONITOR_USER}/monitor/g' -e 's/\${OPERATOR_USER}/operator/g' deploy/mosquitto/tether.acl > "$dir/tether.acl"
  printf 'user monitor-r\ntopic read tether/v1/#\nuser monitor-n\ntopic read tether/v1/#\n' >> "$dir/tether.acl"
  awk -v creds="$work/credentials" -v acl="$dir/tether.acl" -v pers="$dir/" '
    /^listener/ { exit }
    /^password_file/ { print "password_file " creds; next }
    /^acl_file/ { print "acl_file " acl; next }
    /^persistence_location/ { print "persistence_location " pers; next }
    { print }' deploy/mosquitto/mosquitto.conf > "$dir/mosquitto.conf"
  [ "$(id -u)" = 0 ] && echo "user root" >> "$dir/mosquitto.conf"
  printf 'listener %d 127.0.0.1\nuse_username_as_clientid true\nmax_connections -1\n' "$port" >> "$dir/mosquitto.conf"
}

status=0
results=()
for b in $brokers; do
  for n in $sizes; do
    dir=$work/$b-$n
    mkdir -p "$dir"
    port=$((port + 1))
    watch=""
    pids=()
    case $b in
      embedded)
        # Every simulated node connects from 127.0.0.1; a fleet's nodes
        # have addresses of their own.
        printf 'embedded:\n  max_unauthenticated_per_address: -1\n' > "$dir/broker.yaml"
        $bin serve --config "$dir/broker.yaml" --listen "127.0.0.1:$port" --credentials-file "$work/credentials" \
          --monitor-user monitor --monitor-user monitor-r --monitor-user monitor-n \
          --password-file "$work/tether-scheduler.pw" --tasks-dir "$dir/tasks" --log-level warn 2> "$dir/serve.log" &
        pids+=($!)
        watch="scheduler=$!"
        wait_port
        ;;
      mosquitto)
        mosquitto_conf "$dir"
        mosquitto -c "$dir/mosquitto.conf" 2> "$dir/mosquitto.log" &
        pids+=($!)
        watch="mosquitto=$!"
        wait_port
        $bin serve --mqtt-url "tcp://127.0.0.1:$port" --password-file "$work/tether-scheduler.pw" \
          --tasks-dir "$dir/tasks" --log-level warn 2> "$dir/serve.log" &
        pids+=($!)
        watch="$watch,scheduler=$!"
        ;;
      *) echo "load: unknown broker $b (embedded or mosquitto)" >&2; exit 2 ;;
    esac
    echo "load: $b, $n sessions (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    if ! timeout "$run_timeout" $bin loadgen --broker "127.0.0.1:$port" --nodes-file "$work/nodes.txt" --sessions "$n" \
      --monitor-password-file "$work/monitor.pw" --check-user monitor-r --check-password-file "$work/monitor-r.pw" \
      --nodes-user monitor-n --nodes-password-file "$work/monitor-n.pw" \
      --steady "$steady" --watch "$watch" --label "$b" --result "$dir/result.json" --log-level warn; then
      status=1
      echo "load: $b with $n sessions failed; the scheduler's log ends:" >&2
      tail -20 "$dir/serve.log" >&2
    fi
    [ -s "$dir/result.json" ] && results+=("$dir/result.json")
    for ((i=${#pids[@]}-1; i>=0; i--)); do
      kill -TERM "${pids[$i]}" 2>/dev/null || true
      wait "${pids[$i]}" 2>/dev/null || true
    done
    pids=()
  done
done

echo
echo "load: $(date -u +%FT%TZ), $(nproc) cores, $(uname -r); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#results[@]} > 0)); then
  $bin loadgen --table "${results[@]}" || status=1
fi
exit $status

#!/usr/bin/env bash
# `make load`: a simulated fleet (tether-broker loadgen) of LOAD_SIZES
# sessions (default "1000 5000 10000") against a scheduler with its embedded
# broker and against one behind Mosquitto 2 (LOAD_BROKERS, default
# "embedded mosquitto"; "nats" is a 3-node NATS cluster from deploy/nats on
# this machine). Each run: a connect storm (or the first connects spread
# over LOAD_RAMP, e.g. 60s), LOAD_STEADY (default 60s) of steady state, a mass drop and reconnect, LOAD_STEADY again, a
# graceful stop. Prints one table; exits non-zero when any run lost an
# acknowledged message (or could not run). Every run is bounded by
# loadgen's --settle waits; the whole thing by LOAD_TIMEOUT per run.
# LOAD_KEEP=1 keeps the run's directory (logs, credentials); LOAD_HTTP=1
# has each scheduler serve /metrics, at the address it prints (LOAD_HTTP=pprof
# also /debug/pprof/); LOAD_NATS_SPREAD=1 spreads the nats runs' sessions over
# the cluster's three nodes.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${LOAD_SIZES:-1000 5000 10000}
brokers=${LOAD_BROKERS:-embedded mosquitto}
steady=${LOAD_STEADY:-60s}
ramp=${LOAD_RAMP:-0s}
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
  if [ -n "${LOAD_KEEP:-}" ]; then
    echo "load: kept $work" >&2
  else
    rm -rf "$work"
  fi
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

# nats_conf DIR BASE: a 3-node NATS cluster from deploy/nats/nats.conf in
# DIR/n1..n3, node i's MQTT on port BASE+10i, core NATS on +1, routes on +2;
# users and ACL from a bcrypt copy of the credentials (tether-broker
# natsconf), with the monitors the run uses.
nats_conf() {
  local dir=$1 base=$2 i
  [ -s "$work/credentials.bcrypt" ] || {
    $bin passwd --hash bcrypt -f "$work/credentials.bcrypt" import "$work/nodes.txt" >/dev/null 2>&1
    for u in tether-scheduler monitor monitor-r monitor-n; do
      $bin passwd --hash bcrypt -f "$work/credentials.bcrypt" --password-file "$work/$u.pw" add "$u" 2>/dev/null
    done
  }
  $bin natsconf -f "$work/credentials.bcrypt" --region default --scheduler tether-scheduler \
    --monitor monitor --monitor monitor-r --monitor monitor-n > "$dir/tether-auth.conf"
  for i in 1 2 3; do
    mkdir -p "$dir/n$i"
    cp "$dir/tether-auth.conf" "$dir/n$i/"
    # shellcheck disable=SC2016 # the ${...} are the template's, replaced literally
    sed -e "s/\${NAME}/n$i/" -e 's/\${REGION}/default/' -e "s|\${STORE}|$dir/n$i/js|" \
      -e 's/\${ROUTE_USER}/route/g' -e 's/\${ROUTE_PASSWORD}/route-pw/g' \
      -e "s/\${PEER1}:6222/127.0.0.1:$((base + 12))/" -e "s/\${PEER2}:6222/127.0.0.1:$((base + 22))/" \
      -e "s/\${PEER3}:6222/127.0.0.1:$((base + 32))/" \
      -e "s/listen: [0-9.]*:4222/listen: 127.0.0.1:$((base + 10 * i + 1))/" \
      -e "s/listen: 0.0.0.0:1883/listen: 127.0.0.1:$((base + 10 * i))/" \
      -e "s/listen: 0.0.0.0:6222/listen: 127.0.0.1:$((base + 10 * i + 2))/" deploy/nats/nats.conf > "$dir/n$i/nats.conf"
    # Monitoring, for the readiness check below.
    printf 'http: 127.0.0.1:%d\n' $((base + 10 * i + 3)) >> "$dir/n$i/nats.conf"
  done
}

# nats_ready BASE: waits until every node's /healthz answers 200 (JetStream
# formed, with a metadata leader): before that NATS refuses MQTT clients.
nats_ready() {
  local base=$1 i status
  for i in 1 2 3; do
    for _ in $(seq 600); do
      status=""
      if exec 3<>"/dev/tcp/127.0.0.1/$((base + 10 * i + 3))"; then
        printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
        read -r _ status _ <&3 || true
        exec 3>&-
      fi 2>/dev/null
      [ "$status" = 200 ] && break
      sleep 0.2
    done
    [ "$status" = 200 ] || { echo "load: nats node $i not healthy" >&2; return 1; }
  done
}

status=0
results=()
for b in $brokers; do
  for n in $sizes; do
    dir=$work/$b-$n
    mkdir -p "$dir"
    port=$((port + 1))
    # LOAD_HTTP=1: the scheduler serves /metrics (the Go runtime's heap and
    # stacks beside the RSS the table shows) on port + 5000; LOAD_HTTP=pprof
    # also Go's profiles under /debug/pprof/.
    http_args=()
    if [ -n "${LOAD_HTTP:-}" ]; then
      http_args=(--http-listen "127.0.0.1:$((port + 5000))")
      [ "$LOAD_HTTP" = pprof ] && http_args+=(--http-pprof)
      echo "load: $b-$n scheduler metrics on http://127.0.0.1:$((port + 5000))/metrics" >&2
    fi
    watch=""
    lg_brokers=""
    pids=()
    # The stream checker reads every node message: a persistent session
    # the broker must deliver each acknowledged message to. The embedded
    # broker waits only for schedulers' and nodes' sessions (a monitor's
    # holds nobody: docs/protocol.md), so there it connects as the
    # scheduler's user, with a client id of its own.
    stream_user=monitor
    case $b in
      embedded)
        stream_user=tether-scheduler
        # Every simulated node connects from 127.0.0.1; a fleet's nodes
        # have addresses of their own.
        printf 'embedded:\n  max_unauthenticated_per_address: -1\n' > "$dir/broker.yaml"
        $bin serve --config "$dir/broker.yaml" --listen "127.0.0.1:$port" --credentials-file "$work/credentials" \
          --monitor-user monitor --monitor-user monitor-r --monitor-user monitor-n \
          --password-file "$work/tether-scheduler.pw" --tasks-dir "$dir/tasks" "${http_args[@]}" --log-level warn 2> "$dir/serve.log" &
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
          --tasks-dir "$dir/tasks" "${http_args[@]}" --log-level warn 2> "$dir/serve.log" &
        pids+=($!)
        watch="$watch,scheduler=$!"
        ;;
      nats)
        # Three nodes on this one machine: the agents' sessions on node 1
        # (LOAD_NATS_SPREAD=1: node i's on the (i mod 3)-th, each moving
        # down the list as an agent does), the scheduler on node 2,
        # JetStream replicas on all three.
        base=$port
        port=$((base + 10))
        [ -n "${LOAD_NATS_SPREAD:-}" ] && lg_brokers="127.0.0.1:$((base + 10)),127.0.0.1:$((base + 20)),127.0.0.1:$((base + 30))"
        nats_conf "$dir" "$base"
        nats_bin=.cache/bin/nats-server-v2.15.3 # scripts/install-deps.sh builds it
        [ -x "$nats_bin" ] || { echo "load: no $nats_bin; run make deps" >&2; exit 1; }
        for i in 1 2 3; do
          "$nats_bin" -c "$dir/n$i/nats.conf" 2> "$dir/n$i.log" &
          pids+=($!)
          watch="${watch:+$watch,}nats-$i=$!"
        done
        wait_port
        nats_ready "$base"
        $bin serve --mqtt-url "tcp://127.0.0.1:$((base + 20))" --mqtt-url "tcp://127.0.0.1:$((base + 30))" \
          --password-file "$work/tether-scheduler.pw" --tasks-dir "$dir/tasks" "${http_args[@]}" --log-level warn 2> "$dir/serve.log" &
        pids+=($!)
        watch="$watch,scheduler=$!"
        ;;
      *) echo "load: unknown broker $b (embedded, mosquitto or nats)" >&2; exit 2 ;;
    esac
    echo "load: $b, $n sessions (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    if ! timeout "$run_timeout" $bin loadgen --broker "${lg_brokers:-127.0.0.1:$port}" --nodes-file "$work/nodes.txt" --sessions "$n" \
      --monitor-user "$stream_user" --monitor-password-file "$work/$stream_user.pw" --check-user monitor-r --check-password-file "$work/monitor-r.pw" \
      --nodes-user monitor-n --nodes-password-file "$work/monitor-n.pw" \
      --steady "$steady" --ramp "$ramp" --watch "$watch" --label "$b" --result "$dir/result.json" --log-level warn; then
      status=1
      echo "load: $b with $n sessions failed; the scheduler's log ends:" >&2
      tail -20 "$dir/serve.log" >&2
    fi
    [ -s "$dir/result.json" ] && results+=("$dir/result.json")
    [ "$b" = nats ] && port=$((base + 40))
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

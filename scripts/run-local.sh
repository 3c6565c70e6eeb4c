#!/usr/bin/env bash
# `make run`: one scheduler with its embedded broker on loopback and one
# agent for this machine, with fresh credentials under .cache/run/.
# Ctrl-C stops both: the agent first, so its goodbye (offline, shutdown)
# goes out while the broker still runs, then the scheduler.
#
# TETHER_PORT (default 1883), TETHER_HTTP_PORT (default 9883: /metrics,
# /healthz, /readyz), TETHER_RUN_DIR (default .cache/run) and
# TETHER_BIN_DIR (default bin) move what it uses; tests set them.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${TETHER_PORT:-1883}
http_port=${TETHER_HTTP_PORT:-9883}
state=${TETHER_RUN_DIR:-.cache/run}
mkdir -p "$state/agent"
chmod 700 "$state"
creds=$state/credentials
bin=${TETHER_BIN_DIR:-bin}
broker=$bin/tether-broker
agent=$bin/tether-agent

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "run: port $port on 127.0.0.1 is taken (another broker?). Free it or run TETHER_PORT=11883 make run" >&2
  exit 1
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then
  echo "run: port $http_port on 127.0.0.1 is taken. Free it or run TETHER_HTTP_PORT=19883 make run" >&2
  exit 1
fi

node=$($agent --print-node-id)
pw() { # user file: create the user with a random password unless it exists
  if [ ! -s "$2" ] || ! grep -q "^$1:" "$creds" 2>/dev/null; then
    $broker passwd -f "$creds" add "$1" 2>/dev/null > "$2"
    chmod 600 "$2"
  fi
}
pw tether-scheduler "$state/scheduler.pw"
pw monitor "$state/monitor.pw"
pw "$node" "$state/agent.pw"
pw operator "$state/operator.pw"

# The scheduler signs task assignments; the agent pins its public key.
key=$state/scheduler.key
[ -s "$key" ] || $broker keygen -o "$key" > /dev/null 2>&1
pub=$($broker keygen --public "$key")
cat > "$state/example-task.yaml" <<YAML
# A checkpointable builtin task: 300 units of hashing, about 3 s on a Pi 4 core.
kind: builtin
builtin: {name: cpu, units: 300, checkpoint_every: 30}
checkpointable: true
YAML

pids=()
stop() {
  trap - INT TERM
  echo
  echo "run: stopping" >&2
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  exit 0
}
trap stop INT TERM

# Each child runs in its own process group, so a terminal's Ctrl-C (SIGINT
# to the whole foreground group) reaches only this script, which stops them
# in order; otherwise both get the signal at once and the scheduler is gone
# before the agent's goodbye arrives.
set -m

$broker serve --listen "127.0.0.1:$port" --http-listen "127.0.0.1:$http_port" --credentials-file "$creds" --password-file "$state/scheduler.pw" \
  --tasks-dir "$state/tasks" --signing-key-file "$key" &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
$agent --broker "tcp://127.0.0.1:$port" --password-file "$state/agent.pw" --data-dir "$state/agent" \
  --sample-interval 2s --heartbeat 30s --scheduler-key "$pub" &
pids+=($!)

monitor_pw=$(cat "$state/monitor.pw")
cat >&2 <<TXT

  Tether is running: scheduler + embedded MQTT broker on 127.0.0.1:$port, one agent ($node).

  Watch the fleet:
    bin/tether-broker nodes --broker tcp://127.0.0.1:$port --password-file $state/monitor.pw
  Watch every topic (retained node status, metrics, fleet, tasks):
    mosquitto_sub -h 127.0.0.1 -p $port -u monitor -P '$monitor_pw' -t 'tether/v1/#' -v
  The live web dashboard (log in as monitor or operator, passwords in $state/*.pw):
    http://127.0.0.1:$http_port/
  Prometheus metrics, health and readiness (docs/metrics.md):
    http://127.0.0.1:$http_port/metrics  /healthz  /readyz
  Run a task and follow it (docs/tasks.md):
    bin/tether-broker submit -f $state/example-task.yaml --wait --broker tcp://127.0.0.1:$port --password-file $state/operator.pw
    bin/tether-broker tasks --broker tcp://127.0.0.1:$port --password-file $state/operator.pw

  Ctrl-C stops both.

TXT
wait -n "${pids[@]}" || true
stop

#!/usr/bin/env bash
# A local multi-node Ray cluster on this machine: one head and N worker nodes, each a separate
# `ray start --block` process with its own --num-cpus and temp dir, so that a sweep meets
# several raylets and object stores exactly as on a real cluster.
#
#   cluster/local.sh start  [--workers N] [--cpus C] [--head-cpus C] [--port P]
#                           [--dashboard-port D] [--object-store-memory BYTES] [--dir DIR]
#   cluster/local.sh status [--port P | --dir DIR]
#   cluster/local.sh stop   [--port P | --dir DIR] [--all]
#
# Defaults: 2 workers, 1 CPU per node, GCS port 6390 (not Ray's 6379, so clusters started by
# plain `ray start` or `ray.init()` are left alone), dashboard port 8290, state and logs in
# /tmp/gridbt-ray-<port>. Environment: RAY (the ray executable; default: `ray` on PATH),
# GRIDBT_RAY_PORT, GRIDBT_RAY_DASHBOARD_PORT, GRIDBT_RAY_WORKERS, GRIDBT_RAY_CPUS,
# GRIDBT_RAY_DIR, GRIDBT_RAY_START_TIMEOUT (seconds per node, default 120),
# GRIDBT_RAY_STOP_GRACE (seconds, default 30), RAY_AUTH_MODE (token, the default, or disabled).
#
# Authentication: every node gets the same RAY_AUTH_MODE. With token (Ray's default for new
# clusters) the token is RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH, else
# ~/.ray/auth_token (generated if missing), and clients need RAY_AUTH_MODE=token too.
#
# What stop does: `ray stop` kills every Ray process of the user on the machine (other
# clusters, other sessions' `ray.init()`), so stop does not call it. Each node runs in a
# session of its own (setsid) and its pid is recorded in DIR/nodes; stop sends SIGTERM to those
# `ray start --block` processes (Ray then shuts down that node's raylet, GCS, dashboard and
# workers), waits, and kills whatever is left in those sessions. Only `stop --all` runs the
# global `ray stop`.
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

die() {
  echo "local.sh: $*" >&2
  exit 1
}

[[ $# -ge 1 ]] || usage
command=$1
shift

port=${GRIDBT_RAY_PORT:-6390}
dashboard_port=${GRIDBT_RAY_DASHBOARD_PORT:-8290}
workers=${GRIDBT_RAY_WORKERS:-2}
cpus=${GRIDBT_RAY_CPUS:-1}
head_cpus=""
object_store_memory=""
dir=${GRIDBT_RAY_DIR:-}
stop_all=0
start_timeout=${GRIDBT_RAY_START_TIMEOUT:-120}
stop_grace=${GRIDBT_RAY_STOP_GRACE:-30}
auth_mode=${RAY_AUTH_MODE:-token}

while [[ $# -gt 0 ]]; do
  [[ $1 == --all || $1 == -h || $1 == --help || $# -ge 2 ]] || die "$1 needs a value"
  case $1 in
    --workers) workers=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --head-cpus) head_cpus=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --dashboard-port) dashboard_port=$2; shift 2 ;;
    --object-store-memory) object_store_memory=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --all) stop_all=1; shift ;;
    -h | --help) usage ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

head_cpus=${head_cpus:-$cpus}
for value in "$port" "$dashboard_port" "$workers" "$cpus" "$head_cpus" "$start_timeout" \
  "$stop_grace" ${object_store_memory:+"$object_store_memory"}; do
  [[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value'"
done
[[ $auth_mode == token || $auth_mode == disabled ]] ||
  die "RAY_AUTH_MODE must be token or disabled, not '$auth_mode'"

# Unix socket paths live under DIR and are limited to ~100 characters, hence a short default.
dir=${dir:-/tmp/gridbt-ray-$port}
nodes_file=$dir/nodes
state_file=$dir/cluster.env
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# status and stop use the ports and auth mode that start used.
if [[ $command != start && -f $state_file ]]; then
  while IFS='=' read -r key value; do
    case $key in
      port) port=$value ;;
      dashboard_port) dashboard_port=$value ;;
      auth_mode) auth_mode=$value ;;
    esac
  done <"$state_file"
fi
address=127.0.0.1:$port
dashboard=http://127.0.0.1:$dashboard_port

ray_bin=${RAY:-$(command -v ray || true)}
[[ -n $ray_bin && -x $ray_bin ]] || die "no ray executable: put ray on PATH or set RAY=/path/to/ray"

# True when pid is alive and still the `ray start` of this node (pids get reused).
is_our_node() {
  local pid=$1 node_dir=$2 args
  args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 1
  [[ $args == *"ray"*"start"*"--temp-dir $node_dir "* ]]
}

# session_members TEXT SID...: pids of the processes in those sessions (each node runs in a
# session of its own) whose command line contains TEXT (empty: all). Needs a ps with a `sid`
# column (Linux); elsewhere stop relies on Ray shutting each node down.
session_members() {
  local text=$1
  shift
  ps -A -ww -o pid= -o sid= -o args= 2>/dev/null | TEXT=$text awk -v sids=" $* " \
    'index(sids, " " $2 " ") && index($0, ENVIRON["TEXT"]) { print $1 }'
}

# Live recorded nodes, one "name pid" per line.
live_nodes() {
  [[ -f $nodes_file ]] || return 0
  local name pid
  while read -r name pid; do
    if is_our_node "$pid" "$dir/$name"; then echo "$name $pid"; fi
  done <"$nodes_file"
}

wait_gone() {
  local deadline=$((SECONDS + $1)) pid
  shift
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  done
}

stop_nodes() {
  local -a worker_pids=() head_pids=() live=() dead=() leftovers=()
  local name pid
  while read -r name pid; do
    live+=("$pid")
    if [[ $name == head ]]; then head_pids+=("$pid"); else worker_pids+=("$pid"); fi
  done < <(live_nodes)
  # Workers first: a worker that loses its head waits for the GCS to come back before exiting.
  if [[ ${#worker_pids[@]} -gt 0 ]]; then
    kill -TERM "${worker_pids[@]}" 2>/dev/null || true
    wait_gone "$stop_grace" "${worker_pids[@]}"
  fi
  if [[ ${#head_pids[@]} -gt 0 ]]; then
    kill -TERM "${head_pids[@]}" 2>/dev/null || true
    wait_gone "$stop_grace" "${head_pids[@]}"
  fi
  # Whatever outlived its node (a stuck raylet, an orphaned worker) is still in its session.
  # The sessions of nodes seen alive just now are ours; the id of a session whose node died
  # earlier may since have been reused, so there only processes naming DIR are taken.
  if [[ -f $nodes_file ]]; then
    while read -r name pid; do
      [[ " ${live[*]-} " == *" $pid "* ]] || dead+=("$pid")
    done <"$nodes_file"
  fi
  if [[ ${#live[@]} -gt 0 ]]; then
    while read -r pid; do leftovers+=("$pid"); done < <(session_members "" "${live[@]}")
  fi
  if [[ ${#dead[@]} -gt 0 ]]; then
    while read -r pid; do leftovers+=("$pid"); done < <(session_members "$dir/" "${dead[@]}")
  fi
  if [[ ${#leftovers[@]} -gt 0 ]]; then
    kill -TERM "${leftovers[@]}" 2>/dev/null || true
    wait_gone 5 "${leftovers[@]}"
    kill -KILL "${leftovers[@]}" 2>/dev/null || true
  fi
  # Only what start created is removed: DIR may be a directory the user chose.
  if [[ -f $nodes_file ]]; then
    while read -r name pid; do rm -rf "${dir:?}/$name" "${dir:?}/$name.log"; done <"$nodes_file"
  fi
  rm -f "$nodes_file" "$state_file"
  rmdir "$dir" 2>/dev/null || true
}

ensure_token() {
  [[ $auth_mode == token && -z ${RAY_AUTH_TOKEN:-} ]] || return 0
  if [[ -n ${RAY_AUTH_TOKEN_PATH:-} ]]; then
    [[ -s $RAY_AUTH_TOKEN_PATH ]] || die "RAY_AUTH_TOKEN_PATH=$RAY_AUTH_TOKEN_PATH is missing"
  elif [[ ! -s $HOME/.ray/auth_token ]]; then
    "$ray_bin" get-auth-token --generate >/dev/null
  fi
}

# Start one node in the background, in its own session, and wait until Ray reports it started.
launch() {
  local name=$1 pid deadline
  shift
  local node_dir=$dir/$name log=$dir/$name.log
  mkdir -p "$node_dir"
  # setsid detaches the node from this terminal and gives stop a session to sweep. RAY's own
  # directory goes first on PATH so that jobs find the `gridbt` installed next to it. Heads
  # pick token auth by themselves when a token file exists but joining nodes do not, hence one
  # explicit RAY_AUTH_MODE. Draining on SIGTERM only matters for Ray Serve and delays stop.
  (
    PATH="$(dirname "$ray_bin"):$PATH"
    export PATH
    export RAY_AUTH_MODE=$auth_mode
    export RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=${RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S:-0}
    trap '' HUP
    if command -v setsid >/dev/null; then
      exec setsid "$ray_bin" start --block --temp-dir "$node_dir" "$@"
    else
      exec "$ray_bin" start --block --temp-dir "$node_dir" "$@"
    fi
  ) </dev/null >"$log" 2>&1 &
  pid=$!
  echo "$name $pid" >>"$nodes_file"
  deadline=$((SECONDS + start_timeout))
  until grep -q "Ray runtime started" "$log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "local.sh: node $name did not start; last lines of $log:" >&2
      tail -n 25 "$log" >&2 || true
      stop_nodes
      exit 1
    fi
    sleep 0.5
  done
}

cmd_start() {
  [[ -z $(live_nodes) ]] || die "a cluster is already running in $dir (stop it first)"
  ensure_token
  mkdir -p "$dir"
  rm -f "$nodes_file"
  printf 'port=%s\ndashboard_port=%s\nauth_mode=%s\n' "$port" "$dashboard_port" "$auth_mode" \
    >"$state_file"
  local -a common=(--disable-usage-stats --log-style record --log-color false
    --dashboard-agent-listen-port 0)
  if [[ -n $object_store_memory ]]; then common+=(--object-store-memory "$object_store_memory"); fi
  # Explicit --num-cpus everywhere: left to Ray, every node would claim all the machine's cores.
  # Agent ports are random (0) and the client server sits next to the GCS port, so several
  # nodes, and several clusters, fit on one machine.
  launch head --head --port "$port" --num-cpus "$head_cpus" --dashboard-port "$dashboard_port" \
    --ray-client-server-port $((port + 1)) "${common[@]}"
  local i
  for ((i = 1; i <= workers; i++)); do
    launch "worker-$i" --address "$address" --num-cpus "$cpus" "${common[@]}"
  done

  local sweep=$repo/jobs/sweeps/short_put_grid.yaml out=$PWD/sweeps/short_put_grid auth=""
  local where="--port $port"
  [[ $dir == "/tmp/gridbt-ray-$port" ]] || where="--dir $dir"
  if [[ $auth_mode == token ]]; then
    auth=$'Clients of this cluster need Ray\'s auth token:\n  export RAY_AUTH_MODE=token\n\n'
  fi
  cat <<EOF
Local Ray cluster up: head ($head_cpus CPU) + $workers worker node(s) ($cpus CPU each)
  address    $address
  dashboard  $dashboard
  state      $dir (one log per node)

${auth}Run a sweep against it:
  gridbt sweep $sweep --address $address

Submit the same sweep as a Ray job (it runs on the head node):
  ray job submit --address $dashboard -- gridbt sweep $sweep --address auto --out $out

Status / stop:
  $0 status $where
  $0 stop $where
EOF
}

cmd_status() {
  local running line
  running=$(live_nodes)
  if [[ -z $running ]]; then
    echo "no local cluster running in $dir"
    return 1
  fi
  echo "nodes (name pid) in $dir:"
  while read -r line; do echo "  $line"; done <<<"$running"
  echo "address $address, dashboard $dashboard, auth $auth_mode"
  RAY_AUTH_MODE=$auth_mode "$ray_bin" status --address "$address"
}

cmd_stop() {
  if [[ $stop_all -eq 1 ]]; then
    echo "local.sh: --all: running 'ray stop', which stops EVERY Ray process of this user" >&2
    "$ray_bin" stop
  elif [[ ! -f $nodes_file ]]; then
    echo "no local cluster recorded in $dir"
    return 0
  fi
  stop_nodes
  echo "stopped the local cluster at $address"
}

case $command in
  start) cmd_start ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  -h | --help | help) usage ;;
  *) die "unknown command '$command' (start, status or stop)" ;;
esac

#!/usr/bin/env bash
# provision.sh: the steps that make one minsw node, shared by the netns lab
# (e2e/lab, run inside the node's network namespace) and the Vagrantfile (run
# as root inside each VM). One step per call:
#
#   provision.sh packages          install containerd, runc, nftables, iproute2, ipvsadm, curl
#   provision.sh install-minsw     copy $MINSW_SRC (default /vagrant/bin/minsw) to $MINSW_BIN,
#                                  or build it with Go from $MINSW_REPO when there is no copy
#   provision.sh start-daemon      start `minsw daemon` in the background; PID in $DAEMON_PIDFILE
#   provision.sh init              `minsw swarm init`; the worker join command goes to $JOIN_FILE
#   provision.sh join [TOKEN MGR]  `minsw swarm join` (TOKEN and MGR default to $JOIN_FILE's)
#
# Settings (environment):
#   NODE_NAME NODE_IP                       this node (e.g. swarm-manager 192.168.56.10)
#   MINSW_BIN                               the minsw binary (default /usr/local/bin/minsw)
#   DATA_ROOT EXEC_ROOT                     default /var/lib/minsw and /var/run/minsw
#   CONTAINERD_SOCK                         default /run/containerd/containerd.sock
#   REGISTRY_MIRROR                         e.g. http://192.168.56.5:5000; "" pulls from Docker Hub
#   DAEMON_LOG DAEMON_PIDFILE               default $DATA_ROOT/daemon.log, $DATA_ROOT/daemon.pid
#   DAEMON_EXTRA_FLAGS                      extra daemon flags (the lab: --heartbeat-period 1s)
#   JOIN_FILE                               where init writes, and join reads, the join command
set -euo pipefail

MINSW_BIN=${MINSW_BIN:-/usr/local/bin/minsw}
DATA_ROOT=${DATA_ROOT:-/var/lib/minsw}
EXEC_ROOT=${EXEC_ROOT:-/var/run/minsw}
CONTAINERD_SOCK=${CONTAINERD_SOCK:-/run/containerd/containerd.sock}
REGISTRY_MIRROR=${REGISTRY_MIRROR:-}
DAEMON_LOG=${DAEMON_LOG:-$DATA_ROOT/daemon.log}
DAEMON_PIDFILE=${DAEMON_PIDFILE:-$DATA_ROOT/daemon.pid}
DAEMON_EXTRA_FLAGS=${DAEMON_EXTRA_FLAGS:-}
JOIN_FILE=${JOIN_FILE:-/vagrant/.minsw-join}
export MINSW_HOST=unix://$EXEC_ROOT/minsw.sock

need() { [ -n "${!1:-}" ] || { echo "provision: $1 is not set" >&2; exit 2; }; }

step=${1:-}
shift || true
case "$step" in
packages)
  pkgs=(containerd runc nftables iproute2 ipvsadm curl ca-certificates)
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "provision: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  ;;
install-minsw)
  src=${MINSW_SRC:-/vagrant/bin/minsw}
  if [ -x "$src" ]; then
    install -m 0755 "$src" "$MINSW_BIN"
  elif command -v go >/dev/null && [ -n "${MINSW_REPO:-}" ]; then
    (cd "$MINSW_REPO" && go build -o "$MINSW_BIN" ./cmd/minsw)
  else
    echo "provision: no minsw at $src (run 'make build' on the host) and no Go to build it" >&2
    exit 1
  fi
  ;;
start-daemon)
  need NODE_NAME; need NODE_IP
  mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$DAEMON_LOG")" "$(dirname "$DAEMON_PIDFILE")"
  if [ -f "$DAEMON_PIDFILE" ] && kill -0 "$(cat "$DAEMON_PIDFILE")" 2>/dev/null; then
    echo "provision: minsw daemon already running (pid $(cat "$DAEMON_PIDFILE"))"
    exit 0
  fi
  flags=(--node-name "$NODE_NAME" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT"
         --listen-addr "$NODE_IP:2377" --advertise-addr "$NODE_IP"
         --executor containerd --containerd "$CONTAINERD_SOCK")
  [ -n "$REGISTRY_MIRROR" ] && flags+=(--registry-mirror "$REGISTRY_MIRROR")
  # shellcheck disable=SC2206 # word splitting of the extra flags is wanted
  flags+=($DAEMON_EXTRA_FLAGS)
  # setsid: its own session, so a ^C to whoever ran this does not reach it.
  # Started in the background of this non-interactive shell, setsid execs in
  # place, so $! is the daemon's own PID.
  setsid "$MINSW_BIN" daemon "${flags[@]}" </dev/null >>"$DAEMON_LOG" 2>&1 &
  echo $! >"$DAEMON_PIDFILE"
  for _ in $(seq 100); do
    [ -S "$EXEC_ROOT/minsw.sock" ] && exit 0
    kill -0 "$(cat "$DAEMON_PIDFILE")" 2>/dev/null || break
    sleep 0.1
  done
  echo "provision: minsw daemon on $NODE_NAME did not open $EXEC_ROOT/minsw.sock; log $DAEMON_LOG:" >&2
  tail -20 "$DAEMON_LOG" >&2
  exit 1
  ;;
init)
  need NODE_IP
  out=$("$MINSW_BIN" swarm init --advertise-addr "$NODE_IP")
  echo "$out"
  join=$(echo "$out" | grep -m1 'swarm join --token' | sed 's/^ *//')
  [ -n "$join" ] || { echo "provision: no join command in the init output" >&2; exit 1; }
  mkdir -p "$(dirname "$JOIN_FILE")"
  echo "$join" >"$JOIN_FILE"
  ;;
join)
  token=${1:-}; mgr=${2:-}
  if [ -z "$token" ]; then
    for _ in $(seq 300); do [ -s "$JOIN_FILE" ] && break; sleep 1; done
    read -r -a words <"$JOIN_FILE"
    token=${words[4]}; mgr=${words[5]}
  fi
  "$MINSW_BIN" swarm join --token "$token" "$mgr"
  ;;
*)
  sed -n '2,25p' "$0" >&2
  exit 2
  ;;
esac

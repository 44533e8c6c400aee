#!/usr/bin/env bash
# Until the three-node lab lands (e2e/lab), `make lab` runs this: a
# single-node swarm with the in-memory executor (no containers), replaying
# the seed's control-plane commands. Everything lives in a temp dir and the
# daemon is stopped by its PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin/minsw
D=$(mktemp -d /tmp/minsw-demo.XXXXXX)
"$BIN" daemon --executor fake --node-name swarm-manager --data-root "$D/data" --exec-root "$D/run" \
  --listen-addr 127.0.0.1:23770 --log-level warn >"$D/daemon.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$D"' EXIT
export MINSW_HOST=unix://$D/run/minsw.sock MINSW_VERIFY_SECONDS=${MINSW_VERIFY_SECONDS:-5}
for _ in $(seq 50); do [ -S "$D/run/minsw.sock" ] && break; sleep 0.1; done
run() { echo "\$ minsw $*"; "$BIN" "$@"; echo; }
run swarm init --advertise-addr 127.0.0.1
run network create -d overlay mynet
run network ls
run service create --name web --network mynet --replicas 2 containous/whoami
run service ls
run service ps web
run service create --name client --network mynet xiaopeng163/net-box:latest ping 8.8.8.8
run service ls
run node ls
run container ls
echo "(single-node demo with the in-memory executor: no containers were started)"

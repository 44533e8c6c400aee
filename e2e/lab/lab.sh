#!/usr/bin/env bash
# lab.sh: the three-node minsw lab in network namespaces (see e2e/README.md).
#   lab.sh up [docker]   build, bring the lab up, replay the tutorial (leaves it up);
#                        with docker, typed with the real docker CLI instead of minsw
#   lab.sh down          stop everything the lab started and remove it all
#   lab.sh shell NODE    a shell on NODE (swarm-manager, swarm-worker1, swarm-worker2,
#                        minsw-registry) where `minsw` talks to that node's daemon
# The lab lives in $MINSW_LAB_DIR (default /var/lib/minsw-lab). Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
DIR=${MINSW_LAB_DIR:-/var/lib/minsw-lab}
LABCTL=bin/labctl

build_labctl() {
  go build -o "$LABCTL" ./e2e/lab/cmd/labctl
}

case "${1:-}" in
up)
  t0=$(date +%s%N)
  e2e/lab/provision.sh packages
  [ -x bin/minsw ] || go build -o bin/minsw ./cmd/minsw
  build_labctl
  "$LABCTL" up --repo . --dir "$DIR" --minsw "$PWD/bin/minsw" --tool "${2:-minsw}"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '== lab.sh up (packages check, build, lab, replay): %d.%03ds\n' $((ms / 1000)) $((ms % 1000))
  ;;
down)
  [ -x "$LABCTL" ] || build_labctl
  "$LABCTL" down --dir "$DIR"
  ;;
shell)
  [ -n "${2:-}" ] || { echo "usage: lab.sh shell NODE" >&2; exit 2; }
  [ -x "$LABCTL" ] || build_labctl
  exec "$LABCTL" shell "$2" --dir "$DIR"
  ;;
*)
  sed -n '2,8p' "$0" >&2
  exit 2
  ;;
esac

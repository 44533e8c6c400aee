#!/bin/sh
# Builds three nodes, an outside client and a container client in
# namespaces under a temporary directory with minsw's netdriver, and prints
# the routing mesh's requests/s ÷ the internal VIP's and ÷ straight to a
# task, and the cost with 1,000 published ports ÷ 1, all from one run.
# Needs root, nsenter, sysctl. Flags go to the Go program: -d (time per
# run), -n (requests per run), -c (connections), -rounds, -ports.
set -eu
cd "$(dirname "$0")/../.."
exec go run ./netdriver/bench/meshbench "$@"

#!/bin/sh
# Builds the hand-made two-node VIP path from DESIGN's recipe (ip + nft -f)
# and minsw's, in namespaces under a temporary directory, and prints the
# requests/s, p99 and scale ratios of one run. Needs root, ip, nft, nsenter.
# Flags go to the Go program: -d (time per run), -n (requests per run),
# -c (connections), -rounds, -scale.
set -eu
cd "$(dirname "$0")/../.."
exec go run ./netdriver/bench/vipbench "$@"

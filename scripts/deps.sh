#!/usr/bin/env bash
# Installs what minsw's tests and lab need on Debian 12, idempotently:
# containerd + runc (the task runtime), tini (--init: PID 1 of a container), nftables + iproute2 (the data plane
# and the tests' checks), qemu + busybox-static + cpio + kmod (the IPVS VM
# test), ipvsadm, curl (packed into the lab's net-box image), ruby (the
# Vagrantfile's syntax check in e2e), python3-docker (the docker SDK the Engine API
# tests drive), and Debian's docker.io only when no docker CLI is on PATH (the
# Engine API tests use the CLI, never a docker daemon). Go modules come from the
# module proxy via `go`.
set -euo pipefail
pkgs=(containerd runc tini nftables iproute2 qemu-system-x86 busybox-static cpio kmod ipvsadm ca-certificates curl ruby python3-docker)
command -v docker >/dev/null || pkgs+=(docker.io)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "deps: Go is not on PATH (expected /usr/local/go/bin)"; exit 1; }

#!/bin/bash
# Boots Debian's cloud kernel (which has IPVS) under qemu and runs the ipvs
# backend's data-plane test inside it; see ../vm_test.go.
#
#   netdriver/lb/ipvs/vmtest/run.sh [CACHE_DIR]
#
# CACHE_DIR (default $MINSW_VM_CACHE or /tmp/minsw-ipvs-vm) keeps the
# downloaded kernel package and its extracted tree, so repeat runs skip
# apt-get. Needs: qemu-system-x86, busybox-static, cpio, kmod, dpkg, Go.
# The VM has no network card. Prints the guest's serial console, then
# "ipvs-vm: N passed, M failed"; exits non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
CACHE=${1:-${MINSW_VM_CACHE:-/tmp/minsw-ipvs-vm}}
MODULES="ip_vs ip_vs_rr nf_conntrack nf_nat nf_tables nft_chain_nat nft_nat veth bridge"
BOOT_TIMEOUT=${MINSW_VM_TIMEOUT:-110}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
start=$(date +%s)

fail() { echo "ipvs-vm: $*" >&2; echo "ipvs-vm: 0 passed, 1 failed"; exit 1; }
for c in qemu-system-x86_64 busybox cpio depmod modprobe dpkg-deb go timeout; do
  command -v $c >/dev/null || fail "missing tool $c"
done

# The kernel: the cached one if there is one, else the current cloud kernel.
K=${MINSW_VM_KERNEL:-}
if [ -z "$K" ] && [ -f "$CACHE/kernel" ]; then K=$(cat "$CACHE/kernel"); fi
if [ -z "$K" ]; then
  KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$KPKG" ] || fail "apt-cache knows no linux-image-cloud-amd64 (run apt-get update)"
  K=${KPKG#linux-image-}
fi
KDIR=$CACHE/kern-$K
# Two runs sharing a cache must not extract into one tree at once.
exec 9>"$CACHE/.lock"
command -v flock >/dev/null && flock 9
if [ ! -f "$KDIR/.done" ]; then
  rm -rf "$KDIR" && mkdir -p "$CACHE/debs"
  if ! ls "$CACHE/debs/linux-image-${K}_"*.deb >/dev/null 2>&1; then
    (cd "$CACHE/debs" && apt-get download "linux-image-$K" >/dev/null 2>&1) || fail "apt-get download linux-image-$K failed"
  fi
  dpkg-deb -x "$CACHE/debs/linux-image-${K}_"*.deb "$KDIR"
  depmod -b "$KDIR" "$K"
  touch "$KDIR/.done"
  echo "$K" > "$CACHE/kernel"
fi
exec 9>&-

WORK=$(mktemp -d /tmp/ipvs-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/rootfs
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done

# Modules with their dependencies, resolved on the host. crc32c-intel is
# left out: it needs SSE4.2, which the emulated CPU lacks (crc32c is built in).
for m in $MODULES; do
  modprobe --show-depends -d "$KDIR" -S "$K" "$m" | awk '$1=="insmod"{print $2}'
done | sort -u | grep -v crc32c-intel | while read -r ko; do
  rel=${ko#"$KDIR"/}
  install -D -m644 "$ko" "$R/$rel"
done
cp "$KDIR/lib/modules/$K/"modules.{order,builtin,builtin.modinfo} "$R/lib/modules/$K/"
depmod -b "$R" "$K"
echo "$MODULES" > "$R/etc/modules"

(cd "$ROOT" && CGO_ENABLED=0 go test -tags ipvsvm -trimpath -c -o "$R/bin/ipvs.test" ./netdriver/lb/ipvs/) \
  || fail "building the test binary failed"
install -m755 "$(dirname "$0")/init" "$R/init"
(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$WORK/initrd.gz"

echo "ipvs-vm: booting linux $K (prepared in $(( $(date +%s) - start ))s)"
timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -m 768 -smp 2 -nographic -no-reboot -nic none \
  -kernel "$KDIR/boot/vmlinuz-$K" -initrd "$WORK/initrd.gz" \
  -append 'console=ttyS0 quiet panic=-1' </dev/null 2>&1 | tr -d '\r' | tee "$WORK/serial.log" || true
cp "$WORK/serial.log" "$CACHE/last-serial.log"

# The verdict comes from the serial log: qemu exits 0 whatever the guest did.
passed=$(grep -c '^--- PASS: ' "$WORK/serial.log" || true)
failed=$(grep -c '^--- FAIL: ' "$WORK/serial.log" || true)
rc=$(sed -n 's/^IPVS-VM: exit=//p' "$WORK/serial.log" | tail -1)
echo "ipvs-vm: wall time $(( $(date +%s) - start ))s, test binary exit=${rc:-none}"
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi  # crash, timeout or no verdict
echo "ipvs-vm: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]

#!/usr/bin/env bash
# tests/bench/arch.sh — the reach rows (issue 12): an aarch64 target under
# qemu-user against an x86_64 one, both busybox-only chroots, and the
# daemon's size with both stubs embedded. `make bench` runs it
# (BENCH_ROWS=arch for these rows alone).
#
#   BENCH_ARCH_N=9       samples per row (medians are reported)
#   BENCH_OUT_ARCH=build/bench/arch.md
#
# Rows:
#   A0 the floor: one exec of busybox `true`, natively and under qemu-user
#      (binfmt_misc), each the mean of 20 in a loop
#   A1 a chroot context up + first call (`connect ... chroot path=R`, then
#      `echo` through exec, status read): an x86_64 busybox root
#   A2 the same with an aarch64 busybox root under qemu-user (goal: ≤ 3×
#      A1); both with the stub cached in the root already (one untimed
#      connect first)
#   A3 the daemon's size, as built (with debug info) and as `make
#      install` installs it (stripped): goal ≤ 1.2 MB
set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
N=${BENCH_ARCH_N:-9}
OUT=${BENCH_OUT_ARCH:-$ROOT/build/bench/arch.md}
MITOFS_SRC=${MITOFS:-$ROOT/build/mitofs}
BB=$(dirname "$MITOFS_SRC")/busybox

for a in amd64 arm64; do
	[[ -x $BB/$a/busybox ]] || make -C "$ROOT" "$BB/$a/busybox" >&2 || exit 1
done
[[ -x $MITOFS_SRC ]] || make -C "$ROOT" all >&2 || exit 1

WORK=$(mktemp -d /tmp/mitofs-arch.XXXXXX)
SAMPLES=$WORK/samples
: >"$SAMPLES"
cp "$MITOFS_SRC" "$WORK/mitofs"
MITOFS=$WORK/mitofs
MNT=$WORK/m
mkdir -p "$MNT"
UNDO=()

now_us() { echo $(( $(date +%s%N) / 1000 )); }
sample() { echo "$1 $2" >>"$SAMPLES"; }

cleanup() {
	local i
	mountpoint -q "$MNT" && { fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"; }
	for (( i = ${#UNDO[@]} - 1; i >= 0; i-- )); do eval "${UNDO[i]}" 2>/dev/null; done
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# qemu-user through binfmt_misc, as tests/integration/t_methods.sh sets it.
b=/proc/sys/fs/binfmt_misc
if [[ ! -e $b/status ]]; then
	mount -t binfmt_misc binfmt_misc "$b" || { echo "arch: no binfmt_misc" >&2; exit 1; }
	UNDO+=("umount '$b'")
fi
if [[ ! -e $b/qemu-aarch64 ]]; then
	[[ -r /usr/lib/binfmt.d/qemu-aarch64.conf ]] || {
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static >&2 || exit 1; }
	cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$b/register" || exit 1
	UNDO+=("echo -1 > '$b/qemu-aarch64'")
fi

rootfs() {   # DIR DEB_ARCH
	local dir=$1 a
	mkdir -p "$dir"/bin "$dir"/dev "$dir"/proc "$dir"/tmp "$dir"/etc "$dir"/root
	cp "$BB/$2/busybox" "$dir/bin/busybox"
	for a in $("$BB/amd64/busybox" --list); do
		[[ $a == busybox ]] || ln -s busybox "$dir/bin/$a"
	done
	mknod -m 666 "$dir/dev/null" c 1 3
	chmod 1777 "$dir/tmp"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
	mount -t proc proc "$dir/proc" && UNDO+=("umount -l '$dir/proc'")
}
rootfs "$WORK/r86" amd64
rootfs "$WORK/r64" arm64

# A0: 20 execs of busybox true, natively and under qemu.
floor() {   # NAME ROOT
	local t0 t1 i
	t0=$(now_us)
	for ((i = 0; i < 20; i++)); do chroot "$2" /bin/busybox true; done
	t1=$(now_us)
	sample "$1" $(( (t1 - t0) / 20 ))
}

up() {   # NAME ROOT: connect + a first call, then disconnect
	local t0 t1 out
	t0=$(now_us)
	printf 'connect c chroot path=%s\n' "$2" >"$MNT/ctl" || return 1
	echo 'echo up' >"$MNT/c/exec" && out=$(cat "$MNT/c/stdout") && cat "$MNT/c/status" >/dev/null
	t1=$(now_us)
	echo 'disconnect c' >"$MNT/ctl"
	[[ $out == up ]] && sample "$1" $((t1 - t0))
}

"$MITOFS" "$MNT" || exit 1
up a1.warmup "$WORK/r86" && up a2.warmup "$WORK/r64" || { echo "arch: a context did not come up" >&2; exit 1; }
for ((k = 1; k <= N; k++)); do
	floor a0.native "$WORK/r86"
	floor a0.qemu "$WORK/r64"
	up a1.x86_64 "$WORK/r86"
	up a2.aarch64 "$WORK/r64"
done
sample a3.built "$(stat -c %s "$MITOFS")"
strip -o "$WORK/mitofs.stripped" "$MITOFS" && sample a3.stripped "$(stat -c %s "$WORK/mitofs.stripped")"

mkdir -p "$(dirname "$OUT")"
{
	echo "Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); qemu: $(qemu-aarch64-static --version | head -n1)"
	echo "Command: BENCH_ARCH_N=$N tests/bench/arch.sh (make bench); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
	echo
	"$PY" - "$SAMPLES" <<'PYEOF'
import statistics, sys
s = {}
for line in open(sys.argv[1]):
    k, _, v = line.split()[0], None, line.split()[1]
    s.setdefault(k, []).append(float(v))
med = lambda k: statistics.median(s[k]) if k in s else None
ms = lambda us: '%.1f ms' % (us / 1e3) if us is not None else 'n/a'
print('| row | value (median) | against | ratio | goal | met? |')
print('| --- | --- | --- | --- | --- | --- |')
n, q = med('a0.native'), med('a0.qemu')
if n and q:
    print('| A0. one exec of busybox `true` under qemu-user | %s | natively: %s | %.1f× | (info) | — |' % (ms(q), ms(n), q / n))
a1, a2 = med('a1.x86_64'), med('a2.aarch64')
if a1:
    print('| A1. x86_64 busybox chroot: context up + first call | %s | — | — | (info) | — |' % ms(a1))
if a1 and a2:
    r = a2 / a1
    print('| A2. aarch64 busybox chroot under qemu-user, the same | %s | A1: %s | %.1f× | ≤ 3× | %s |' % (ms(a2), ms(a1), r, 'yes' if r <= 3 else 'no'))
b, st = med('a3.built'), med('a3.stripped')
if b and st:
    print('| A3. the daemon with both stubs, installed (stripped) | %.2f MB | as built, with debug info: %.2f MB | — | ≤ 1.2 MB | %s |' % (st / 1e6, b / 1e6, 'yes' if st <= 1.2e6 else 'no'))
print()
print('| sample | n | min | median | max |')
print('| --- | --- | --- | --- | --- |')
for k in sorted(s):
    print('| %s | %d | %g | %g | %g |' % (k, len(s[k]), min(s[k]), statistics.median(s[k]), max(s[k])))
PYEOF
} >"$OUT"
cat "$OUT"

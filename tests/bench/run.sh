#!/usr/bin/env bash
# tests/bench/run.sh — mitofs side by side with its peers, in one run.
#
#   make bench                 (or: tests/bench/run.sh)
#   BENCH_N=15                 samples per measurement (medians are reported)
#   BENCH_LOOP=200             round trips per sample in rows 2 and 7
#   BENCH_STEP_TIMEOUT=120     seconds any one step may take before it is killed
#   BENCH_OUT=build/bench/results.md   where the table is also written
#   BENCH_ROWS=all             or a comma list of: local (1-5), ssh (6-8), fs (F1-F6)
#   BENCH_FS_N=5               rounds of the fs rows
#   MITOFS=build/mitofs        the daemon under test
#
# Rows (see docs/performance.md for what limits each):
#   1  local context up + first call       mitofs >= 20x faster than Mitogen
#   1c the same with an empty stub cache   (for information)
#   2  round trip of `true`, live context  mitofs <= Mitogen
#   3  idle stub RSS                       <= 1 MiB
#   4  50 local contexts up in parallel    <= 0.25 s
#   5  64 MiB of job stdout                >= 1 GiB/s
#   6  ssh context up + first call, warm   <= 0.4x OpenSSH's `ssh HOST true`,
#                                          and faster than Mitogen's router.ssh()
#   6c the same with an empty stub cache   (for information)
#   6r the same through root's ~/.bashrc   (for information)
#   7  round trip of `true` over ssh       mitofs <= Mitogen
#   8  20 ssh contexts up in parallel      <= 3x one ssh context up
#   F1-F6  fs/ against sshfs (F6: a local context against libfuse's
#          passthrough_ll), each with the target's page cache cold and
#          warm; F1s/F1d/F1p/F2p what the stub and the daemon spend per
#          MiB (CPU, page faults). BENCH_FS_N=5 rounds.
#
# The table's header names the machine's kind: hypervisor, cpuidle
# driver, and what one page fault, one posix_spawn of `true` and one
# FUSE request cost here (tests/bench/machine.c, built with gcc).
#
# The ssh rows use a private sshd on a random loopback port
# (tests/sshd/sshd.sh, its keys and known_hosts under the bench's own
# directory), never the machine's sshd or keys. Its sessions run as root,
# with XDG_RUNTIME_DIR set (sshd_config SetEnv) to a directory of the
# bench, so the ssh stub cache is the bench's own too; and with SHLVL=1,
# so the session's bash (a top-level shell run by sshd would read
# ~/.bashrc) starts no rc file. Row 6r is a second sshd without SHLVL=1,
# whose sessions read root's ~/.bashrc as a plain `ssh host cmd` does.
#
# Every mount is fresh for its row (row 4: for each sample), every step runs
# under a timeout, and an EXIT trap unmounts whatever is still mounted and
# kills, by pid, any daemon or stub that outlives its unmount, so a failing
# row leaves nothing behind.  A row that cannot be measured is reported as
# such in the table, never with a made-up number.
#
# Exit status: 0 when every cell was measured (goals met or not), 2 when a
# cell could not be measured, 3 when a process outlived its unmount.
#
# Mitogen runs under /usr/bin/python3 (Debian's python3-mitogen); the
# python3 first on PATH may be another interpreter that does not see it.
# OpenSSH is the Debian client: ssh -F none -o BatchMode=yes, the bench's
# known_hosts and key.

set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
PEER="$HERE/peer_mitogen.py"
MITOFS=${MITOFS:-$ROOT/build/mitofs}
N=${BENCH_N:-15}
LOOP=${BENCH_LOOP:-200}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-120}
BENCH_OUT=${BENCH_OUT:-$ROOT/build/bench/results.md}
BIG=67108864
PAR=50
PAR_SSH=20
SSHD_SH="$ROOT/tests/sshd/sshd.sh"

# Monotonic-enough wall clock in microseconds, without a fork.
#   t=${EPOCHREALTIME/[.,]/}

# ---------------------------------------------------------------------------
# Row bodies. Each runs in its own bash process (`run.sh __row ROW MNT`),
# under a timeout, with the mount made and removed by the main process; it
# prints "KEY VALUE" samples on stdout and "ROW.error REASON" on failure.
# ---------------------------------------------------------------------------

err() { echo "$1.error $2"; exit 1; }

row1() {   # connect + first call, a new context per sample; warm stub cache
	local i t0 t1 s
	# Untimed warm-up: fills the stub cache ($HOME/.cache/mitofs of the
	# daemon) the way any earlier connect to this machine would have.
	echo 'connect w0 local' > ctl && echo true > w0/exec && read -r s < w0/status &&
		echo 'disconnect w0' > ctl || err r1 "warm-up connect failed: $(cat ctl 2>/dev/null)"
	for ((i = 1; i <= N; i++)); do
		t0=${EPOCHREALTIME/[.,]/}
		echo "connect c$i local" > ctl || err r1 "connect c$i failed: $(cat ctl 2>/dev/null)"
		echo true > "c$i/exec" || err r1 "exec on c$i failed"
		read -r s < "c$i/status" || err r1 "status of c$i unreadable"
		t1=${EPOCHREALTIME/[.,]/}
		[[ $s == "exit 0" ]] || err r1 "c$i status '$s', want 'exit 0'"
		echo "r1.mitofs $((t1 - t0))"
		echo "disconnect c$i" > ctl || err r1 "disconnect c$i failed"
	done
}

row1c() {  # the same with an empty stub cache: the image is uploaded each time
	local i t0 t1 s
	for ((i = 1; i <= N; i++)); do
		rm -rf "$BENCH_HOME/.cache/mitofs"
		t0=${EPOCHREALTIME/[.,]/}
		echo "connect k$i local" > ctl || err r1c "connect k$i failed: $(cat ctl 2>/dev/null)"
		echo true > "k$i/exec" || err r1c "exec on k$i failed"
		read -r s < "k$i/status" || err r1c "status of k$i unreadable"
		t1=${EPOCHREALTIME/[.,]/}
		[[ $s == "exit 0" ]] || err r1c "k$i status '$s', want 'exit 0'"
		echo "r1c.mitofs $((t1 - t0))"
		echo "disconnect k$i" > ctl || err r1c "disconnect k$i failed"
	done
}

row2() {   # LOOP round trips of `true` per sample, shell builtins only
	local i j t0 t1 s d bad=0
	echo 'connect a local' > ctl || err r2 "connect failed: $(cat ctl 2>/dev/null)"
	echo true > a/exec && read -r s < a/status || err r2 "warm-up exec failed"
	for ((i = 1; i <= N; i++)); do
		t0=${EPOCHREALTIME/[.,]/}
		for ((j = 0; j < LOOP; j++)); do
			echo true > a/exec
			read -r s < a/status
			[[ $s == "exit 0" ]] || bad=$((bad + 1))
		done
		t1=${EPOCHREALTIME/[.,]/}
		((bad == 0)) || err r2 "$bad of $LOOP round trips did not read 'exit 0' (last: '$s')"
		d=$((t1 - t0))
		printf 'r2.mitofs %d.%02d\n' $((d / LOOP)) $(((d * 100 / LOOP) % 100))
	done
}

row3() {   # VmRSS of the idle stub right after connect
	local i pid rss name dpid s
	for ((i = 1; i <= N; i++)); do
		echo "connect r$i local" > ctl || err r3 "connect r$i failed: $(cat ctl 2>/dev/null)"
		pid=$(awk '$1 == "pid:" {print $2}' "r$i/info")
		[[ $pid =~ ^[0-9]+$ ]] || err r3 "no pid in r$i/info"
		name=$(tr '\0' ' ' < "/proc/$pid/cmdline")
		[[ $name == "mitofs:r$i " ]] || err r3 "pid $pid is '$name', not mitofs:r$i"
		rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status")
		echo "r3.mitofs $rss"
		echo "r3.stub_anon_rss $(awk '$1 == "RssAnon:" {print $2}' "/proc/$pid/status")"
		# For reference: after one job the stub keeps a guard process
		# (mitofs-guard:NAME) that kills the jobs if the stub is killed.
		echo true > "r$i/exec" && read -r s < "r$i/status" || err r3 "exec on r$i failed"
		local total=$rss g
		for g in $(pgrep -P "$pid"); do
			[[ $(tr '\0' ' ' < "/proc/$g/cmdline" 2>/dev/null) == mitofs-guard:* ]] &&
				total=$((total + $(awk '$1 == "VmRSS:" {print $2}' "/proc/$g/status")))
		done
		echo "r3.stub_guard_rss_after_job $total"
		if ((i == 1)); then
			dpid=$(awk '$1 == "PPid:" {print $2}' "/proc/$pid/status")
			echo "r3.daemon_rss $(awk '$1 == "VmRSS:" {print $2}' "/proc/$dpid/status")"
		fi
		echo "disconnect r$i" > ctl || err r3 "disconnect r$i failed"
	done
}

row4() {   # PAR connects at once; one sample per (fresh) mount
	local i t0 t1 up bad=""
	t0=${EPOCHREALTIME/[.,]/}
	for i in $(seq $PAR); do echo "connect p$i local" > ctl & done; wait
	t1=${EPOCHREALTIME/[.,]/}
	up=0
	for ((i = 1; i <= PAR; i++)); do
		if grep -qx 'state: connected' "p$i/info" 2>/dev/null; then
			up=$((up + 1))
		else
			bad="$bad p$i"
		fi
	done
	((up == PAR)) || err r4 "$up of $PAR contexts connected (not:$bad)"
	echo "r4.mitofs $((t1 - t0))"
}

row5() {   # 64 MiB of job stdout through cat
	local i t0 t1 s n
	echo 'connect a local' > ctl || err r5 "connect failed: $(cat ctl 2>/dev/null)"
	echo true > a/exec && read -r s < a/status || err r5 "warm-up exec failed"
	for ((i = 1; i <= N; i++)); do
		t0=${EPOCHREALTIME/[.,]/}
		echo "head -c $BIG /dev/zero" > a/exec || err r5 "exec failed"
		cat a/stdout > /dev/null || err r5 "cat a/stdout failed"
		t1=${EPOCHREALTIME/[.,]/}
		read -r s < a/status
		[[ $s == "exit 0" ]] || err r5 "status '$s', want 'exit 0'"
		n=$(cat a/stdout | wc -c)
		echo "r5.mitofs_bytes $n"
		((n == BIG)) || err r5 "stdout held $n bytes, want $BIG"
		echo "r5.mitofs $((t1 - t0))"
	done
}

# --- ssh rows: the bench's sshd is described by BENCH_SSH_PORT and
# BENCH_SSH_KEYS (row 6r: BENCH_SSH_PORT_RC, BENCH_SSH_KEYS_RC), its stub
# cache is BENCH_SSH_XDG/mitofs. ---

# sshc PORT KEYS: the method part of a connect line.
sshc() { echo "ssh host=127.0.0.1 port=$1 identity=$2/id_ed25519 known_hosts=$2/known_hosts"; }

# ssh_up ROW KEY PORT KEYS [cold]: N samples of connect + first call.
ssh_up() {
	local row=$1 key=$2 m i t0 t1 s
	m=$(sshc "$3" "$4")
	# Untimed warm-up: fills the stub cache on the target.
	echo "connect w0 $m" > ctl && echo true > w0/exec && read -r s < w0/status &&
		echo 'disconnect w0' > ctl || err "$row" "warm-up connect failed: $(cat ctl 2>/dev/null)"
	for ((i = 1; i <= N; i++)); do
		[[ ${5:-} == cold ]] && rm -rf "${BENCH_SSH_XDG:?}/mitofs"
		t0=${EPOCHREALTIME/[.,]/}
		echo "connect c$i $m" > ctl || err "$row" "connect c$i failed: $(cat ctl 2>/dev/null)"
		echo true > "c$i/exec" || err "$row" "exec on c$i failed"
		read -r s < "c$i/status" || err "$row" "status of c$i unreadable"
		t1=${EPOCHREALTIME/[.,]/}
		[[ $s == "exit 0" ]] || err "$row" "c$i status '$s', want 'exit 0'"
		echo "$key $((t1 - t0))"
		echo "disconnect c$i" > ctl || err "$row" "disconnect c$i failed"
	done
}
row6()  { ssh_up r6 r6.mitofs "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS"; }
row6c() { ssh_up r6c r6c.mitofs "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS" cold; }
row6r() { ssh_up r6r r6r.mitofs "$BENCH_SSH_PORT_RC" "$BENCH_SSH_KEYS_RC"; }

row7() {   # LOOP round trips of `true` over ssh per sample, shell builtins only
	local i j t0 t1 s d bad=0
	echo "connect a $(sshc "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS")" > ctl ||
		err r7 "connect failed: $(cat ctl 2>/dev/null)"
	echo true > a/exec && read -r s < a/status || err r7 "warm-up exec failed"
	for ((i = 1; i <= N; i++)); do
		t0=${EPOCHREALTIME/[.,]/}
		for ((j = 0; j < LOOP; j++)); do
			echo true > a/exec
			read -r s < a/status
			[[ $s == "exit 0" ]] || bad=$((bad + 1))
		done
		t1=${EPOCHREALTIME/[.,]/}
		((bad == 0)) || err r7 "$bad of $LOOP round trips did not read 'exit 0' (last: '$s')"
		d=$((t1 - t0))
		printf 'r7.mitofs %d.%02d\n' $((d / LOOP)) $(((d * 100 / LOOP) % 100))
	done
}

row8() {   # one ssh connect alone, then PAR_SSH at once; one sample per mount
	local i t0 t1 up bad="" m s
	m=$(sshc "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS")
	echo "connect w0 $m" > ctl && echo 'disconnect w0' > ctl ||
		err r8 "warm-up connect failed: $(cat ctl 2>/dev/null)"
	t0=${EPOCHREALTIME/[.,]/}
	echo "connect one $m" > ctl || err r8 "connect one failed: $(cat ctl 2>/dev/null)"
	t1=${EPOCHREALTIME/[.,]/}
	echo "r8.one $((t1 - t0))"
	echo 'disconnect one' > ctl || err r8 "disconnect one failed"
	t0=${EPOCHREALTIME/[.,]/}
	for i in $(seq $PAR_SSH); do echo "connect p$i $m" > ctl & done; wait
	t1=${EPOCHREALTIME/[.,]/}
	up=0
	for ((i = 1; i <= PAR_SSH; i++)); do
		if grep -qx 'state: connected' "p$i/info" 2>/dev/null; then
			up=$((up + 1))
		else
			bad="$bad p$i"
		fi
	done
	((up == PAR_SSH)) || err r8 "$up of $PAR_SSH contexts connected (not:$bad)"
	echo "r8.mitofs $((t1 - t0))"
	for ((i = 1; i <= PAR_SSH; i++)); do echo "disconnect p$i" > ctl; done
}

# --- OpenSSH: the same sshd, `ssh ... root@127.0.0.1 true` ---
oerr() { echo "$1.openssh_error $2"; exit 1; }
ossh() {   # ossh PORT KEYS: one `ssh host true`
	ssh -F none -o BatchMode=yes -o UserKnownHostsFile="$2/known_hosts" \
		-i "$2/id_ed25519" -p "$1" root@127.0.0.1 true
}
ossh_up() {   # ossh_up ROW KEY PORT KEYS: N samples
	local i t0 t1
	for ((i = 1; i <= N; i++)); do
		t0=${EPOCHREALTIME/[.,]/}
		ossh "$3" "$4" || oerr "$1" "ssh ... true failed (exit $?)"
		t1=${EPOCHREALTIME/[.,]/}
		echo "$2 $((t1 - t0))"
	done
}
ossh6()  { ossh_up r6 r6.openssh "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS"; }
ossh6r() { ossh_up r6r r6r.openssh "$BENCH_SSH_PORT_RC" "$BENCH_SSH_KEYS_RC"; }
ossh8() {   # one `ssh host true`, then PAR_SSH of them at once
	local i j p t0 t1 pids=() bad=0
	for ((i = 1; i <= N; i++)); do
		t0=${EPOCHREALTIME/[.,]/}
		ossh "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS" || oerr r8 "ssh ... true failed (exit $?)"
		t1=${EPOCHREALTIME/[.,]/}
		echo "r8.openssh_one $((t1 - t0))"
		pids=()
		t0=${EPOCHREALTIME/[.,]/}
		for ((j = 0; j < PAR_SSH; j++)); do ossh "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS" & pids+=($!); done
		for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
		t1=${EPOCHREALTIME/[.,]/}
		((bad == 0)) || oerr r8 "$bad of $PAR_SSH parallel ssh ... true failed"
		echo "r8.openssh $((t1 - t0))"
	done
}

# --- fs/ rows (issues 4 and 11): one sample per call,
# `run.sh __fs ROW SIDE DIR [CTL]`. ROW is a row and the target's state:
# f1c (cold) or f1w (warm), and so on; f5 alone has no state. DIR is the
# data set's directory as this side sees it (mitofs: MNT/s/fs/DATA,
# sshfs: a mount of DATA, local: DATA itself); CTL, for mitofs, the
# context's ctl, written "flush" before every sample. ---
FS_BIG=268435456     # F1, F6: 256 MiB
FS_WR=268435456      # F2: 256 MiB
FS_TREE=10000        # F3: files in FS_DIRS directories
FS_DIRS=100
FS_SMALL=1000        # F4: 4 KiB files
ferr() { echo "$ROW.${SIDE}_error $1"; exit 1; }
# fs_prep WHAT [CTL]: what FUSE holds is dropped on both sides (mitofs:
# `flush`; sshfs: a fresh mount per sample). A cold target then drops
# its page cache too; a warm one reads WHAT (big, tree, small) once,
# untimed and without FUSE, so the sample measures the path, not the
# disk.
fs_prep() {
	if [[ -n ${2:-} ]]; then echo flush > "$2" || return 1; fi
	if [[ $MODE == c ]]; then
		sync && echo 3 > /proc/sys/vm/drop_caches
		return
	fi
	case $1 in
	big) cat "$FS_DATA/big" > /dev/null ;;
	tree) ls -lR "$FS_DATA/tree" > /dev/null ;;
	small) cat "$FS_DATA"/small/* > /dev/null ;;
	*) sync ;;
	esac
}
# What a mitofs process used so far: CPU time in ns (every thread's
# schedstat), page faults (minor + major, as perf's page-faults counts).
proc_cpu_ns() { local t a s=0; for t in /proc/"$1"/task/*/schedstat; do read -r a _ < "$t" && s=$((s + a)); done; echo "$s"; }
proc_faults() { awk '{ sub(/^.*\) /, ""); print $8 + $10 }' "/proc/$1/stat"; }
# fs_cost_begin / fs_cost_end MIB: with BENCH_STUB and BENCH_DAEMON set
# (mitofs, warm F1 and F2), what the stub and the daemon spent on the
# sample, per MiB moved: "ROW.stub_cpu_ms" (and daemon_cpu_ms),
# "ROW.stub_faults", "ROW.daemon_faults".
fs_cost_begin() {
	[[ -n ${BENCH_STUB:-} && $SIDE == mitofs && $MODE == w ]] || return 0
	c0s=$(proc_cpu_ns "$BENCH_STUB") c0d=$(proc_cpu_ns "$BENCH_DAEMON")
	f0s=$(proc_faults "$BENCH_STUB") f0d=$(proc_faults "$BENCH_DAEMON")
}
fs_cost_end() {
	[[ -n ${BENCH_STUB:-} && $SIDE == mitofs && $MODE == w ]] || return 0
	local c1s c1d f1s f1d mib=$1
	c1s=$(proc_cpu_ns "$BENCH_STUB") c1d=$(proc_cpu_ns "$BENCH_DAEMON")
	f1s=$(proc_faults "$BENCH_STUB") f1d=$(proc_faults "$BENCH_DAEMON")
	awk -v r="$ROW" -v m="$mib" -v cs=$((c1s - c0s)) -v cd=$((c1d - c0d)) -v fs=$((f1s - f0s)) -v fd=$((f1d - f0d)) 'BEGIN {
		printf "%s.stub_cpu_ms %.4f\n%s.daemon_cpu_ms %.4f\n", r, cs / 1e6 / m, r, cd / 1e6 / m
		printf "%s.stub_faults %.4f\n%s.daemon_faults %.4f\n", r, fs / m, r, fd / m }'
}
fs_f1() {   # sequential read of big (F1, F6)
	local d=$1 ctl=${2:-} t0 t1 out
	fs_prep big "$ctl" || ferr "flush failed"
	fs_cost_begin
	t0=${EPOCHREALTIME/[.,]/}
	out=$(dd if="$d/big" of=/dev/null bs=1M 2>&1) || ferr "dd failed: $out"
	t1=${EPOCHREALTIME/[.,]/}
	[[ $out == *"$FS_BIG bytes"* ]] || ferr "dd read short: ${out//$'\n'/ }"
	fs_cost_end $((FS_BIG >> 20))
	echo "$ROW.$SIDE $((t1 - t0))"
}
fs_f2() {   # write of 256 MiB, fsync'd
	local d=$1 ctl=${2:-} t0 t1 out
	rm -f "$d/w" && sync || ferr "cannot remove $d/w"
	fs_prep none "$ctl" || ferr "flush failed"
	fs_cost_begin
	t0=${EPOCHREALTIME/[.,]/}
	out=$(dd if=/dev/zero of="$d/w" bs=1M count=$((FS_WR >> 20)) conv=fsync 2>&1) ||
		ferr "dd failed: ${out//$'\n'/ }"
	t1=${EPOCHREALTIME/[.,]/}
	[[ $(stat -c %s "$FS_DATA/w") == "$FS_WR" ]] || ferr "$FS_DATA/w is not $FS_WR bytes"
	fs_cost_end $((FS_WR >> 20))
	echo "$ROW.$SIDE $((t1 - t0))"
}
# F3 and F4 run in DIR, with relative names, as F5 does: every name
# ls or cat gives the kernel is then as deep on both sides (mitofs's
# DIR, MNT/s/fs/tmp/..., is eight components deeper than sshfs's mount).
fs_f3() {   # ls -lR of the tree
	local d=$1 ctl=${2:-} t0 t1 n
	fs_prep tree "$ctl" || ferr "flush failed"
	cd "$d" || ferr "cannot cd to $d"
	t0=${EPOCHREALTIME/[.,]/}
	n=$(ls -lR tree | grep -c '^-')
	t1=${EPOCHREALTIME/[.,]/}
	((n == FS_TREE)) || ferr "ls -lR listed $n files, want $FS_TREE"
	echo "$ROW.$SIDE $((t1 - t0))"
}
fs_f4() {   # one cat of the small files
	local d=$1 ctl=${2:-} t0 t1 n
	fs_prep small "$ctl" || ferr "flush failed"
	cd "$d" || ferr "cannot cd to $d"
	t0=${EPOCHREALTIME/[.,]/}
	n=$(cat small/* | wc -c)
	t1=${EPOCHREALTIME/[.,]/}
	((n == FS_SMALL * 4096)) || ferr "cat read $n bytes, want $((FS_SMALL * 4096))"
	echo "$ROW.$SIDE $((t1 - t0))"
}
fs_f5() {   # LOOP stats of one name, caching off: [[ -e ]] is one stat(2), no fork
	local d=$1 i t0 t1 dt
	cd "$d/small" || ferr "cannot cd to $d/small"
	[[ -e f1 ]] || ferr "f1 missing"
	t0=${EPOCHREALTIME/[.,]/}
	for ((i = 0; i < LOOP; i++)); do [[ -e f1 ]] || ferr "stat f1 failed"; done
	t1=${EPOCHREALTIME/[.,]/}
	dt=$((t1 - t0))
	printf '%s.%s %d.%02d\n' "$ROW" "$SIDE" $((dt / LOOP)) $(((dt * 100 / LOOP) % 100))
}

if [[ ${1:-} == __row ]]; then
	cd "$3" || exit 1
	"$2"
	exit $?
fi
if [[ ${1:-} == __fs ]]; then
	ROW=$2 SIDE=$3 FS_DATA=$BENCH_FS_DATA MODE=w
	base=$ROW
	[[ $ROW == f5 ]] || { MODE=${ROW: -1}; base=${ROW%?}; }
	case $base in f6) fs_f1 "$4" "${5:-}" ;; f3n) fs_f3 "$4" "${5:-}" ;; *) "fs_$base" "$4" "${5:-}" ;; esac
	exit $?
fi
if [[ ${1:-} == __ossh ]]; then
	"$2"
	exit $?
fi

# ---------------------------------------------------------------------------
# Main: dependencies, mounts, cleanup, the rows, the table.
# ---------------------------------------------------------------------------

need_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

# sshfs and pdsh are not measured yet: installed for the rows to come.
missing=""
for p in python3-mitogen fuse3 openssh-client openssh-server sshfs pdsh; do
	need_pkg "$p" || missing="$missing $p"
done
if [[ -n $missing ]]; then
	echo "bench: installing$missing" >&2
	apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2 ||
		{ echo "bench: could not install$missing" >&2; exit 1; }
fi
[[ -x $MITOFS ]] || make -C "$ROOT" all >&2 || exit 1
"$PY" -c 'import mitogen.master' || { echo "bench: $PY cannot import mitogen" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mitofs-bench.XXXXXX)
SAMPLES="$WORK/samples"
# The daemon under test is a copy taken now: a rebuild of build/mitofs
# during the run (the tree is shared) must not change it, or make it
# unexecutable for a moment, between one mount and the next.
MITOFS_SRC=$MITOFS
cp "$MITOFS_SRC" "$WORK/mitofs" || { echo "bench: cannot copy $MITOFS_SRC" >&2; exit 1; }
MITOFS="$WORK/mitofs"
export BENCH_HOME="$WORK/home"
mkdir -p "$BENCH_HOME"
: > "$SAMPLES"
MOUNTS=()          # "mountpoint daemon-pid", still to be unmounted
MCOUNT=0

alive() {   # a pid that exists and is not a zombie
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

re_escape() { sed 's/[][\.*^$+?(){}|]/\\&/g' <<< "$1"; }

# mount_new: a fresh mount; sets MNT and DPID.
mount_new() {   # mount_new [OPTION...]: options go before the mountpoint
	MCOUNT=$((MCOUNT + 1))
	MNT="$WORK/m$MCOUNT"
	mkdir -p "$MNT"
	# A private HOME: the daemon's stub cache is the bench's own, never the
	# user's, so rows 1 and 1c measure warm and cold caches on purpose.
	if ! HOME=$BENCH_HOME timeout -k 5 30 env -u XDG_RUNTIME_DIR "$MITOFS" "$@" "$MNT" 2>> "$WORK/daemon.err"; then
		echo "bench: $MITOFS $MNT failed: $(tail -n 3 "$WORK/daemon.err")" >&2
		return 1
	fi
	# (The daemon rewrites its options in place: "-o a=1" shows as "-o a 1".)
	DPID=$(pgrep -xf "$(re_escape "$MITOFS")( .*)? $(re_escape "$MNT")" | head -n 1)
	if [[ -z $DPID ]]; then
		echo "bench: no daemon process found for $MNT" >&2
		fusermount3 -uz "$MNT" 2>/dev/null
		return 1
	fi
	MOUNTS+=("$MNT $DPID")
}

# descendants PID...: every process below them (not themselves).
descendants() {
	ps -e -o pid=,ppid= | awk -v roots="$*" '
		{ kids[$2] = kids[$2] " " $1 }
		END { n = split(roots, q, " ")
		      for (i = 1; i <= n; i++) { c = split(kids[q[i]], a, " ")
		          for (j = 1; j <= c; j++) { q[++n] = a[j]; print a[j] } } }'
}

# umount_one MNT DPID: unmount, wait for the daemon and its stubs to go,
# and kill by pid (recorded as a leftover) whatever does not.
umount_one() {
	local m=$1 dpid=$2 stubs p i left=""
	# The daemon's descendants: stubs, their guards and jobs.
	stubs=$(descendants "$dpid")
	if ! fusermount3 -u "$m" 2>/dev/null; then
		sleep 0.2
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null
	fi
	for ((i = 0; i < 100; i++)); do
		left=""
		for p in $dpid $stubs; do alive "$p" && left="$left $p"; done
		[[ -z $left ]] && break
		sleep 0.1
	done
	if [[ -n $left ]]; then
		echo "bench: after unmounting $m, still running:$left — killing" >&2
		for p in $left; do
			echo "$m $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" >> "$WORK/leftovers"
			kill -TERM "$p" 2>/dev/null
		done
		sleep 0.5
		for p in $left; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
		[[ " $left " == *" $dpid "* ]] && fusermount3 -uz "$m" 2>/dev/null
	fi
	rmdir "$m" 2>/dev/null
	local keep=() e
	for e in "${MOUNTS[@]}"; do [[ $e == "$m $dpid" ]] || keep+=("$e"); done
	MOUNTS=("${keep[@]}")
}

# The bench's sshd listeners (pids): their sessions are the ssh stubs,
# Mitogen's remote pythons and OpenSSH's `true`s.
SSHDS=()

# sshd_settle: once a step is over, every session of the bench's sshds
# must end (an ssh stub exits when its connection closes); what is still
# there after 10 s is killed by pid and recorded as a leftover.
sshd_settle() {
	local i p left=""
	((${#SSHDS[@]})) || return 0
	for ((i = 0; i < 100; i++)); do
		left=$(descendants "${SSHDS[@]}" | tr '\n' ' ')
		[[ -z ${left// /} ]] && return 0
		sleep 0.1
	done
	echo "bench: sessions of the bench's sshd still running after 10 s:$left — killing" >&2
	for p in $left; do
		echo "sshd session $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" >> "$WORK/leftovers"
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.5
	for p in $left; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	return 0
}

# sshd_start DIR EXTRA: a private sshd (tests/sshd/sshd.sh); its port is
# then in DIR/port.
sshd_start() {
	SSHD_EXTRA=$2 "$SSHD_SH" start "$1" > /dev/null 2>> "$WORK/sshd.err" || return 1
	SSHDS+=("$(cat "$1/sshd.pid")")
}

cleanup() {
	local e d
	for e in "${MOUNTS[@]}"; do umount_one $e; done
	sshd_settle
	for d in "$WORK"/sshd "$WORK"/sshd-rc; do
		[[ -s $d/sshd.pid ]] && "$SSHD_SH" stop "$d"
	done
	if [[ -s $WORK/leftovers ]]; then
		echo "bench: processes outlived their unmount (killed):" >&2
		sed 's/^/  /' "$WORK/leftovers" >&2
	fi
	# Every mount is gone by now; --one-file-system all the same, so that a
	# mount that could not be removed is never walked into (an fs/ is a /).
	rm -rf --one-file-system "$WORK"
	[[ -n ${BENCH_FS_DATA:-} && -d $BENCH_FS_DATA ]] && rm -rf --one-file-system "$BENCH_FS_DATA"
}
# step OUT ERR CMD...: CMD under the step timeout, in the background so that
# a signal to this script is handled at once (the trap stops the step too:
# timeout passes the signal on to its whole process group).
STEP_PID=""
step_run() {
	local out=$1 err=$2 rc
	shift 2
	timeout -k 5 "$STEP_TIMEOUT" "$@" > "$out" 2>> "$err" &
	STEP_PID=$!
	wait "$STEP_PID"
	rc=$?
	STEP_PID=""
	return $rc
}
on_signal() {
	[[ -n $STEP_PID ]] && kill -TERM "$STEP_PID" 2>/dev/null && wait "$STEP_PID" 2>/dev/null
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

# mitofs_row ROW: the row body on a fresh mount, samples into $SAMPLES.
mitofs_row() {
	local row=$1 n=${2:-$N} out rc
	if ! mount_new; then
		echo "${row/row/r}.error mount failed" >> "$SAMPLES"
		return 1
	fi
	step_run "$WORK/$row.out" "$WORK/$row.err" env BENCH_N="$n" BENCH_LOOP="$LOOP" bash "$0" __row "$row" "$MNT"
	rc=$?
	out=$(cat "$WORK/$row.out")
	echo "$out" | grep . >> "$SAMPLES"
	if ((rc == 124 || rc == 137)); then
		echo "${row/row/r}.error timed out after ${STEP_TIMEOUT}s" >> "$SAMPLES"
	elif ((rc != 0)) && ! grep -q "\.error" <<< "$out"; then
		echo "${row/row/r}.error exit $rc: $(tail -n 1 "$WORK/$row.err")" >> "$SAMPLES"
	fi
	umount_one "$MNT" "$DPID"
	return $rc
}

# peer_row ROW [N]: the Mitogen side; checks its children are gone after.
peer_row() {
	local row=$1 n=${2:-$N} out rc pypid
	step_run "$WORK/$row.peer.out" "$WORK/$row.peer.err" "$PY" -u "$PEER" "$row" "$n" "$LOOP"
	rc=$?
	out=$(cat "$WORK/$row.peer.out")
	pypid=$(awk '$1 == "pid" {print $2}' <<< "$out")
	grep -Ev '^pid ' <<< "$out" | grep . >> "$SAMPLES"
	if ((rc == 124 || rc == 137)); then
		echo "$row.peer_error timed out after ${STEP_TIMEOUT}s" >> "$SAMPLES"
	elif ((rc != 0)); then
		echo "$row.peer_error exit $rc: $(grep -v '^ ' "$WORK/$row.peer.err" | tail -n 1)" >> "$SAMPLES"
	fi
	# Mitogen children are named "python3(mitogen:USER@HOST:PARENTPID)".
	if [[ -n $pypid ]]; then
		sleep 0.2
		if pkill -KILL -f "\(mitogen:[^)]*:$pypid\)" 2>/dev/null; then
			echo "mitogen children of $pypid outlived it" >> "$WORK/leftovers"
		fi
	fi
	return "$rc"
}

# openssh_row FUNC [N]: the OpenSSH side (no mount), samples into $SAMPLES.
openssh_row() {
	local fn=$1 n=${2:-$N} out rc
	step_run "$WORK/$fn.out" "$WORK/$fn.err" env BENCH_N="$n" bash "$0" __ossh "$fn"
	rc=$?
	out=$(cat "$WORK/$fn.out")
	echo "$out" | grep . >> "$SAMPLES"
	if ((rc == 124 || rc == 137)); then
		echo "r${fn#ossh}.openssh_error timed out after ${STEP_TIMEOUT}s" >> "$SAMPLES"
	elif ((rc != 0)) && ! grep -q "error" <<< "$out"; then
		echo "r${fn#ossh}.openssh_error exit $rc: $(tail -n 1 "$WORK/$fn.err")" >> "$SAMPLES"
	fi
	return $rc
}

# interleaved ROW [SIDES]: N rounds of one mitofs sample (fresh mount), one
# OpenSSH sample when SIDES has "openssh" (ssh rows), then one Mitogen
# sample (fresh process) unless SIDES lacks "peer", so a change in the
# machine's load hits every side alike. A side that fails is not run
# again. After each sample of an ssh row every sshd session must be gone.
interleaved() {
	local row=$1 sides=${2:-mitofs peer} k mok=1 ook=1 pok=1 rc=0
	[[ $sides == *openssh* ]] || ook=0
	[[ $sides == *peer* ]] || pok=0
	for ((k = 1; k <= N; k++)); do
		((mok)) && { mitofs_row "row${row#r}" 1 || { mok=0; rc=1; }; sshd_settle; }
		((ook)) && { openssh_row "ossh${row#r}" 1 || { ook=0; rc=1; }; sshd_settle; }
		((pok)) && { peer_row "$row" 1 || { pok=0; rc=1; }; sshd_settle; }
		((mok || ook || pok)) || break
	done
	return $rc
}

# ---------------------------------------------------------------------------
# fs/ rows (issues 4 and 11): mitofs's NAME/fs/ against sshfs over the
# same sshd and the same data set, BENCH_FS_N rounds; in each round every
# row takes one mitofs sample then one sshfs sample, with the target's
# page cache cold and then warm (a fresh sshfs mount per sample: its own
# caches cannot be dropped otherwise; mitofs: `flush`).
# ---------------------------------------------------------------------------

# fs_sample ROW SIDE DIR [CTL]: one sample (see fs_f*), into $SAMPLES.
# BENCH_STUB and BENCH_DAEMON, when set, are the pids whose cost a warm
# F1 or F2 sample of mitofs measures.
fs_sample() {
	local row=$1 side=$2 out rc
	step_run "$WORK/fs.out" "$WORK/fs.err" env BENCH_LOOP="$LOOP" BENCH_STUB="${BENCH_STUB:-}" \
		BENCH_DAEMON="${BENCH_DAEMON:-}" bash "$0" __fs "$@"
	rc=$?
	out=$(cat "$WORK/fs.out")
	echo "$out" | grep . >> "$SAMPLES"
	if ((rc == 124 || rc == 137)); then
		echo "$row.${side}_error timed out after ${STEP_TIMEOUT}s" >> "$SAMPLES"
	elif ((rc != 0)) && ! grep -q "error" <<< "$out"; then
		echo "$row.${side}_error exit $rc: $(tail -n 1 "$WORK/fs.err")" >> "$SAMPLES"
	fi
	return $rc
}

# fuse_mount NAME CMD...: CMD (a FUSE daemon that forks) mounts $WORK/NAME;
# its daemon is found by its command line and kept in MOUNTS (umount_one,
# cleanup). Sets FMNT.
fuse_mount() {
	local name=$1 pid
	shift
	FMNT="$WORK/$name"
	mkdir -p "$FMNT"
	if ! HOME=$BENCH_HOME timeout -k 5 30 "$@" "$FMNT" 2>> "$WORK/fuse.err"; then
		echo "bench: $1 $FMNT failed: $(tail -n 2 "$WORK/fuse.err")" >&2
		fusermount3 -uz "$FMNT" 2>/dev/null; rmdir "$FMNT" 2>/dev/null
		return 1
	fi
	pid=$(pgrep -xf "$(re_escape "$*") $(re_escape "$FMNT")" | head -n 1)
	if [[ -z $pid ]]; then
		echo "bench: no process found for $FMNT" >&2
		fusermount3 -u "$FMNT" 2>/dev/null || fusermount3 -uz "$FMNT" 2>/dev/null
		return 1
	fi
	MOUNTS+=("$FMNT $pid")
}
SCOUNT=0
sshfs_mount() {   # sshfs_mount [OPTIONS]: DATA of the bench's sshd, default options + key
	SCOUNT=$((SCOUNT + 1))
	fuse_mount "sshfs$SCOUNT" sshfs -F /dev/null \
		-o "IdentityFile=$BENCH_SSH_KEYS/id_ed25519,UserKnownHostsFile=$BENCH_SSH_KEYS/known_hosts,port=$BENCH_SSH_PORT,BatchMode=yes${1:+,$1}" \
		"root@127.0.0.1:$BENCH_FS_DATA"
}
fuse_umount() { umount_one "$FMNT" "$(for e in "${MOUNTS[@]}"; do [[ $e == "$FMNT "* ]] && echo "${e##* }"; done)"; }

# ctl_write FILE LINE: a control write under a timeout.
ctl_write() { timeout -k 5 90 bash -c 'echo "$2" > "$1"' _ "$1" "$2" 2>> "$WORK/fs.err"; }

# The fs rows' sample keys, for the error lines of a row that cannot run.
FS_ROWS="f1c f1w f2c f2w f3c f3w f3nc f3nw f4c f4w f5 f6c f6w"

# fs_pair ROW MNT: one mitofs sample on MNT's context s, then one sshfs
# sample on a fresh mount (F5: with caching off, as mitofs's mount).
fs_pair() {
	local r=$1 d=$2 pid
	if [[ -z ${bad[$r.mitofs]:-} ]]; then
		if [[ $r == f[12]w ]]; then
			pid=$(awk '$1 == "pid:" {print $2}' "$d/s/info")
			BENCH_STUB=$pid BENCH_DAEMON=$(for e in "${MOUNTS[@]}"; do [[ $e == "$d "* ]] && echo "${e##* }"; done) \
				fs_sample "$r" mitofs "$d/s/fs$BENCH_FS_DATA" "$d/s/ctl" || bad[$r.mitofs]=1
		else
			fs_sample "$r" mitofs "$d/s/fs$BENCH_FS_DATA" "$d/s/ctl" || bad[$r.mitofs]=1
		fi
	fi
	[[ -n ${bad[$r.sshfs]:-} ]] && return
	if sshfs_mount "$([[ $r == f5 ]] && echo 'cache=no,entry_timeout=0,attr_timeout=0')"; then
		fs_sample "$r" sshfs "$FMNT" || bad[$r.sshfs]=1
		fuse_umount
	else
		echo "$r.sshfs_error sshfs mount failed: $(tail -n 1 "$WORK/fuse.err")" >> "$SAMPLES"; bad[$r.sshfs]=1
	fi
}

# One request the daemon answers itself: a getxattr of a name the file
# lacks (what `ls -l` asks of every entry), mean of 2000. The floor of F3
# with xattrs on: two per entry.
fuse_request_us() {
	"$PY" - "$1" <<'PYEOF' 2>> "$WORK/fs.err"
import os, sys, time
f, n = sys.argv[1], 2000
os.stat(f)
t = time.perf_counter()
for _ in range(n):
    try:
        os.getxattr(f, "security.selinux", follow_symlinks=False)
    except OSError:
        pass
print("machine.fuse_req_us %.1f" % ((time.perf_counter() - t) / n * 1e6))
PYEOF
}

fs_rows() {
	local FS_N=${BENCH_FS_N:-5} k r i m z pt="" mode
	local -A bad=()
	export BENCH_FS_DATA
	BENCH_FS_DATA=$(mktemp -d /tmp/mitofs-fsdata.XXXXXX) || return 1
	step "fs: data set in $BENCH_FS_DATA"
	(
		cd "$BENCH_FS_DATA" || exit 1
		head -c $FS_BIG /dev/urandom > big || exit 1
		mkdir tree small || exit 1
		for ((i = 1; i <= FS_DIRS; i++)); do
			mkdir "tree/d$i" && (cd "tree/d$i" && touch $(seq -f 'f%g' $((FS_TREE / FS_DIRS)))) || exit 1
		done
		head -c $((FS_SMALL * 4096)) /dev/urandom > small.all &&
			split -b 4096 -d -a 4 small.all small/f && rm small.all && mv small/f0001 small/f1
	) || { done_ "failed"; for r in $FS_ROWS; do echo "$r.error data set not made" >> "$SAMPLES"; done; return 1; }
	done_ "$(du -sh "$BENCH_FS_DATA" | cut -f1)"
	# The disk is still busy with the data set it just took: flush it and
	# read it once, untimed and without FUSE, so that the first timed
	# sample (mitofs's F1) does not pay for that. (Before this, the first
	# F1 sample of every run was 1.4-1.8 s against 0.7-1.0 s for the
	# others.)
	step "fs: data set flushed and read once (untimed)"
	{ sync && echo 3 > /proc/sys/vm/drop_caches && cat "$BENCH_FS_DATA/big" > /dev/null &&
		sync && echo 3 > /proc/sys/vm/drop_caches; } 2>> "$WORK/fs.err"
	done_ "done"
	step "fs: mitofs mounts, contexts s (ssh) and l (local)"
	m="" z="" x=""
	if mount_new && m=$MNT && ctl_write "$m/ctl" "connect s $(sshc "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS")" &&
		ctl_write "$m/ctl" "connect l local" &&
		mount_new -o attr_timeout=0 && z=$MNT && ctl_write "$z/ctl" "connect s $(sshc "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS")" &&
		mount_new -o noxattr && x=$MNT && ctl_write "$x/ctl" "connect s $(sshc "$BENCH_SSH_PORT" "$BENCH_SSH_KEYS")"; then
		done_ "$m, $z, $x"
	else
		done_ "failed: $(tail -n 1 "$WORK/fs.err")"
		for r in $FS_ROWS; do echo "$r.error mitofs mount or connect failed" >> "$SAMPLES"; done
		return 1
	fi
	step "fs: one request the daemon answers itself"
	fuse_request_us "$m/s/fs$BENCH_FS_DATA/small/f1" >> "$SAMPLES"
	done_ "$(awk '$1 == "machine.fuse_req_us" {print $2 " us"}' "$SAMPLES")"
	# F6's peer: libfuse's own passthrough_ll example (Debian's
	# libfuse3-dev ships its source), built here, exposing only DATA.
	step "fs: F6 peer (libfuse3-dev's passthrough_ll.c)"
	if gcc -O2 -o "$WORK/passthrough_ll" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c \
		$(pkg-config --cflags --libs fuse3) 2>> "$WORK/fs.err"; then
		pt="$WORK/passthrough_ll"; done_ "built"
	else
		done_ "not available"
		for mode in c w; do
			echo "f6$mode.passthrough_error no passthrough: building libfuse3-dev's passthrough_ll.c failed" >> "$SAMPLES"
		done
	fi
	for ((k = 1; k <= FS_N; k++)); do
		step "fs: round $k of $FS_N"
		for r in f1 f2 f3 f4; do
			for mode in c w; do
				fs_pair "$r$mode" "$m"
				# The same file system without FUSE, for reference.
				[[ $r == f2 ]] && fs_sample "f2$mode" local "$BENCH_FS_DATA"
			done
		done
		fs_pair f5 "$z"
		# (No sshd_settle here: the mitofs contexts are sshd sessions
		# until the end; fuse_umount waits for sshfs's ssh client.)
		for mode in c w; do
			# F3 again on a mount without xattrs (-o noxattr), sshfs's feature set.
			[[ -n ${bad[f3n$mode.mitofs]:-} ]] ||
				fs_sample "f3n$mode" mitofs "$x/s/fs$BENCH_FS_DATA" "$x/s/ctl" || bad[f3n$mode.mitofs]=1
			[[ -n ${bad[f6$mode.mitofs]:-} ]] ||
				fs_sample "f6$mode" mitofs "$m/l/fs$BENCH_FS_DATA" "$m/l/ctl" || bad[f6$mode.mitofs]=1
			if [[ -n $pt && -z ${bad[f6$mode.passthrough]:-} ]]; then
				if fuse_mount "pt$k$mode" "$pt" -o "source=$BENCH_FS_DATA"; then
					fs_sample "f6$mode" passthrough "$FMNT" || bad[f6$mode.passthrough]=1
					fuse_umount
				else
					echo "f6$mode.passthrough_error mount failed: $(tail -n 1 "$WORK/fuse.err")" >> "$SAMPLES"
					bad[f6$mode.passthrough]=1
				fi
			fi
			fs_sample "f6$mode" local "$BENCH_FS_DATA"
		done
		done_ "done"
	done
	umount_one "$m" "$(for e in "${MOUNTS[@]}"; do [[ $e == "$m "* ]] && echo "${e##* }"; done)"
	umount_one "$z" "$(for e in "${MOUNTS[@]}"; do [[ $e == "$z "* ]] && echo "${e##* }"; done)"
	umount_one "$x" "$(for e in "${MOUNTS[@]}"; do [[ $e == "$x "* ]] && echo "${e##* }"; done)"
	sshd_settle
}

step() { printf 'bench: %-52s' "$1" >&2; }
done_() { printf '%s\n' "$1" >&2; }

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- core fs stub Makefile 2>/dev/null) ]]; then
	rev="$rev (with uncommitted changes in core/fs/stub)"
fi
mver=$("$PY" -c 'import mitogen; print(".".join(map(str, mitogen.__version__)))' 2>/dev/null)
echo "bench: $(nproc) CPUs ($cpu), kernel $(uname -r), N=$N, LOOP=$LOOP, load average $load0" >&2
t_start=$SECONDS

# The machine's kind: what a wake-up, a page fault and an exec cost here
# decides the rows more than the code does (docs/performance.md).
hyper=$(lscpu 2>/dev/null | awk -F': *' '/^Hypervisor vendor/ {v = $2} /^Virtualization type/ {t = $2}
	END { if (v != "") print v (t != "" ? " (" t ")" : ""); else print "none seen" }')
idle="$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)"
idle="$idle, governor $(cat /sys/devices/system/cpu/cpuidle/current_governor_ro 2>/dev/null || echo none)"
[[ -r /sys/module/haltpoll/parameters/guest_halt_poll_ns ]] &&
	idle="$idle, guest_halt_poll_ns=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns)"
# What else ran: how busy the CPUs were over one second, and the
# processes at 5 % of a CPU or more then.
cpu_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
read -r b0 t0 <<< "$(cpu_busy)"
busy=$(top -b -n 2 -d 1 -w 200 2>/dev/null | awk '/^top -/ {blk++}
	blk == 2 && /^ *[0-9]+ / && $9 + 0 >= 5 {printf "%s%s %s%%", n++ ? ", " : "", $12, $9}')
read -r b1 t1 <<< "$(cpu_busy)"
busy="CPUs $(( (b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1) )) % busy; ${busy:-no process at 5 % or more}"
step "machine: one page fault, one posix_spawn of true"
if gcc -O2 -o "$WORK/machine" "$HERE/machine.c" 2>> "$WORK/machine.err" &&
	"$WORK/machine" > "$WORK/machine.out" 2>> "$WORK/machine.err"; then
	cat "$WORK/machine.out" >> "$SAMPLES"
	done_ "$(tr '\n' ' ' < "$WORK/machine.out")"
else
	echo "machine.error $(tail -n 1 "$WORK/machine.err")" >> "$SAMPLES"
	done_ "failed: $(tail -n 1 "$WORK/machine.err")"
fi

# want GROUP: BENCH_ROWS (default "all") is a comma list of groups:
# local (rows 1-5), ssh (rows 6-8), fs (rows F1-F6, issue 4).
want() { [[ ${BENCH_ROWS:-all} == all || ,$BENCH_ROWS, == *,$1,* ]]; }

if want local; then
	step "row 1 mitofs (connect + first call)"; mitofs_row row1; done_ "rc $?"
	step "row 1 Mitogen";                         peer_row r1;     done_ "rc $?"
	step "row 1c mitofs (cold: empty stub cache)"; mitofs_row row1c; done_ "rc $?"
	step "row 2 round trip x$LOOP, $N rounds interleaved"; interleaved r2; done_ "rc $?"
	step "row 3 mitofs (idle RSS)";               mitofs_row row3; done_ "rc $?"
	step "row 3 Mitogen";                         peer_row r3;     done_ "rc $?"
	step "row 4 mitofs ($PAR parallel, $N mounts)"
	rc4=0
	for ((k = 1; k <= N; k++)); do mitofs_row row4 || { rc4=$?; break; }; done
	done_ "rc $rc4"
	step "row 4 Mitogen ($PAR threads)";          peer_row r4;     done_ "rc $?"
	step "row 5 64 MiB stdout, $N rounds interleaved"; interleaved r5; done_ "rc $?"
fi

# The ssh and fs rows: a private sshd whose sessions skip rc files (rows 6-8), and
# one whose sessions read root's ~/.bashrc (row 6r); one stub cache of the
# bench's own for both, under the XDG_RUNTIME_DIR their sessions get.
export BENCH_SSH_XDG="$WORK/sshxdg"
mkdir -p -m 700 "$BENCH_SSH_XDG"
step "ssh: private sshds (tests/sshd/sshd.sh)"
if sshd_start "$WORK/sshd" "SetEnv XDG_RUNTIME_DIR=$BENCH_SSH_XDG SHLVL=1" &&
	{ ! want ssh || sshd_start "$WORK/sshd-rc" "SetEnv XDG_RUNTIME_DIR=$BENCH_SSH_XDG"; }; then
	export BENCH_SSH_PORT=$(cat "$WORK/sshd/port") BENCH_SSH_KEYS="$WORK/sshd"
	export BENCH_SSH_PORT_RC=$(cat "$WORK/sshd-rc/port" 2>/dev/null) BENCH_SSH_KEYS_RC="$WORK/sshd-rc"
	done_ "ports $BENCH_SSH_PORT${BENCH_SSH_PORT_RC:+, $BENCH_SSH_PORT_RC}"
	if want ssh; then
		step "row 6 ssh up + first call, $N rounds interleaved"; interleaved r6 "mitofs openssh peer"; done_ "rc $?"
		step "row 6c mitofs (cold: empty stub cache)"; mitofs_row row6c; rc6c=$?; sshd_settle; done_ "rc $rc6c"
		step "row 6r through ~/.bashrc, $N rounds interleaved"; interleaved r6r "mitofs openssh"; done_ "rc $?"
		step "row 7 ssh round trip x$LOOP, $N rounds interleaved"; interleaved r7; done_ "rc $?"
		step "row 8 $PAR_SSH ssh in parallel, $N rounds interleaved"; interleaved r8 "mitofs openssh peer"; done_ "rc $?"
	fi
	want fs && fs_rows
else
	done_ "failed: $(tail -n 2 "$WORK/sshd.err")"
	want ssh && for r in r6 r6c r6r r7 r8; do echo "$r.error the bench's sshd did not start" >> "$SAMPLES"; done
	want fs && for r in $FS_ROWS; do echo "$r.error the bench's sshd did not start" >> "$SAMPLES"; done
fi
echo "bench: rows done in $((SECONDS - t_start)) s" >&2

# ---------------------------------------------------------------------------
# Medians, ratios, the table.
# ---------------------------------------------------------------------------
mkdir -p "$(dirname "$BENCH_OUT")"
"$PY" - "$SAMPLES" "$N" "$LOOP" "$cpu" "$(nproc)" "$(uname -r)" "${BENCH_ROWS:-all}" > "$WORK/table.md" <<'PYEOF'
import statistics, sys
path, n, loop, cpu, ncpu, kernel, groups = sys.argv[1:8]
want = lambda g: groups == 'all' or g in groups.split(',')
samples, errors = {}, {}
for line in open(path):
    key, _, val = line.rstrip('\n').partition(' ')
    if key.endswith('error'):
        who = ('OpenSSH' if key.endswith('openssh_error') else
               'Mitogen' if key.endswith('peer_error') else
               'sshfs' if key.endswith('sshfs_error') else
               'passthrough' if key.endswith('passthrough_error') else
               'local' if key.endswith('local_error') else 'mitofs')
        errors.setdefault(key.split('.')[0], []).append(who + ': ' + val)
        continue
    try:
        samples.setdefault(key, []).append(float(val))
    except ValueError:
        errors.setdefault(key.split('.')[0], []).append('bad sample %r' % line)

def med(key):
    v = samples.get(key)
    return statistics.median(v) if v else None

def ms(us):   return '%.2f ms' % (us / 1000)
def us_(us):  return '%.0f µs' % us
def kib(k):   return '%.0f KiB' % k
def sec(us):  return '%.3f s' % (us / 1e6)
def mibs(us): return '%.0f MiB/s' % (64 / (us / 1e6))

# row, title, key, fmt, peer label, goal text, goal(mitofs, peer) -> bool,
# ratio(mitofs, peer) -> (value, text)
def rtext(r, word):
    if r < 1:
        return '%.2f× (mitofs behind)' % r
    return ('%.2f× %s' if r < 10 else '%.1f× %s') % (r, word)
faster = lambda m, p: (p / m, rtext(p / m, 'faster'))
smaller = lambda m, p: (p / m, rtext(p / m, 'smaller'))
rows = [
    ('r1', '1. local context up + first call', ms, 'router.local() + call(os.getpid)',
     'mitofs ≥ 20× faster', lambda m, p: p / m >= 20, faster),
    ('r1c', '1c. the same, cold (empty stub cache)', ms, 'router.local() + call(os.getpid)',
     '(info) ≥ 20× faster', lambda m, p: p / m >= 20, faster),
    ('r2', '2. round trip of `true`, live context', us_, 'call(subprocess.check_call, [\'true\'])',
     'mitofs ≤ Mitogen', lambda m, p: m <= p, faster),
    ('r3', '3. idle stub RSS (VmRSS)', kib, 'child python VmRSS',
     '≤ 1 MiB', lambda m, p: m <= 1024, smaller),
    ('r4', '4. %s local contexts up in parallel' % 50, sec, '50 router.local() in 50 threads',
     '≤ 0.25 s', lambda m, p: m <= 250000, faster),
    ('r5', '5. 64 MiB job stdout', mibs, 'call(check_output, head -c 64 MiB)',
     '≥ 1 GiB/s', lambda m, p: 64 / (m / 1e6) >= 1024, faster),
]
out = []
if not want('local'):
    rows = []
if rows:
    out.append('| row | mitofs (median) | Mitogen (median) | ratio | goal | met? |')
    out.append('| --- | --- | --- | --- | --- | --- |')
    for key, title, fmt, plabel, goal, ok, ratio in rows:
        m, p = med(key + '.mitofs'), med(('r1' if key == 'r1c' else key) + '.peer')
        merr = [e for e in errors.get(key, []) if e.startswith('mitofs')]
        perr = [e for e in errors.get('r1' if key == 'r1c' else key, []) if e.startswith('Mitogen')]
        mcell = fmt(m) if m is not None and not merr else 'not measured'
        pcell = fmt(p) if p is not None and not perr else 'not measured'
        if key == 'r5' and m is not None and not merr:
            mcell += ' (%s)' % sec(m)
        if key == 'r5' and p is not None and not perr:
            pcell += ' (%s)' % sec(p)
        if mcell == 'not measured' or (key in ('r1', 'r1c', 'r2') and pcell == 'not measured'):
            met = 'n/a'
        else:
            met = 'yes' if ok(m, p) else 'no'
        rcell = ratio(m, p)[1] if 'not measured' not in (mcell, pcell) else '—'
        out.append('| %s | %s | %s | %s | %s | %s |' % (title, mcell, pcell, rcell, goal, met))
    out.append('')
    out.append('Ratio: Mitogen ÷ mitofs for times and sizes, mitofs ÷ Mitogen for throughput; > 1 means mitofs is ahead.')
    out.append('Samples per cell: N=%s (row 2: mean of %s round trips each; row 4: one fresh mount each). Rows 2 and 5 alternate one mitofs sample (fresh mount) with one Mitogen sample (fresh process), N rounds.' % (n, loop))
    out.append('Row 1 is after one untimed connect on each side (mitofs: stub cache filled; Mitogen: imports warm); row 1c empties the stub cache before every sample and reuses Mitogen\'s row 1 samples, since Mitogen caches nothing on the target.')

# The ssh rows: mitofs against OpenSSH's client and against Mitogen.
def err_of(row, who):
    return [e for e in errors.get(row, []) if e.startswith(who)]

def cell(key, fmt, row, who):
    v = med(key)
    return fmt(v) if v is not None and not err_of(row, who) else None

if want('ssh') and any(k.split('.')[0] in ('r6', 'r6c', 'r6r', 'r7', 'r8') for k in list(samples) + list(errors)):
    out.append('')
    out.append('| row | mitofs (median) | peer | peer (median) | ratio | goal | met? |')
    out.append('| --- | --- | --- | --- | --- | --- | --- |')
    osh = 'OpenSSH `ssh -p PORT root@127.0.0.1 true`'
    msh = "Mitogen `router.ssh()` + `call(os.getpid)`"
    def line(title, mc, plabel, pc, ratio, goal, met):
        out.append('| %s | %s | %s | %s | %s | %s | %s |' % (
            title, mc or 'not measured', plabel, pc or 'not measured',
            ratio if mc and pc else '—', goal, met if mc and pc else 'n/a'))
    # 6, 6c, 6r: time of mitofs as a fraction of OpenSSH's; 6 also vs Mitogen.
    for row, title, mkey, okey, goal in (
            ('r6', '6. ssh context up + first call (warm stub cache)', 'r6.mitofs', 'r6.openssh', '≤ 0.4× OpenSSH'),
            ('r6c', '6c. the same, cold (empty stub cache)', 'r6c.mitofs', 'r6.openssh', '(info) ≤ 0.4× OpenSSH'),
            ('r6r', "6r. the same, sessions read root's ~/.bashrc", 'r6r.mitofs', 'r6r.openssh', '(info) ≤ 0.4× OpenSSH')):
        m, o = med(mkey), med(okey)
        orow = 'r6' if row == 'r6c' else row
        mc, oc = cell(mkey, ms, row, 'mitofs'), cell(okey, ms, orow, 'OpenSSH')
        ratio = met = ''
        if mc and oc:
            ratio = '%.3f× the time of OpenSSH' % (m / o)
            met = 'yes' if m / o <= 0.4 else 'no'
        line(title, mc, osh, oc, ratio, goal, met)
        if row == 'r6':
            p = med('r6.peer')
            pc = cell('r6.peer', ms, 'r6', 'Mitogen')
            ratio = met = ''
            if mc and pc:
                ratio = faster(m, p)[1]
                met = 'yes' if m < p else 'no'
            line('6m. the same, against Mitogen', mc, msh, pc, ratio, 'mitofs faster', met)
    # 7: round trip, as row 2.
    m, p = med('r7.mitofs'), med('r7.peer')
    mc, pc = cell('r7.mitofs', us_, 'r7', 'mitofs'), cell('r7.peer', us_, 'r7', 'Mitogen')
    line('7. round trip of `true` over ssh, live context', mc,
         "Mitogen `call(subprocess.check_call, ['true'])` over `router.ssh()`", pc,
         faster(m, p)[1] if mc and pc else '', 'mitofs ≤ Mitogen',
         ('yes' if m <= p else 'no') if mc and pc else '')
    # 8: 20 at once as a multiple of one alone, for each side.
    def par(key, one_key, row, who):
        v, one = med(key), med(one_key)
        if v is None or one is None or err_of(row, who):
            return None, None
        return v / one, '%s = %.1f× one (%s)' % (sec(v), v / one, ms(one))
    mk, mc = par('r8.mitofs', 'r8.one', 'r8', 'mitofs')
    ok_, oc = par('r8.openssh', 'r8.openssh_one', 'r8', 'OpenSSH')
    pk, pc = par('r8.peer', 'r8.peer_one', 'r8', 'Mitogen')
    goal_met = ('yes' if mk <= 3 else 'no') if mk is not None else 'n/a'
    line('8. %d ssh contexts up in parallel' % 20, mc, '%d × OpenSSH `ssh ... true` at once' % 20, oc,
         rtext(med('r8.openssh') / med('r8.mitofs'), 'faster') if mc and oc else '',
         '≤ 3× one', goal_met)
    line('8m. the same, against Mitogen', mc, '%d `router.ssh()` in %d threads' % (20, 20), pc,
         rtext(med('r8.peer') / med('r8.mitofs'), 'faster') if mc and pc else '',
         '(info)', '—')
    out.append('')
    out.append('Row 6: mitofs is `connect` + `echo true > exec; read s < status`; OpenSSH runs `true` through the same sshd; row 6m is the same mitofs samples against Mitogen. Rows 6, 6m, 7, 8 use an sshd whose sessions start no rc file; row 6r one whose sessions read root\'s ~/.bashrc, as a plain `ssh host cmd` does. Row 6c empties the bench\'s own ssh stub cache before each sample and is set against row 6\'s OpenSSH samples. Row 8: a fresh mount per sample, one connect alone then 20 at once; the ratio column is peer ÷ mitofs of the 20-at-once times.')
# The fs/ rows (issues 4 and 11): mitofs NAME/fs/ against sshfs (F6: a
# local context against libfuse's passthrough_ll), target cold and warm.
FS_KEYS = ('f1c', 'f1w', 'f2c', 'f2w', 'f3c', 'f3w', 'f3nc', 'f3nw', 'f4c', 'f4w', 'f5', 'f6c', 'f6w')
if any(k.split('.')[0] in FS_KEYS for k in list(samples) + list(errors)):
    def tput(mib):
        return lambda us: '%.0f MiB/s' % (mib / (us / 1e6))
    out.append('')
    out.append('| row | mitofs (median) | peer | peer (median) | ratio | goal | met? |')
    out.append('| --- | --- | --- | --- | --- | --- | --- |')
    sshfs, fresh = 'sshfs (defaults)', 'sshfs (defaults), fresh mount'
    # kind: 'tput' (ratio peer time ÷ mitofs time, the throughput
    # ratio; goal ≥ lim) or 'time' (mitofs ÷ peer; goal ≤ lim).
    # lim None: no goal.
    for row, title, fmt, peer, plabel, kind, goal, lim in (
            ('f1w', 'F1w. sequential read, 256 MiB, target warm', tput(256), 'sshfs', sshfs, 'tput', 'mitofs ≥ 2.0× sshfs', 2.0),
            ('f1c', 'F1c. the same, target cold', tput(256), 'sshfs', sshfs, 'tput', 'mitofs ≥ 1.0× sshfs', 1.0),
            ('f2w', 'F2w. write 256 MiB, `conv=fsync`, target warm', tput(256), 'sshfs', sshfs, 'tput', 'mitofs ≥ 1.5× sshfs', 1.5),
            ('f2c', 'F2c. the same, target cold', tput(256), 'sshfs', sshfs, 'tput', 'mitofs ≥ 1.0× sshfs', 1.0),
            ('f3w', 'F3w. `ls -lR`, 10,000 files in 100 dirs, xattrs on, target warm', sec, 'sshfs', fresh, 'time', 'mitofs ≤ 0.5× sshfs', 0.5),
            ('f3c', 'F3c. the same, target cold', sec, 'sshfs', fresh, 'time', 'mitofs ≤ 1.0× sshfs', 1.0),
            ('f3nw', 'F3nw. the same, mitofs `-o noxattr` (no xattrs, as sshfs), target warm', sec, 'f3w.sshfs', fresh, 'time', '(info) ≤ 0.3× sshfs', 0.3),
            ('f3nc', 'F3nc. the same, target cold', sec, 'f3c.sshfs', fresh, 'time', '(info) ≤ 1.0× sshfs', 1.0),
            ('f4w', 'F4w. `cat` of 1000 × 4 KiB files, target warm', sec, 'sshfs', fresh, 'tput', 'mitofs ≥ 2.5× sshfs', 2.5),
            ('f4c', 'F4c. the same, target cold', sec, 'sshfs', fresh, 'tput', 'mitofs ≥ 1.0× sshfs', 1.0),
            ('f5', 'F5. one uncached `stat`', us_, 'sshfs', 'sshfs -o cache=no,entry_timeout=0,attr_timeout=0', 'time', 'mitofs ≤ 0.2× sshfs', 0.2),
            ('f6w', 'F6w. local context: sequential read, 256 MiB, target warm', tput(256), 'passthrough', "libfuse's passthrough_ll", 'tput', 'mitofs ≥ 0.5× passthrough', 0.5),
            ('f6c', 'F6c. the same, target cold', tput(256), 'passthrough', "libfuse's passthrough_ll", 'tput', 'mitofs ≥ 0.5× passthrough', 0.5)):
        pkey = peer if '.' in peer else row + '.' + peer  # F3n reuses F3's sshfs samples
        m, p = med(row + '.mitofs'), med(pkey)
        mc = fmt(m) if m is not None and not err_of(row, 'mitofs') else None
        pc = fmt(p) if p is not None and not err_of(pkey.split('.')[0], pkey.split('.')[1]) else None
        ratio = met = ''
        if mc and pc:
            if kind == 'tput':
                ratio = '%.2f× the throughput' % (p / m)
                met = 'yes' if p / m >= lim else 'no'
            else:
                ratio = '%.3f× the time' % (m / p)
                met = 'yes' if m / p <= lim else 'no'
        out.append('| %s | %s | %s | %s | %s | %s | %s |' % (
            title, mc or 'not measured', plabel, pc or 'not measured',
            ratio if mc and pc else '—', goal, met if mc and pc else 'n/a'))
    # What the stub and the daemon spent per MiB, in the warm samples
    # (medians over the rounds; the first round also makes the buffers).
    for title, keys, fmt, goal, ok in (
            ('F1s. stub CPU per MiB read (F1w)', ('f1w.stub_cpu_ms',), '%.3f ms', 'mitofs ≤ 1.0 ms', lambda v: v[0] <= 1.0),
            ('F1d. daemon CPU per MiB read (F1w)', ('f1w.daemon_cpu_ms',), '%.3f ms', '(info)', None),
            ('F1p. page faults per MiB read, stub / daemon (F1w)', ('f1w.stub_faults', 'f1w.daemon_faults'), '%.2f', 'none (< 0.05 each)', lambda v: max(v) < 0.05),
            ('F2p. page faults per MiB written, stub / daemon (F2w)', ('f2w.stub_faults', 'f2w.daemon_faults'), '%.2f', 'none (< 0.05 each)', lambda v: max(v) < 0.05)):
        v = [med(k) for k in keys]
        if None in v:
            out.append('| %s | not measured | — | — | — | %s | n/a |' % (title, goal))
            continue
        out.append('| %s | %s | — | — | — | %s | %s |' % (
            title, ' / '.join(fmt % x for x in v), goal, '—' if ok is None else 'yes' if ok(v) else 'no'))
    for row, what, mib in (('f2w', 'F2w', 256), ('f2c', 'F2c', 256), ('f6w', 'F6w', 256), ('f6c', 'F1c/F6c', 256)):
        v = med(row + '.local')
        if v is not None:
            out.append('')
            out.append('%s without FUSE (the same dd on the data set directly, same cache state): %s.' % (what, tput(mib)(v)))
    out.append('')
    out.append('fs rows: BENCH_FS_N rounds; each round takes one sample of every row on each side, mitofs first, target cold then warm. mitofs: one mount (F5: a second one with `-o attr_timeout=0`; F3n: a third with `-o noxattr`), ssh context `s` to the bench\'s sshd (F6: local context `l`), `echo flush > s/ctl` before every sample; sshfs: `root@127.0.0.1:DATA` on the same sshd, a fresh mount per sample. Cold: then `echo 3 > /proc/sys/vm/drop_caches`; warm: the files the row reads are read once without FUSE, untimed. F5 is the mean of BENCH_LOOP `[[ -e f1 ]]` (one stat(2), no fork) in the file\'s directory, caching off on both sides. F1s, F1d, F1p, F2p: CPU time (every thread\'s /proc/PID/task/*/schedstat) and page faults (minor + major, /proc/PID/stat) of the ssh context\'s stub and of the daemon over the warm samples, per MiB moved. Ratio: for throughput rows peer time ÷ mitofs time, for time rows mitofs time ÷ peer time.')
out.append('')
out.append('| sample | n | min | median | max |')
out.append('| --- | --- | --- | --- | --- |')
units = {'r1': ms, 'r1c': ms, 'r2': us_, 'r3': kib, 'r4': sec, 'r5': sec,
         'r6': ms, 'r6c': ms, 'r6r': ms, 'r7': us_, 'r8': sec, 'f5': us_}
for k in sorted(samples):
    v = samples[k]
    f = units.get(k.split('.')[0], sec)
    if k.endswith('_bytes'):
        f = lambda x: '%d B' % x
    elif k.endswith('_rss') or k.endswith('_after_job'):
        f = kib
    elif k.endswith('_cpu_ms'):
        f = lambda x: '%.3f ms/MiB' % x
    elif k.endswith('_faults'):
        f = lambda x: '%.2f /MiB' % x
    elif k == 'machine.pagefault_ns':
        f = lambda x: '%.0f ns' % x
    elif k.startswith('machine.'):
        f = lambda x: '%.1f µs' % x
    out.append('| %s | %d | %s | %s | %s |' % (k, len(v), f(min(v)), f(statistics.median(v)), f(max(v))))
if errors:
    out.append('')
    out.append('Not measured / failed:')
    for k in sorted(errors):
        for e in errors[k]:
            out.append('- %s %s' % (k, e))
print('\n'.join(out))
PYEOF
{
	echo "Machine: $(nproc) CPUs, $cpu, Linux $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Kind: hypervisor $hyper; cpuidle $idle; $(awk '
		$1 == "machine.pagefault_ns" {f = $2} $1 == "machine.spawn_us" {s = $2} $1 == "machine.fuse_req_us" {q = $2}
		END { printf "one page fault %s, one posix_spawn of true + wait %s, one FUSE request the daemon answers itself %s",
		      f != "" ? f " ns" : "not measured", s != "" ? s " µs" : "not measured", q != "" ? q " µs" : "not measured" }' "$SAMPLES")"
	echo "Load average (1/5/15 min) at start: $load0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "What else ran, over one second at the start: $busy"
	echo "Command: BENCH_N=$N BENCH_LOOP=$LOOP${BENCH_ROWS:+ BENCH_ROWS=$BENCH_ROWS} BENCH_FS_N=${BENCH_FS_N:-5} make bench"
	echo "Daemon: $MITOFS_SRC (copied at the start), commit $rev; Mitogen $mver under $PY"
	echo
	cat "$WORK/table.md"
} | tee "$BENCH_OUT"
cp "$SAMPLES" "${BENCH_OUT%.md}.samples"
echo "bench: total $((SECONDS - t_start)) s; table also in $BENCH_OUT, raw samples in ${BENCH_OUT%.md}.samples" >&2
if [[ -s $WORK/leftovers ]]; then exit 3; fi
if grep -q 'error ' "$SAMPLES"; then exit 2; fi
exit 0

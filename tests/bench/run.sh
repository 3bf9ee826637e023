#!/usr/bin/env bash
# tests/bench/run.sh — mitofs side by side with its peers, in one run.
#
#   make bench                 (or: tests/bench/run.sh)
#   BENCH_N=15                 samples per measurement (medians are reported)
#   BENCH_LOOP=200             round trips per sample in row 2
#   BENCH_STEP_TIMEOUT=120     seconds any one step may take before it is killed
#   BENCH_OUT=build/bench/results.md   where the table is also written
#   MITOFS=build/mitofs        the daemon under test
#
# Rows (see docs/performance.md for what limits each):
#   1  local context up + first call       mitofs >= 20x faster than Mitogen
#   1c the same with an empty stub cache   (for information)
#   2  round trip of `true`, live context  mitofs <= Mitogen
#   3  idle stub RSS                       <= 1 MiB
#   4  50 local contexts up in parallel    <= 0.25 s
#   5  64 MiB of job stdout                >= 1 GiB/s
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

if [[ ${1:-} == __row ]]; then
	cd "$3" || exit 1
	"$2"
	exit $?
fi

# ---------------------------------------------------------------------------
# Main: dependencies, mounts, cleanup, the rows, the table.
# ---------------------------------------------------------------------------

need_pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

missing=""
for p in python3-mitogen fuse3; do need_pkg "$p" || missing="$missing $p"; done
if [[ -n $missing ]]; then
	echo "bench: installing$missing" >&2
	apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2 ||
		{ echo "bench: could not install$missing" >&2; exit 1; }
fi
[[ -x $MITOFS ]] || make -C "$ROOT" all >&2 || exit 1
"$PY" -c 'import mitogen.master' || { echo "bench: $PY cannot import mitogen" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mitofs-bench.XXXXXX)
SAMPLES="$WORK/samples"
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
mount_new() {
	MCOUNT=$((MCOUNT + 1))
	MNT="$WORK/m$MCOUNT"
	mkdir -p "$MNT"
	# A private HOME: the daemon's stub cache is the bench's own, never the
	# user's, so rows 1 and 1c measure warm and cold caches on purpose.
	if ! HOME=$BENCH_HOME timeout -k 5 30 env -u XDG_RUNTIME_DIR "$MITOFS" "$MNT" 2>> "$WORK/daemon.err"; then
		echo "bench: $MITOFS $MNT failed: $(tail -n 3 "$WORK/daemon.err")" >&2
		return 1
	fi
	DPID=$(pgrep -xf "$(re_escape "$MITOFS $MNT")" | head -n 1)
	if [[ -z $DPID ]]; then
		echo "bench: no daemon process found for $MNT" >&2
		fusermount3 -uz "$MNT" 2>/dev/null
		return 1
	fi
	MOUNTS+=("$MNT $DPID")
}

# umount_one MNT DPID: unmount, wait for the daemon and its stubs to go,
# and kill by pid (recorded as a leftover) whatever does not.
umount_one() {
	local m=$1 dpid=$2 stubs p i left=""
	# The daemon's descendants: stubs, their guards and jobs.
	stubs=$(ps -e -o pid=,ppid= | awk -v root="$dpid" '
		{ kids[$2] = kids[$2] " " $1 }
		END { q[1] = root; n = 1
		      for (i = 1; i <= n; i++) { c = split(kids[q[i]], a, " ")
		          for (j = 1; j <= c; j++) { q[++n] = a[j]; print a[j] } } }')
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

cleanup() {
	local e
	for e in "${MOUNTS[@]}"; do umount_one $e; done
	if [[ -s $WORK/leftovers ]]; then
		echo "bench: processes outlived their unmount (killed):" >&2
		sed 's/^/  /' "$WORK/leftovers" >&2
	fi
	rm -rf "$WORK"
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

# interleaved ROW: N rounds of one mitofs sample (fresh mount) then one
# Mitogen sample (fresh process), so a change in the machine's load hits
# both sides alike. A side that fails is not run again.
interleaved() {
	local row=$1 k mok=1 pok=1 rc=0
	for ((k = 1; k <= N; k++)); do
		((mok)) && { mitofs_row "row${row#r}" 1 || { mok=0; rc=1; }; }
		((pok)) && { peer_row "$row" 1 || { pok=0; rc=1; }; }
		((mok || pok)) || break
	done
	return $rc
}

step() { printf 'bench: %-44s' "$1" >&2; }
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
echo "bench: rows done in $((SECONDS - t_start)) s" >&2

# ---------------------------------------------------------------------------
# Medians, ratios, the table.
# ---------------------------------------------------------------------------
mkdir -p "$(dirname "$BENCH_OUT")"
"$PY" - "$SAMPLES" "$N" "$LOOP" "$cpu" "$(nproc)" "$(uname -r)" > "$WORK/table.md" <<'PYEOF'
import statistics, sys
path, n, loop, cpu, ncpu, kernel = sys.argv[1:7]
samples, errors = {}, {}
for line in open(path):
    key, _, val = line.rstrip('\n').partition(' ')
    if key.endswith('error'):
        errors.setdefault(key.split('.')[0], []).append(('mitofs' if key.endswith('.error') else 'Mitogen') + ': ' + val)
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
out.append('')
out.append('| sample | n | min | median | max |')
out.append('| --- | --- | --- | --- | --- |')
units = {'r1': ms, 'r1c': ms, 'r2': us_, 'r3': kib, 'r4': sec, 'r5': sec}
for k in sorted(samples):
    v = samples[k]
    f = units[k.split('.')[0]]
    if k.endswith('_bytes'):
        f = lambda x: '%d B' % x
    elif k.endswith('_rss') or k.endswith('_after_job'):
        f = kib
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
	echo "Load average (1/5/15 min) at start: $load0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "Command: BENCH_N=$N BENCH_LOOP=$LOOP make bench"
	echo "Daemon: $MITOFS, commit $rev; Mitogen $mver under $PY"
	echo
	cat "$WORK/table.md"
} | tee "$BENCH_OUT"
cp "$SAMPLES" "${BENCH_OUT%.md}.samples"
echo "bench: total $((SECONDS - t_start)) s; table also in $BENCH_OUT, raw samples in ${BENCH_OUT%.md}.samples" >&2
if [[ -s $WORK/leftovers ]]; then exit 3; fi
if grep -q 'error ' "$SAMPLES"; then exit 2; fi
exit 0

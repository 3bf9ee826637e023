#!/usr/bin/env bash
# tests/bench/fleet.sh — the fleet rows (issue 10): groups/ and push at
# scale, side by side with Mitogen, ClusterShell, pdsh and a floor
# measured in the same run. `make bench` runs it after run.sh
# (BENCH_ROWS=fleet for these rows alone).
#
#   BENCH_FLEET_N=3      samples per row (medians are reported)
#   BENCH_OUT_FLEET=build/bench/fleet.md
#
# Rows:
#   G0 the spawn floor: 1000 posix_spawn()s of `sh -c true` from a tiny C
#      program (spawn_floor.c), each waited for
#   G1f G1's own floor: 100 `hostname` programs spawned at once by that C
#      program and all waited for (wall and the programs' CPU time): what
#      running the program 100 times costs here, gathered by nothing
#   G1 `hostname` on the 100 leaves of a 10 x 10 tree of local contexts,
#      all output gathered: mitofs group exec + read of stdout, against
#      Mitogen's call_async() + Select on the same tree shape running the
#      `hostname` program (subprocess.check_output, goal: ≤ 0.5×); as info,
#      Mitogen answering from Python (socket.gethostname, no program run)
#      and a shell that runs one `exec` per context in the background
#   G2 1000 local contexts up as a 10 x 100 tree: 10 parents, then 10 ctl
#      writes of 100 connect lines at once (goal: ≤ 1.5× G0)
#   G3 one group write of `echo $$` on those 1000, then its status and
#      stdout read back whole (goal: ≤ 1.2× G0)
#   G4 push of 1 MiB to the 1000 (goal: ≤ 1× G0; the daemon sends < 30 MiB)
#   G5 push of 64 MiB to 50 members behind one ssh context (goal: the ssh
#      link carries ≤ 1.1× the file); a second push of it (hash only)
#   G6 `hostname` on 10 ssh hosts (aliases of the bench's sshd), gathered:
#      mitofs group exec on live contexts, and connect + exec from a fresh
#      mount, against `clush -b` and `pdsh -R ssh` (which connect each time)
# Memory is sampled at G2: the daemon's VmRSS and every stub's.
set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
N=${BENCH_FLEET_N:-3}
OUT=${BENCH_OUT_FLEET:-$ROOT/build/bench/fleet.md}
MITOFS_SRC=${MITOFS:-$ROOT/build/mitofs}
STEP=${BENCH_STEP_TIMEOUT:-300}

need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
missing=""
for p in python3-mitogen clustershell pdsh openssh-client openssh-server; do
	need_pkg "$p" || missing="$missing $p"
done
if [[ -n $missing ]]; then
	echo "fleet: installing$missing" >&2
	apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2 ||
		{ echo "fleet: could not install$missing" >&2; exit 1; }
fi
[[ -x $MITOFS_SRC ]] || make -C "$ROOT" all >&2 || exit 1

WORK=$(mktemp -d /tmp/mitofs-fleet.XXXXXX)
SAMPLES=$WORK/samples
: >"$SAMPLES"
cp "$MITOFS_SRC" "$WORK/mitofs"
MITOFS=$WORK/mitofs
export HOME=$WORK/home
mkdir -p "$HOME" "$WORK/dst"
MNT=""
DPID=""

now_us() { echo $(( $(date +%s%N) / 1000 )); }
sample() { echo "$1 $2" >>"$SAMPLES"; }
fail_row() { echo "$1.error $2" >>"$SAMPLES"; echo "fleet: $1: $2" >&2; }

mount_new() {
	MNT=$WORK/m$RANDOM
	mkdir -p "$MNT"
	env -u XDG_RUNTIME_DIR "$MITOFS" "$MNT" || return 1
	DPID=$(pgrep -xf "$MITOFS $MNT" | head -n 1)
	[[ -n $DPID ]]
}

# Unmounts and waits for the daemon and every stub of its session to go.
umount_cur() {
	[[ -n $MNT ]] || return 0
	local sid=$DPID i
	fusermount3 -u "$MNT" 2>/dev/null || { sleep 0.5; fusermount3 -uz "$MNT"; }
	for ((i = 0; i < 100; i++)); do
		[[ -z $(ps -e -o sid= | awk -v s="$sid" '$1 == s') ]] && break
		sleep 0.1
	done
	if [[ -n $(ps -e -o sid= | awk -v s="$sid" '$1 == s') ]]; then
		echo "fleet: processes of $MNT outlived it: killing" >&2
		ps -e -o pid=,sid= | awk -v s="$sid" '$2 == s {print $1}' | xargs -r kill -9
		echo leftovers >>"$WORK/leftovers"
	fi
	rmdir "$MNT" 2>/dev/null
	MNT=""
}

cleanup() {
	umount_cur
	mountpoint -q "$WORK/dst" && umount -l "$WORK/dst"
	[[ -s $WORK/sshd/sshd.pid ]] && "$ROOT/tests/sshd/sshd.sh" stop "$WORK/sshd"
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Connects PARENTS local contexts with CHILDREN each under the mount.
tree() {   # PARENTS CHILDREN
	local p c
	for ((p = 1; p <= $1; p++)); do echo "connect p$p local"; done >"$WORK/l1"
	cat "$WORK/l1" >"$MNT/ctl" || return 1
	for ((c = 1; c <= $2; c++)); do echo "connect c$c local"; done >"$WORK/l2"
	for ((p = 1; p <= $1; p++)); do cat "$WORK/l2" >"$MNT/p$p/ctl" & done
	wait || return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# The data pushes write goes to a tmpfs: the rows measure the push, not
# this VM's disk (a 1 MiB fsync here can take milliseconds).
mount -t tmpfs -o size=8g tmpfs "$WORK/dst" || { echo "fleet: no tmpfs" >&2; exit 1; }
cc -O2 -o "$WORK/spawn_floor" "$HERE/spawn_floor.c" || exit 1
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "fleet: $(nproc) CPUs ($cpu), N=$N, load average $load0" >&2

for ((k = 1; k <= N; k++)); do
	echo "fleet: round $k of $N" >&2
	# G0: the floor.
	sample g0.floor "$("$WORK/spawn_floor" 1000)"
	read -r w c < <("$WORK/spawn_floor" -p 100 hostname)
	sample g1.floor "$w"
	sample g1.floor_cpu "$c"

	# G1: 100 leaves of a 10 x 10 tree.
	if mount_new && tree 10 10; then
		mkdir "$MNT/groups/g" && echo '*/*' >"$MNT/groups/g/members"
		echo hostname >"$MNT/groups/g/exec" && cat "$MNT/groups/g/status" >/dev/null # warm
		t0=$(now_us)
		echo hostname >"$MNT/groups/g/exec" && n=$(wc -l <"$MNT/groups/g/stdout")
		t1=$(now_us)
		[[ $n == 100 ]] && sample g1.mitofs $((t1 - t0)) || fail_row g1 "mitofs gathered $n lines, not 100"
		# The same with one background exec per context, as a script
		# would without groups.
		t0=$(now_us)
		for d in "$MNT"/p*/c[0-9]*; do (echo hostname >"$d/exec" && cat "$d/stdout" >/dev/null) & done
		wait
		t1=$(now_us)
		sample g1.shell $((t1 - t0))
	else
		fail_row g1 "mitofs: mount or tree failed"
	fi
	umount_cur
	timeout -k 5 "$STEP" "$PY" "$HERE/peer_fleet.py" 10 10 1 >>"$SAMPLES" 2>>"$WORK/peer.err" ||
		fail_row g1 "Mitogen: $(tail -n 1 "$WORK/peer.err")"

	# G2-G4: 1000 leaves of a 10 x 100 tree.
	if mount_new; then
		t0=$(now_us)
		if tree 10 100; then
			t1=$(now_us)
			sample g2.mitofs $((t1 - t0))
			sample g2.daemon_rss "$(rss_kib "$DPID")"
			ps -e -o sid=,rss=,args= | awk -v s="$DPID" '$1 == s && $3 ~ /^mitofs:/ {
				n++; t += $2; if ($2 > m) m = $2 } END { print "g2.stub_rss_avg", t / n;
				print "g2.stub_rss_max", m; print "g2.stubs", n }' >>"$SAMPLES"
			# Again once idle: a stub frees its kept buffers once a whole 3 s
			# trim period passed without a message (stub/main.c idle_trim): 3-6 s.
			sleep 7
			ps -e -o sid=,rss=,pid=,args= | awk -v s="$DPID" '$1 == s && $4 ~ /^mitofs:/ {
				n++; t += $2; if ($2 > m) { m = $2; p = $3 } } END { print "g2.stub_rss_avg_idle", t / n;
				print "g2.stub_rss_max_idle", m; print "g2.stub_max_idle_pid", p }' >"$WORK/idle"
			grep -v "^g2.stub_max_idle_pid" "$WORK/idle" >>"$SAMPLES"
			# The largest one's own memory and its mapped program file.
			big=$(awk '$1 == "g2.stub_max_idle_pid" { print $2 }' "$WORK/idle")
			sample g2.stub_max_idle_anon "$(awk '/^RssAnon:/ {print $2}' "/proc/$big/status")"
			sample g2.stub_max_idle_file "$(awk '/^RssFile:/ {print $2}' "/proc/$big/status")"
			mkdir "$MNT/groups/all" && echo '*/*' >"$MNT/groups/all/members"
			t0=$(now_us)
			echo 'echo $$' >"$MNT/groups/all/exec"
			ok=$(grep -c ' exit 0$' "$MNT/groups/all/status")
			lines=$(wc -l <"$MNT/groups/all/stdout")
			t1=$(now_us)
			[[ $ok == 1000 && $lines == 1000 ]] && sample g3.mitofs $((t1 - t0)) ||
				fail_row g3 "$ok exits 0 and $lines lines of 1000"
			head -c 1048576 /dev/urandom >"$WORK/1m"
			b0=$(awk '/^push_bytes_sent:/ {print $2}' "$MNT/stats")
			t0=$(now_us)
			echo "push $WORK/1m $WORK/dst/1m" >"$MNT/groups/all/ctl" &&
				t1=$(now_us) && sample g4.mitofs $((t1 - t0)) ||
				fail_row g4 "push failed: $(cat "$MNT/groups/all/ctl")"
			b1=$(awk '/^push_bytes_sent:/ {print $2}' "$MNT/stats")
			sample g4.daemon_bytes $((b1 - b0))
			cmp -s "$WORK/1m" "$WORK/dst/1m" || fail_row g4 "pushed bytes differ"
		else
			fail_row g2 "the 10 x 100 tree did not come up"
		fi
	else
		fail_row g2 "mount failed"
	fi
	umount_cur
done

# G5, G6: over the bench's own sshd.
if "$ROOT/tests/sshd/sshd.sh" start "$WORK/sshd" >"$WORK/sshd.port" 2>>"$WORK/sshd.err"; then
	port=$(cat "$WORK/sshd.port")
	keys=$WORK/sshd
	sshc="ssh host=127.0.0.1 port=$port identity=$keys/id_ed25519 known_hosts=$keys/known_hosts"
	# Ten host names for one sshd, for clush and pdsh.
	mkdir -p "$HOME/.ssh"
	for i in $(seq 1 10); do
		printf 'Host h%d\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s/id_ed25519\n  UserKnownHostsFile %s/known_hosts\n  HostKeyAlias [127.0.0.1]:%s\n  BatchMode yes\n' \
			"$i" "$port" "$keys" "$keys" "$port"
	done >"$HOME/.ssh/config"
	chmod 600 "$HOME/.ssh/config"
	for ((k = 1; k <= N; k++)); do
		# G5: 64 MiB to 50 local contexts behind one ssh context.
		if mount_new && echo "connect s $sshc" >"$MNT/ctl"; then
			for c in $(seq 1 50); do echo "connect c$c local"; done >"$WORK/l50"
			cat "$WORK/l50" >"$MNT/s/ctl"
			mkdir "$MNT/groups/s" && echo 's/*' >"$MNT/groups/s/members"
			head -c $((64 << 20)) /dev/urandom >"$WORK/64m"
			b0=$(awk '$1 == "bytes_out:" {print $2}' "$MNT/s/info")
			t0=$(now_us)
			if echo "push $WORK/64m $WORK/dst/64m" >"$MNT/groups/s/ctl"; then
				t1=$(now_us)
				b1=$(awk '$1 == "bytes_out:" {print $2}' "$MNT/s/info")
				sample g5.mitofs $((t1 - t0))
				sample g5.link_bytes $((b1 - b0))
				t0=$(now_us)
				echo "push $WORK/64m $WORK/dst/64m.again" >"$MNT/groups/s/ctl"
				t1=$(now_us)
				b2=$(awk '$1 == "bytes_out:" {print $2}' "$MNT/s/info")
				sample g5.again $((t1 - t0))
				sample g5.again_bytes $((b2 - b1))
			else
				fail_row g5 "push failed: $(cat "$MNT/groups/s/ctl")"
			fi
			rm -f "$WORK/dst/64m" "$WORK/dst/64m.again"
		else
			fail_row g5 "mount or ssh connect failed"
		fi
		umount_cur
		# G6: 10 ssh hosts, `hostname` gathered.
		if mount_new; then
			t0=$(now_us)
			for i in $(seq 1 10); do echo "connect h$i $sshc"; done >"$WORK/l10"
			if cat "$WORK/l10" >"$MNT/ctl"; then
				mkdir "$MNT/groups/h" && echo 'h*' >"$MNT/groups/h/members"
				echo hostname >"$MNT/groups/h/exec" && n=$(wc -l <"$MNT/groups/h/stdout")
				t1=$(now_us)
				sample g6.mitofs_connect $((t1 - t0))
				t0=$(now_us)
				echo hostname >"$MNT/groups/h/exec" && n=$(wc -l <"$MNT/groups/h/stdout")
				t1=$(now_us)
				[[ $n == 10 ]] && sample g6.mitofs $((t1 - t0)) || fail_row g6 "mitofs: $n lines"
			else
				fail_row g6 "mitofs: ssh connects failed: $(cat "$MNT/ctl")"
			fi
		fi
		umount_cur
		t0=$(now_us)
		n=$(timeout -k 5 "$STEP" clush -o "-F $HOME/.ssh/config" -w 'h[1-10]' -b hostname 2>>"$WORK/clush.err" | wc -l)
		t1=$(now_us)
		[[ $n -ge 3 ]] && sample g6.clush $((t1 - t0)) || fail_row g6 "clush: $(tail -n 1 "$WORK/clush.err")"
		t0=$(now_us)
		n=$(PDSH_SSH_ARGS="-F $HOME/.ssh/config" timeout -k 5 "$STEP" pdsh -R ssh -w 'h[1-10]' hostname 2>>"$WORK/pdsh.err" | wc -l)
		t1=$(now_us)
		[[ $n == 10 ]] && sample g6.pdsh $((t1 - t0)) || fail_row g6 "pdsh: $n lines: $(tail -n 1 "$WORK/pdsh.err")"
	done
else
	fail_row g5 "the bench's sshd did not start: $(tail -n 1 "$WORK/sshd.err")"
	fail_row g6 "the bench's sshd did not start"
fi

mkdir -p "$(dirname "$OUT")"
"$PY" - "$SAMPLES" "$(nproc)" <<'PYEOF' >"$WORK/table.md"
import statistics, sys
s, errors = {}, []
for line in open(sys.argv[1]):
    k, _, v = line.rstrip('\n').partition(' ')
    if k.endswith('.error'):
        errors.append('%s: %s' % (k[:-6], v))
        continue
    s.setdefault(k, []).append(float(v))
med = lambda k: statistics.median(s[k]) if k in s else None
sec = lambda us: '%.2f s' % (us / 1e6) if us is not None else 'not measured'
floor = med('g0.floor')
rows = []
def row(title, m, peer, p, ratio, goal, met):
    rows.append('| %s | %s | %s | %s | %s | %s | %s |' % (title, m, peer, p, ratio, goal, met))
def vs(key, pkey, plabel, title, goal, lim, kind='peer'):
    m, p = med(key), med(pkey)
    if m is None or p is None:
        row(title, sec(m), plabel, sec(p), '—', goal, 'n/a')
        return
    r = m / p
    row(title, sec(m), plabel, sec(p), '%.2f×' % r, goal, ('yes' if r <= lim else 'no') if lim else '—')
vs('g1.mitofs', 'g1.peer', "Mitogen `call_async(subprocess.check_output, ['hostname'])` + `Select`", 'G1. `hostname` on 100 leaves of 10 × 10, gathered', '≤ 0.5×', 0.5)
vs('g1.mitofs', 'g1.floor', "G1f: 100 `hostname` spawned at once by a C program, all waited for", 'G1f. the same against its floor', '(info)', None)
vs('g1.mitofs', 'g1.peer_inproc', "Mitogen `call_async(socket.gethostname)` + `Select` (no program run)", 'G1i. the same, against an answer from Python', '(info)', None)
vs('g1.shell', 'g1.peer', "Mitogen, the program", 'G1s. the same, one background `exec` per context (no groups)', '(info)', None)
vs('g2.mitofs', 'g0.floor', 'G0: 1000 × `posix_spawn(sh -c true)`', 'G2. 1000 local contexts up (10 × 100)', '≤ 1.5× floor', 1.5)
vs('g3.mitofs', 'g0.floor', 'G0', 'G3. `echo $$` on 1000 + status + stdout', '≤ 1.2× floor', 1.2)
vs('g4.mitofs', 'g0.floor', 'G0', 'G4. push 1 MiB to 1000 members', '≤ 1× floor', 1.0)
vs('g6.mitofs', 'g6.clush', '`clush -b` (connects each run)', 'G6. `hostname` on 10 ssh hosts, gathered (live contexts)', '(info)', None)
vs('g6.mitofs_connect', 'g6.clush', '`clush -b`', 'G6c. the same from a fresh mount, connects included', '(info)', None)
vs('g6.mitofs_connect', 'g6.pdsh', '`pdsh -R ssh`', 'G6p. the same, against pdsh', '(info)', None)
out = ['| row | mitofs (median) | peer or floor | peer (median) | ratio | goal | met? |',
       '| --- | --- | --- | --- | --- | --- | --- |'] + rows
b = med('g4.daemon_bytes')
out.append('')
fl, fc, pe = med('g1.floor'), med('g1.floor_cpu'), med('g1.peer')
if fl is not None and pe is not None:
    out.append('G1: the goal, 0.5× Mitogen, is %.1f ms; running `hostname` 100 times at once takes %.1f ms here with nothing gathered (G1f), %.1f ms of CPU on %d CPUs.' % (
        pe / 2000, fl / 1000, fc / 1000, int(sys.argv[2])))
if b is not None:
    out.append('G4: the daemon sent %.1f MiB of content (goal < 30 MiB: %s).' % (b / 2**20, 'met' if b < 30 * 2**20 else 'not met'))
lb, ag, agb = med('g5.link_bytes'), med('g5.again'), med('g5.again_bytes')
if lb is not None:
    out.append('G5: 64 MiB to 50 members behind one ssh context took %s; its link carried %.3f× the file (goal ≤ 1.1×: %s); pushed again, %s and %d bytes on the link.' % (
        sec(med('g5.mitofs')), lb / (64 * 2**20), 'met' if lb <= 1.1 * 64 * 2**20 else 'not met', sec(ag), agb))
if 'g2.daemon_rss' in s:
    out.append('Memory with 1000 contexts: daemon VmRSS %.1f MiB (goal ≤ 64 MiB); %d stubs, VmRSS mean %.0f KiB, largest %.0f KiB (the parents, 100 children each; goal ≤ 400 KB each).' % (
        med('g2.daemon_rss') / 1024, med('g2.stubs'), med('g2.stub_rss_avg'), med('g2.stub_rss_max')))
if 'g2.stub_rss_max_idle' in s:
    out.append('The same stubs after 7 s idle (kept buffers freed): VmRSS mean %.0f KiB, largest %.0f KiB: %.0f KiB of it its own memory, %.0f KiB the stub\'s program file, mapped by every stub and held once in the page cache.' % (
        med('g2.stub_rss_avg_idle'), med('g2.stub_rss_max_idle'), med('g2.stub_max_idle_anon'), med('g2.stub_max_idle_file')))
out.append('')
out.append('| sample | n | min | median | max |')
out.append('| --- | --- | --- | --- | --- |')
for k in sorted(s):
    out.append('| %s | %d | %g | %g | %g |' % (k, len(s[k]), min(s[k]), statistics.median(s[k]), max(s[k])))
if errors:
    out.append('')
    out.append('Not measured / failed:')
    out += ['- ' + e for e in errors]
print('\n'.join(out))
PYEOF
{
	echo "Machine: $(nproc) CPUs, $cpu, Linux $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "Load average at start: $load0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "Command: BENCH_FLEET_N=$N tests/bench/fleet.sh (make bench); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
	echo
	cat "$WORK/table.md"
} | tee "$OUT"
[[ -s $WORK/leftovers ]] && exit 3
grep -q '\.error ' "$SAMPLES" && exit 2
exit 0

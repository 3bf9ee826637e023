# t_fault.sh — faults that must never hang the mount or leave a process
# behind: a ProxyJump / ProxyCommand session ended, a link cut or its
# packets dropped (while idle, while output streams, while an fs/ read
# runs, during a reconnect), the daemon SIGKILLed. Each test states its
# time bound and fails on a hang. Hosts are network namespaces of the
# test's own (fault_lib.sh); keepalives are short to keep the suite fast.

# shellcheck source=fault_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

# A daemon of the test's own on $T/mp, whose ~/.ssh/config is $T/home's
# and whose PATH starts with $T/bin, where an `ssh` wrapper points the
# real client at that config too (ssh reads the config of the user's
# home from the password database, not $HOME). The config has two
# aliases of the private sshd: ${U}jump, and ${U}target reached through
# PROXY-LINE (a ProxyJump or ProxyCommand line). Sets PM (the mount).
proxy_mount()   # PROXY-LINE
{
	PM=$T/mp
	mkdir -p "$T/home/.ssh" "$T/bin" "$PM"
	cat > "$T/home/.ssh/config" <<EOF
Host ${U}jump
	HostName 127.0.0.1
	Port $P
	User root
	IdentityFile $K/id_ed25519
	UserKnownHostsFile $K/known_hosts
Host ${U}target
	HostName 127.0.0.1
	Port $P
	User root
	$1
EOF
	printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$T/home/.ssh/config" > "$T/bin/ssh"
	chmod 755 "$T/bin/ssh"
	# Mounted with glibc's own signals 32 and 33 ignored, as a CI runner
	# left them once: what the daemon's children inherit is then its reset.
	local ign
	ign=$(dirname "$MITOFS")/tests/sig_ignore
	[ -x "$ign" ] || fail "no $ign (make $(dirname "$MITOFS")/tests/sig_ignore)"
	HOME=$T/home PATH=$T/bin:$PATH "$ign" 32,33 "$MITOFS" "$PM" || fail "mount $PM"
	TEARDOWN+=("fusermount3 -u '$PM' || fusermount3 -uz '$PM'")
}

# Unmounts PM within SECS and waits (same bound) for its daemon to exit.
unmount_within()   # SECS
{
	local pid t0
	pid=$(pgrep -o -f -- "$MITOFS $PM\$") || fail "no daemon for $PM"
	t0=$(now_ms)
	timeout "$1" fusermount3 -u "$PM" || fail "fusermount3 -u took more than $1 s"
	wait_until "$1" "the daemon of $PM to exit" eval "! alive $pid"
	echo "# unmount and exit: $(( $(now_ms) - t0 )) ms"
}

# The ProxyJump freeze (issue 13, part 0): libssh's `ssh -W` child kept
# the daemon's blocked SIGTERM, and ssh_free waited for it on the loop.
# Bound: disconnect within 2 s, unmount within 2 s, no proxy left.
test_ssh_proxyjump_disconnect_and_unmount_each_within_2s()
{
	fault_sshd
	proxy_mount "ProxyJump ${U}jump"
	local a=${U}bj t0 proxy
	expect_write_ok "$PM/ctl" "connect $a ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	expect_write_ok "$PM/$a/exec" 'echo "$SSH_CONNECTION" | cut -d" " -f1'
	expect_eq "$(get "$PM/$a/stdout")" 127.0.0.1 "a job through the jump"
	proxy=$(pgrep -f -- "-W \[127.0.0.1\]:$P ${U}jump") || fail "no ssh -W process"
	expect_match "$(grep '^SigBlk' "/proc/${proxy%%$'\n'*}/status")" '0000000000000000$' "the proxy's blocked signals"
	t0=$(now_ms)
	timeout 2 bash -c "printf 'disconnect %s\n' '$a' > '$PM/ctl'" || fail "disconnect took more than 2 s"
	echo "# disconnect: $(( $(now_ms) - t0 )) ms"
	wait_until 2 "the ssh -W process to exit" none_match "-W \[127.0.0.1\]:$P ${U}jump"
	expect_write_ok "$PM/ctl" "connect ${a}2 ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	unmount_within 2
	none_match "-W \[127.0.0.1\]:$P ${U}jump" || fail "an ssh -W process outlived the mount"
}

# A ProxyCommand that ignores SIGTERM and outlives its socket: ended
# with SIGKILL after a short grace. It starts with default signal
# dispositions and none blocked (as seen by a grep that dash, which
# changes neither, starts first). Bound: disconnect and unmount within 2 s
# each, no proxy left.
test_ssh_proxycommand_that_ignores_sigterm_is_ended_within_2s()
{
	fault_sshd
	cat > "$T/proxy" <<EOF
#!/bin/bash
trap '' TERM
/usr/bin/ssh -F "$T/home/.ssh/config" -W "\$1:\$2" ${U}jump
exec -a ${U}proxysleep sleep 30
EOF
	chmod 755 "$T/proxy"
	proxy_mount "ProxyCommand /bin/sh -c \"grep -E '^Sig(Blk|Ign)' /proc/self/status > $T/proxy.sig; exec $T/proxy %h %p\""
	local a=${U}pc t0 pid
	expect_write_ok "$PM/ctl" "connect $a ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	expect_write_ok "$PM/$a/exec" 'echo via-proxy'
	expect_eq "$(get "$PM/$a/stdout")" via-proxy "a job through the ProxyCommand"
	pid=$(pgrep -f -- "^/bin/bash $T/proxy ") || fail "no proxy process"
	expect_eq "$(cat "$T/proxy.sig")" $'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000' \
		"the proxy's blocked and ignored signals"
	t0=$(now_ms)
	timeout 2 bash -c "printf 'disconnect %s\n' '$a' > '$PM/ctl'" || fail "disconnect took more than 2 s"
	wait_until 2 "the proxy to be ended" none_match "$T/proxy |${U}proxysleep"
	echo "# disconnect, proxy gone: $(( $(now_ms) - t0 )) ms"
	# Unmount with one running: ended too.
	expect_write_ok "$PM/ctl" "connect ${a}2 ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	pgrep -f -- "^/bin/bash $T/proxy " >/dev/null || fail "no second proxy"
	unmount_within 2
	wait_until 1 "the second proxy to be ended" none_match "$T/proxy |${U}proxysleep"
}

# --- a host whose packets are dropped or whose link is cut ---

# Connects ${U}h to the namespace host (keepalive 1 s) with a job
# running, and ${U}h/${U}n (a stub it spawned, keepalive inherited) with
# a job too. Sets A and N (their paths).
host_with_jobs()
{
	fault_host
	A=${U}h N=${U}h/${U}n
	connect "$A" ssh $(fault_host_opts) keepalive=1
	connect "$N" local
	start_job "$A" 'sleep 300' >/dev/null
	start_job "$N" 'sleep 300' >/dev/null
	[ -n "$(host_ours)" ] || fail "no stub or job seen on the host"
}

# Each case below runs with either fault: the host's packets dropped
# (iptables DROP: silence) or its link cut (no carrier). FAULT is the
# command that makes it, MEND the one that undoes it.
fault_pair()   # drop|cut
{
	case $1 in
	drop) FAULT=drop_packets MEND=pass_packets ;;
	cut) FAULT=cut_link MEND=mend_link ;;
	esac
}

# While idle: loss is seen within two keepalive intervals plus a second,
# and the reason gives the real time; then, once the stubs' own window
# (two intervals) and their grace (1 s) have passed, nothing of ours runs
# on the host, the nested stub and both jobs included. Bound: 3 s to see
# the loss, 4 s for the host to be clean (keepalive 1 s).
idle_case()   # drop|cut
{
	fault_pair "$1"
	host_with_jobs
	local t0 took
	t0=$(now_ms)
	$FAULT
	wait_until 4 "the context to be taken for lost" \
		bash -c "grep -q '^state: disconnected' '$M/$A/info'"
	took=$(( $(now_ms) - t0 ))
	echo "# loss seen after $took ms"
	(( took <= 3000 )) || fail "loss seen after $took ms (bound: 2 intervals + 1 s = 3000)"
	expect_match "$(field "$(get "$M/$A/info")" why)" 'keepalive: no answer for 2\.[0-9] s' "why"
	expect_eq "$(field "$(get "$M/$N/info")" state)" disconnected "the nested context's state"
	expect_write_ok "$M/ctl" "disconnect $A"
	wait_until 4 "the host to have nothing of ours" no_host_process
	took=$(( $(now_ms) - t0 ))
	echo "# host clean after $took ms"
	(( took <= 4000 )) || fail "the host was clean only after $took ms: $(host_ours)"
}

test_packets_dropped_while_idle_loss_seen_within_3s_host_clean_within_4s() { idle_case drop; }
test_link_cut_while_idle_loss_seen_within_3s_host_clean_within_4s() { idle_case cut; }

# While a job's stdout streams: the reader gets what arrived, then EIO
# (not EOF: the output was cut), status says EIO, and the host is clean
# once the stub's window and grace have passed. Bound: 3 s for the reader
# and status, 4 s for the host.
stream_case()   # drop|cut
{
	fault_pair "$1"
	host_with_jobs
	local j t0
	j=$(start_job "$A" 'while :; do echo tick; sleep 0.05; done')
	bg sh -c 'cat "$1" >"$2.out" 2>"$2.err"' _ "$M/$A/jobs/$j/stdout" "$T/reader"
	local reader=$BG_LAST
	wait_until 3 "output to stream" bash -c "[ -n \"\$(timeout 1 head -c 5 '$M/$A/jobs/$j/stdout')\" ]"
	t0=$(now_ms)
	$FAULT
	wait_until 3 "the stdout reader to end" bash -c "! kill -0 $reader 2>/dev/null"
	expect_contains "$(cat "$T/reader.err")" "Input/output error" "the stdout reader's error"
	expect_match "$(head -n1 "$T/reader.out")" '^tick$' "what the reader got"
	rd "$M/$A/jobs/$j/status" 3
	expect_eq "$ERRNO" EIO "status after the fault"
	echo "# reader and status ended after $(( $(now_ms) - t0 )) ms"
	(( $(now_ms) - t0 <= 3000 )) || fail "took $(( $(now_ms) - t0 )) ms (bound 3000)"
	wait_until 3 "the host to have nothing of ours" no_host_process
	(( $(now_ms) - t0 <= 4000 )) || fail "the host was clean only after $(( $(now_ms) - t0 )) ms"
}

test_packets_dropped_while_stdout_streams_reader_ends_within_3s() { stream_case drop; }
test_link_cut_while_stdout_streams_reader_ends_within_3s() { stream_case cut; }

# While an fs/ read runs: the read fails with EIO, not a hang. Bound: 3 s.
fsread_case()   # drop|cut
{
	fault_pair "$1"
	host_with_jobs
	local t0 err=$T/dd.err
	truncate -s 64G "$T/big" # sparse: the host reads it as fast as it can
	bg bash -c "dd if='$M/$A/fs$T/big' of=/dev/null bs=1M 2>'$err'; echo \$? > '$T/dd.rc'"
	local reader=$BG_LAST
	sleep 0.3
	kill -0 "$reader" 2>/dev/null || fail "the read ended before the fault: $(cat "$err")"
	t0=$(now_ms)
	$FAULT
	wait_until 3 "the fs/ read to end" bash -c "[ -s '$T/dd.rc' ]"
	echo "# read ended after $(( $(now_ms) - t0 )) ms: $(tail -n1 "$err")"
	expect_contains "$(cat "$err")" "Input/output error" "dd's error"
	(( $(now_ms) - t0 <= 3000 )) || fail "took $(( $(now_ms) - t0 )) ms (bound 3000)"
}

test_packets_dropped_during_an_fs_read_fail_it_with_eio_within_3s() { fsread_case drop; }
test_link_cut_during_an_fs_read_fails_it_with_eio_within_3s() { fsread_case cut; }

# During a reconnect: dropped packets make it fail with ETIMEDOUT saying
# which step got no answer; a cut link (no carrier: the neighbour is not
# found) with EHOSTUNREACH and the kernel's reason. Either within its
# timeout (2 s) plus a second; once the fault is mended, a reconnect
# works.
reconnect_case()   # drop|cut ERRTEXT REASON-ERE
{
	fault_pair "$1"
	fault_host
	local a=${U}r t0
	connect "$a" ssh $(fault_host_opts) keepalive=1 timeout=2
	$FAULT
	wait_until 4 "the context to be taken for lost" \
		bash -c "grep -q '^state: disconnected' '$M/$a/info'"
	t0=$(now_ms)
	wr "$M/$a/ctl" reconnect
	echo "# reconnect failed after $(( $(now_ms) - t0 )) ms: $ERRTEXT"
	[[ $ERRTEXT == *": $2" ]] || fail "reconnect during the fault: $ERRTEXT, want $2"
	(( $(now_ms) - t0 <= 3000 )) || fail "took $(( $(now_ms) - t0 )) ms (bound: timeout 2 s + 1 s)"
	expect_match "$(get "$M/$a/ctl")" "connect to $HOST port $HP: $3" "ctl's reason"
	expect_match "$(field "$(get "$M/$a/info")" why)" "connect to $HOST port $HP: $3" "info's why"
	$MEND
	expect_write_ok "$M/$a/ctl" reconnect
	expect_write_ok "$M/$a/exec" 'echo back'
	expect_eq "$(get "$M/$a/stdout")" back "a job after the reconnect"
}

test_reconnect_while_packets_are_dropped_says_etimedout_and_why()
{
	reconnect_case drop "Connection timed out" "no answer within 2 s \\(timeout=2\\)"
}

test_reconnect_while_the_link_is_cut_says_ehostunreach_and_why()
{
	reconnect_case cut "No route to host" ".*[Nn]o route to host"
}

# `echo cmd > exec` on a host that went silent: the write itself fails
# with EIO once keepalive gives the host up (shells ignore errors of
# close), instead of a success whose stdout reads empty. The context had
# been quiet for over a second, so the first write asks it (a ping), and
# the answer never comes. Bound: two keepalive intervals (5 s) + 1 s.
test_exec_on_a_host_gone_silent_fails_the_write_with_eio()
{
	fault_host
	local a=${U}h t0 took
	connect "$a" ssh $(fault_host_opts) keepalive=5
	expect_write_ok "$M/$a/exec" 'echo first'
	expect_eq "$(get "$M/$a/stdout")" first "a job before the fault"
	sleep 1.2
	drop_packets
	# A writer that waits for the answer can be interrupted (EINTR at
	# once, nothing of its text kept).
	python3 - "$M/$a/exec" <<'EOF' || fail "an interrupted write to exec"
import os, signal, sys, threading, time
fd = os.open(sys.argv[1], os.O_WRONLY)
main = threading.main_thread().ident
threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
t0 = time.time()
try:
    os.write(fd, b"echo never\n")
    sys.exit("the write succeeded")
except KeyboardInterrupt:
    pass
took = time.time() - t0
os.close(fd)
print(f"# the write was interrupted after {took:.2f} s")
sys.exit(0 if took < 2 else f"the interrupted write returned after {took:.1f} s")
EOF
	t0=$(now_ms)
	expect_write_errno EIO "$M/$a/exec" 'echo second'
	took=$(( $(now_ms) - t0 ))
	echo "# the write failed after $took ms"
	(( took <= 11000 )) || fail "the write failed after $took ms (bound 11000)"
	expect_match "$(get "$M/$a/ctl")" "^exec: context lost: .*keepalive: no answer" "ctl"
	expect_eq "$(field "$(get "$M/$a/info")" state)" disconnected "state"
	# Nothing ran, nothing pretends to: the files show the job before.
	expect_eq "$(get "$M/$a/stdout")" first "stdout"
}

# The daemon SIGKILLed with local, ssh and nested contexts and jobs
# running: after 1 s no process of ours is left, here or on the host.
test_daemon_sigkill_leaves_no_process_here_or_on_the_host_after_1s()
{
	fault_host
	local m=$T/mk pid t0 n
	mkdir -p "$m"
	"$MITOFS" "$m" || fail "mount $m"
	TEARDOWN+=("fusermount3 -u '$m' || fusermount3 -uz '$m'")
	pid=$(pgrep -o -f -- "$MITOFS $m\$") || fail "no daemon for $m"
	local M=$m
	connect "${U}l" local
	connect "${U}l/${U}ln" local
	connect "${U}s" ssh $(fault_host_opts)
	connect "${U}s/${U}sn" local
	for n in "${U}l" "${U}l/${U}ln" "${U}s" "${U}s/${U}sn"; do
		start_job "$n" "sleep 300; : ${U}job" >/dev/null
	done
	[ -n "$(host_ours)" ] || fail "nothing of ours on the host"
	pgrep -f -- "${U}job" >/dev/null || fail "no job here"
	t0=$(now_ms)
	kill -9 "$pid"
	wait_until 2 "the stubs and jobs here to go" none_match "mitofs:${U}|${U}job"
	wait_until 2 "the host to have nothing of ours" no_host_process
	echo "# all gone after $(( $(now_ms) - t0 )) ms"
	(( $(now_ms) - t0 <= 1000 )) || fail "processes were left for $(( $(now_ms) - t0 )) ms (bound 1000)"
}

# --- write errors at write time ---

# A 4 MiB tmpfs filled through an ssh context's fs/: dd's write fails
# with ENOSPC (not only its close), and a later fsync and close say so
# too. Bound: 10 s for the whole dd.
test_full_tmpfs_through_ssh_fails_a_write_with_enospc()
{
	fault_sshd
	local c=${U}w dir=$T/small out
	connect "$c" ssh host=127.0.0.1 port="$P" identity="$K/id_ed25519" known_hosts="$K/known_hosts"
	mkdir -p "$dir"
	mount -t tmpfs -o size=4m "${U}tmpfs" "$dir" || fail "mount tmpfs"
	TEARDOWN+=("umount -l '$dir'")
	out=$(timeout 10 dd if=/dev/zero of="$M/$c/fs$dir/f" bs=1M count=10 2>&1) && fail "dd succeeded: $out"
	echo "# dd: $out"
	expect_contains "$out" "error writing" "dd's failure (at a write, not at close)"
	expect_contains "$out" "No space left on device" "dd's error"
	rm -f "$dir/f"
	# The same with python: the first write after the error fails, and
	# fsync and close report it (each once) for what is not yet written.
	out=$(timeout 10 python3 - "$M/$c/fs$dir/g" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n, got = 0, []
try:
    for n in range(64):
        os.write(fd, b"x" * (1 << 20))
except OSError as e:
    got.append("write %d: %s" % (n, errno.errorcode[e.errno]))
for name, fn in (("fsync", os.fsync), ("close", os.close)):
    try:
        fn(fd)
        got.append(name + ": ok")
    except OSError as e:
        got.append("%s: %s" % (name, errno.errorcode[e.errno]))
print("; ".join(got))
PY
	) || fail "python: $out"
	echo "# python: $out"
	expect_match "$out" '^write [0-9]+: ENOSPC; fsync: ENOSPC; close: ok$' "write, fsync, close"
}

# t_busy.sh — a mount under load, and taken away while busy (issue 13's
# fault matrix): 200 jobs at once, and unmount with readers blocked in
# status, stdout, log and a job's stdin, by `fusermount3 -u`, `-uz` and
# SIGTERM. Each case states its time bound and fails on a hang.

limit_test_two_hundred_concurrent_jobs_each_see_their_own_output=120

# 200 jobs on two contexts, each writing its own lines and exit code; a
# third context answers while they run.
test_two_hundred_concurrent_jobs_each_see_their_own_output()
{
	local a=${U}a b=${U}b c=${U}c i t0
	connect "$a"
	connect "$b"
	connect "$c"
	t0=$(now_ms)
	for i in $(seq 1 200); do
		(
			ctx=$a
			(( i % 2 )) && ctx=$b
			j=$(new_job "$ctx")
			wr "$M/$ctx/jobs/$j/cmd" "echo out-$i; echo err-$i >&2; sleep 1; exit $(( i % 5 ))"
			[ "$ERRNO" = OK ] || { echo "cmd: $ERRNO" >"$T/res$i"; exit; }
			{
				cat "$M/$ctx/jobs/$j/stdout"
				cat "$M/$ctx/jobs/$j/stderr"
				cat "$M/$ctx/jobs/$j/status"
			} >"$T/res$i" 2>&1
		) &
	done
	# While they run: the third context runs a command of its own.
	expect_write_ok "$M/$c/exec" 'echo alive'
	expect_eq "$(get "$M/$c/stdout" 10)" alive "a third context while 200 jobs run"
	wait
	echo "# 200 jobs started, run and read back: $(( $(now_ms) - t0 )) ms"
	for i in $(seq 1 200); do
		expect_eq "$(cat "$T/res$i")" $'out-'"$i"$'\nerr-'"$i"$'\nexit '"$(( i % 5 ))" "job $i"
	done
	(( $(ls "$M/$a/jobs" | grep -c '^[0-9]') == 100 )) || fail "jobs of $a: $(ls "$M/$a/jobs" | wc -l) entries"
}

# Readers blocked in every kind of blocking read, and a writer blocked on
# a job's stdin (a pipe nobody reads): their pids in READERS; each one's
# exit code goes to $T/rc.N and its stderr to $T/err.N (N from 0).
READERS=()
block_readers()
{
	local a=${U}a j k n=0 f
	connect "$a"
	expect_write_ok "$M/$a/exec" 'sleep 300'
	j=$(start_job "$a" 'sleep 301')
	k=$(start_job "$a" 'exec sleep 302') # stdin never read
	for f in "cat '$M/$a/status'" "cat '$M/$a/jobs/$j/stdout'" "tail -f '$M/log'" \
		"head -c 8M /dev/zero > '$M/$a/jobs/$k/stdin'"; do
		bg sh -c "timeout 60 sh -c \"$f\" >/dev/null 2>'$T/err.$n'; echo \$? >'$T/rc.$n'"
		READERS+=("$BG_LAST")
		n=$((n + 1))
	done
	sleep 0.5 # let them block
}

# `fusermount3 -u` while files are open is EBUSY: the mount stays and
# every blocked reader keeps waiting, untouched; then SIGTERM ends all.
test_unmount_with_blocked_readers_is_ebusy_and_they_keep_waiting()
{
	local p out
	block_readers
	for p in "${READERS[@]}"; do alive "$p" || fail "reader $p did not block"; done
	out=$(timeout 5 fusermount3 -u "$M" 2>&1) && fail "fusermount3 -u of a busy mount succeeded"
	expect_contains "$out" "busy" "fusermount3 -u's error"
	for p in "${READERS[@]}"; do alive "$p" || fail "reader $p ended by a refused unmount"; done
	[ -n "$(stub_pid "${U}a")" ] || fail "no stub pid in info"
}

# SIGTERM to the daemon: it unmounts; every blocked reader and writer
# returns within 2 s with an error (not EOF-as-success, not a hang), and
# nothing of ours is left.
test_sigterm_with_blocked_readers_ends_each_within_2s()
{
	local p t0 n
	block_readers
	t0=$(now_ms)
	kill -TERM "$DAEMON_PID"
	for p in "${READERS[@]}"; do
		wait_until 2 "blocked reader $p to return after SIGTERM" eval "! alive $p"
	done
	echo "# every reader returned: $(( $(now_ms) - t0 )) ms"
	wait_until 3 "the daemon to exit" eval "! alive $DAEMON_PID"
	# Each was told it failed: none of the reads of a job nor the stdin
	# writer returned 0 (success) or 124 (timeout). (tail -f of the log
	# stops at ENOTCONN, and says so, with its own exit code.)
	for n in 0 1 2 3; do
		echo "# reader $n: exit $(cat "$T/rc.$n"), $(head -c 200 "$T/err.$n")"
		[ "$n" = 2 ] && continue
		case $(cat "$T/rc.$n") in 0 | 124) fail "reader $n ended with $(cat "$T/rc.$n") after SIGTERM" ;; esac
	done
}

# `fusermount3 -uz` (lazy): the mount leaves the namespace at once; the
# readers already inside keep their files, so they are not cut; when the
# last one closes the daemon ends. Here the context is disconnected
# through a ctl opened before the detach, which ends the job readers with
# EIO; `tail -f` of the log is stopped; then the daemon exits within 3 s.
test_lazy_unmount_with_blocked_readers_lets_them_finish_then_ends()
{
	local p t0 ctl
	exec {ctl}>"$M/ctl" # held open across the detach
	block_readers
	t0=$(now_ms)
	timeout 5 fusermount3 -uz "$M" || fail "fusermount3 -uz failed"
	grep -q " $M fuse" /proc/self/mounts && fail "still in /proc/self/mounts after -uz"
	for p in "${READERS[@]}"; do alive "$p" || fail "reader $p cut by a lazy unmount"; done
	printf 'disconnect %s\n' "${U}a" >&"$ctl" || fail "disconnect through the detached ctl"
	exec {ctl}>&-
	# The job readers and the stdin writer end (EIO, the context went);
	# `tail -f` of the root log follows it until it is stopped, as it
	# would on any file.
	for n in 0 1 3; do
		wait_until 3 "reader $n to return after its context went" eval "! alive ${READERS[n]}"
		case $(cat "$T/rc.$n") in 0 | 124) fail "reader $n ended with $(cat "$T/rc.$n")" ;; esac
	done
	alive "${READERS[2]}" || fail "tail -f of the log ended: $(cat "$T/err.2")"
	kill $(descendants "${READERS[2]}")
	wait_until 3 "the daemon to exit once the last file closed" eval "! alive $DAEMON_PID"
	echo "# detached, readers and daemon gone: $(( $(now_ms) - t0 )) ms"
}

# A writer blocked on the stdin of a job that does not read: the kernel
# cannot take back a request the daemon holds, so kill -9 must be
# answered by the daemon — the writer goes at once, not when the job ends.
test_kill_9_of_a_writer_blocked_on_stdin_ends_it_at_once()
{
	local a=${U}a j t0
	connect "$a"
	j=$(start_job "$a" 'exec sleep 303')
	bg sh -c "head -c 8M /dev/zero > '$M/$a/jobs/$j/stdin'"
	sleep 0.5
	alive "$BG_LAST" || fail "the writer did not block"
	local pids p
	pids=$(descendants "$BG_LAST") # the shell and its head, blocked in write(2)
	t0=$(now_ms)
	kill -9 $pids
	for p in $pids; do
		wait_until 2 "the killed writer $p to go" eval "! alive $p"
	done
	echo "# killed writer gone: $(( $(now_ms) - t0 )) ms"
	rd "$M/$a/jobs/$j/status" 1
	expect_eq "$ERRNO" TIMEOUT "status of the job, which runs on"
}

# A writer interrupted by a signal it handles: the blocked write is
# answered with what it had handed over (the bytes reach the job in
# order, as a pipe's buffer would hold them); the next write waits in the
# daemon, unsent, and fails with EINTR when interrupted; the job reads
# exactly the bytes the writer was told were written.
test_an_interrupted_stdin_writer_is_told_the_truth()
{
	local a=${U}a j
	connect "$a"
	j=$(start_job "$a" 'sleep 3; wc -c')
	/usr/bin/python3 - "$M/$a/jobs/$j/stdin" >"$T/py" 2>&1 <<'PYEOF' || fail "writer: $(cat "$T/py")"
import os, signal, sys, threading
class Interrupted(Exception): pass
hits = []
def on_usr1(signo, frame):
    hits.append(1)
    if len(hits) == 2:
        raise Interrupted()
signal.signal(signal.SIGUSR1, on_usr1)
me = os.getpid()
def poke():  # one signal per blocked write, 0.5 s into it
    for _ in range(2):
        threading.Event().wait(0.5)
        os.kill(me, signal.SIGUSR1)
fd = os.open(sys.argv[1], os.O_WRONLY)
threading.Thread(target=poke, daemon=True).start()
first = os.write(fd, b'x' * (1 << 20))
print('first', first)
try:
    second = os.write(fd, b'y' * (1 << 20))
    print('second', second)
except Interrupted:
    print('second EINTR')
os.close(fd)
PYEOF
	cat "$T/py"
	local first
	first=$(awk '$1 == "first" {print $2}' "$T/py")
	[[ $first =~ ^[0-9]+$ ]] && (( first > 0 )) || fail "first write: $(cat "$T/py")"
	grep -qx 'second EINTR' "$T/py" || fail "second write was not EINTR: $(cat "$T/py")"
	expect_eq "$(get "$M/$a/jobs/$j/status")" "exit 0" "the job's status"
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" "$first" "bytes the job read"
}

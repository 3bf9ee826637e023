# t_blocking.sh — reads that wait: interruptible, pollable.
# python3 (any) drives poll/select and signal handlers; os.read and
# select.poll are all it uses.

need_python()
{
	command -v python3 >/dev/null || fail "python3 not found (needed for this test)"
}

test_ctrl_c_on_a_blocked_status_read_returns_at_once()
{
	local a=${U}a j t0 el rc=0
	connect "$a"
	j=$(start_job "$a" 'sleep 30')
	t0=$(now_ms)
	timeout -s INT 1 cat "$M/$a/jobs/$j/status" || rc=$?
	el=$(( $(now_ms) - t0 ))
	[[ $rc == 124 || $rc == 130 ]] || fail "timeout -s INT 1 cat status exited $rc (want 124 or 130)"
	(( el < 2500 )) || fail "cat status took $el ms to give up after SIGINT at 1 s"
	# Same on the exec status and on a following stdout.
	expect_write_ok "$M/$a/exec" 'sleep 30'
	t0=$(now_ms)
	rc=0
	timeout -s INT 0.5 cat "$M/$a/status" || rc=$?
	el=$(( $(now_ms) - t0 ))
	(( el < 2000 )) || fail "cat NAME/status took $el ms after SIGINT at 0.5 s"
	t0=$(now_ms)
	rc=0
	timeout -s INT 0.5 cat "$M/$a/stdout" || rc=$?
	el=$(( $(now_ms) - t0 ))
	(( el < 2000 )) || fail "cat NAME/stdout took $el ms after SIGINT at 0.5 s"
	# Nothing was left waiting: the job still ends normally and says so.
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill KILL'
	expect_eq "$(get "$M/$a/jobs/$j/status" 5)" "signal KILL" "status after the interrupted reads"
}

test_signal_handler_interrupts_a_blocked_read_with_EINTR()
{
	need_python
	local a=${U}a j out
	connect "$a"
	j=$(start_job "$a" 'sleep 20')
	expect_write_ok "$M/$a/exec" 'sleep 20'
	# A caught (not fatal) signal: the kernel only gives up on the read
	# if the daemon answers the interrupt.
	out=$(timeout 15 python3 - "$M/$a/jobs/$j/status" "$M/$a/stdout" "$M/log" <<'EOF'
import os, signal, sys, time
class Alarm(Exception):
    pass
def on_alarm(signo, frame):
    raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    if path.endswith("/log"):
        while True:  # read up to the end of what the log has
            import select
            p = select.poll(); p.register(fd, select.POLLIN)
            if not p.poll(0):
                break
            os.read(fd, 65536)
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        data = os.read(fd, 4096)
        print(f"{path}: read returned {data!r} after {time.monotonic() - t0:.2f}s")
    except Alarm:
        print(f"interrupted {time.monotonic() - t0:.2f}")
    os.close(fd)
EOF
	) || fail "python helper failed or hung: $out"
	local line n=0
	while read -r line; do
		n=$(( n + 1 ))
		[[ $line =~ ^interrupted\ (0\.[5-9]|[12]\.) ]] ||
			fail "read $n: $line (want interrupted 0.5 s in, by the alarm)"
	done <<<"$out"
	expect_eq "$n" 3 "reads tried"
	# The daemon is still fine and the job still ends.
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill'
	expect_eq "$(get "$M/$a/jobs/$j/status" 5)" "signal TERM" "status"
}

test_poll_and_select_on_status_wake_at_job_exit()
{
	need_python
	local a=${U}a j out
	connect "$a"
	j=$(start_job "$a" 'sleep 1.5; exit 3')
	out=$(timeout 20 python3 - "$M/$a/jobs/$j/status" <<'EOF'
import os, select, sys, time
path = sys.argv[1]
fd = os.open(path, os.O_RDONLY)
fd2 = os.open(path, os.O_RDONLY)
p = select.poll()
p.register(fd, select.POLLIN)
ev = p.poll(300)
if ev:
    sys.exit(f"poll: readable while the job runs: {ev}")
r, _, _ = select.select([fd2], [], [], 0.2)
if r:
    sys.exit("select: readable while the job runs")
t0 = time.monotonic()
ev = p.poll(10000)
el = time.monotonic() - t0
if not ev or not ev[0][1] & select.POLLIN:
    sys.exit(f"poll: not readable after 10 s: {ev}")
data = os.read(fd, 100).decode()
r, _, _ = select.select([fd2], [], [], 5)
if not r:
    sys.exit("select: not readable after the job ended")
data2 = os.read(fd2, 100).decode()
print(f"{data.strip()}|{data2.strip()}|{el:.2f}")
EOF
	) || fail "python helper: $out"
	local status status2 el
	IFS='|' read -r status status2 el <<<"$out"
	expect_eq "$status" "exit 3" "status read after poll"
	expect_eq "$status2" "exit 3" "status read after select"
	[[ $el =~ ^(0\.[5-9]|[1-4]\.) ]] || fail "poll woke after ${el}s (job ends about 1 s after the first polls)"
}

test_poll_on_stdout_wakes_when_output_arrives()
{
	need_python
	local a=${U}a j out
	connect "$a"
	j=$(start_job "$a" 'sleep 1; echo ping; sleep 1; echo pong')
	out=$(timeout 20 python3 - "$M/$a/jobs/$j/stdout" <<'EOF'
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
p = select.poll()
p.register(fd, select.POLLIN)
if p.poll(300):
    sys.exit("readable before any output")
got = b""
t0 = time.monotonic()
times = []
while True:
    ev = p.poll(10000)
    if not ev:
        sys.exit(f"no wake-up in 10 s, got {got!r}")
    chunk = os.read(fd, 4096)
    if not chunk:
        break
    got += chunk
    times.append(time.monotonic() - t0)
print(repr(got), " ".join(f"{t:.1f}" for t in times))
EOF
	) || fail "python helper: $out"
	expect_match "$out" "^b'ping\\\\npong\\\\n' " "data and wake-up times"
	local t1 t2
	read -r _ t1 t2 <<<"$out"
	[ -n "${t2:-}" ] || fail "ping and pong came in one read: $out"
	awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b - a >= 0.6) }' || fail "ping and pong not 1 s apart: $out"
}

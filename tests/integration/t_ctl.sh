# t_ctl.sh — control lines: errors by errno, reasons in ctl and log,
# batches of lines. The daemon must keep working after every bad line.

# Writes LINE to the ctl file DIR/ctl and checks the errno, then that the
# reason (REASON, a substring) is what DIR/ctl reads back, and that it is
# in DIR/log and the root log.
bad_line()   # DIR ERRNO LINE REASON
{
	local dir=$1 errno=$2 line=$3 reason=$4 text
	expect_write_errno "$errno" "$dir/ctl" "$line"
	text=$(get "$dir/ctl")
	expect_contains "$text" "$reason" "reason in ${dir#"$M"}/ctl after '$line'"
	expect_contains "$text" "$line" "the line in ${dir#"$M"}/ctl"
	expect_contains "$(snap "$M/log")" "$reason" "reason in the root log after '$line'"
	if [ "$dir" != "$M" ]; then
		expect_contains "$(snap "$dir/log")" "$reason" "reason in ${dir#"$M"}/log"
	fi
}

test_root_ctl_bad_lines_fail_with_errno_and_reason()
{
	local a=${U}a
	connect "$a"
	bad_line "$M" EINVAL "frobnicate $a" "unknown verb 'frobnicate'"
	bad_line "$M" EINVAL "connect" "usage: connect NAME METHOD"
	bad_line "$M" EINVAL "connect ${U}x" "usage: connect NAME METHOD"
	bad_line "$M" ENOENT "connect ${U}x nosuchmethod" "unknown method 'nosuchmethod'"
	bad_line "$M" EEXIST "connect $a local" "context '$a' exists"
	bad_line "$M" EINVAL "connect ${U}x/y local" "bad context name '${U}x/y'"
	bad_line "$M" EINVAL "connect .. local" "bad context name '..'"
	bad_line "$M" EINVAL "connect ctl local" "context name 'ctl' is reserved"
	bad_line "$M" EINVAL "connect ${U}$(printf 'x%.0s' $(seq 1 64)) local" "bad context name"
	bad_line "$M" EINVAL "connect ${U}x local bogus=1" "unknown option 'bogus'"
	bad_line "$M" EINVAL "connect ${U}x local timeout=abc" "timeout must be"
	bad_line "$M" EINVAL "connect ${U}x local =1" "option with an empty key"
	bad_line "$M" EINVAL "x=1 connect" "expected a verb"
	bad_line "$M" ENOENT "disconnect ${U}nosuch" "no context '${U}nosuch'"
	bad_line "$M" EINVAL "disconnect" "usage: disconnect NAME"
	# None of them left a context behind; the good one still works.
	expect_eq "$(ls "$M" | grep -c "^$U")" 1 "contexts after the bad lines"
	expect_write_ok "$M/$a/exec" 'echo alive'
	expect_eq "$(get "$M/$a/stdout")" alive "the good context after the bad lines"
	# An error is sticky until the next one; a good line does not clear it
	# here, but the reason is the latest.
	connect "${U}b"
	expect_contains "$(get "$M/ctl")" "disconnect" "ctl keeps the last error"
}

test_long_ctl_lines_fail_with_a_readable_reason()
{
	local long
	# Over the line limit.
	long="connect ${U}x local $(head -c 8192 /dev/zero | tr '\0' a)=1"
	expect_write_errno EINVAL "$M/ctl" "$long"
	expect_contains "$(get "$M/ctl")" "line longer than" "reason in ctl for an 8 KiB line"
	expect_contains "$(snap "$M/log")" "line longer than" "reason in log for an 8 KiB line"
	# Under the limit, but long: the reason must not be cut off by the echo
	# of the line.
	long="connect ${U}x local $(head -c 700 /dev/zero | tr '\0' b)=1"
	expect_write_errno EINVAL "$M/ctl" "$long"
	expect_contains "$(get "$M/ctl")" "unknown option" "reason in ctl for a 700-byte line"
	expect_contains "$(snap "$M/log")" "unknown option" "reason in log for a 700-byte line"
	connect "${U}a"
}

test_context_ctl_bad_lines_fail_with_errno_and_reason()
{
	local a=${U}a b=${U}b
	connect "$a"
	connect "$a/$b"
	bad_line "$M/$a" EINVAL "frobnicate" "unknown verb 'frobnicate'"
	bad_line "$M/$a" ENOENT "connect ${U}x nosuchmethod" "unknown method 'nosuchmethod'"
	bad_line "$M/$a" EEXIST "connect $b local" "context '$b' exists"
	bad_line "$M/$a" EINVAL "connect bad:name local" "bad context name 'bad:name'"
	bad_line "$M/$a" EINVAL "connect ${U}x local nosuch=1" "unknown option 'nosuch'"
	bad_line "$M/$a" ENOENT "disconnect ${U}nosuch" "no context '${U}nosuch'"
	bad_line "$M/$a" EINVAL "disconnect x y" "usage: disconnect [CHILD|PATTERN]"
	# The root ctl has its own last error, untouched by these.
	expect_eq "$(get "$M/ctl")" "" "root ctl"
	expect_write_ok "$M/$a/$b/exec" 'echo alive'
	expect_eq "$(get "$M/$a/$b/stdout")" alive "the child after the bad lines"
}

test_job_ctl_bad_lines_fail_with_errno_and_reason()
{
	local a=${U}a j
	connect "$a"
	j=$(start_job "$a" 'sleep 30')
	local jd=$M/$a/jobs/$j
	expect_write_errno EINVAL "$jd/ctl" "frobnicate"
	expect_contains "$(get "$jd/ctl")" "unknown verb 'frobnicate'" "job ctl reason"
	expect_write_errno EINVAL "$jd/ctl" "kill NOSUCHSIG"
	expect_contains "$(get "$jd/ctl")" "usage: kill [SIGNAL]" "job ctl reason"
	expect_write_errno EINVAL "$jd/ctl" "kill 1 2"
	expect_write_errno EINVAL "$jd/ctl" "timeout abc"
	expect_contains "$(get "$jd/ctl")" "usage: timeout SECONDS" "job ctl reason"
	expect_write_errno EINVAL "$jd/ctl" "timeout -1"
	expect_write_errno EINVAL "$jd/ctl" "timeout"
	# The job lived through all that.
	rd "$jd/status" 0.3
	expect_eq "$ERRNO" TIMEOUT "status of the job after bad ctl lines"
	expect_write_ok "$jd/ctl" "kill KILL"
	expect_eq "$(get "$jd/status")" "signal KILL" "status"
	# ctl of a job that never started.
	j=$(new_job "$a")
	expect_write_errno ESRCH "$M/$a/jobs/$j/ctl" "kill"
	expect_contains "$(get "$M/$a/jobs/$j/ctl")" "job is not running" "reason for an unstarted job"
}

test_ctl_takes_several_lines_and_stops_at_the_first_error()
{
	local a=${U}a b=${U}b c=${U}c d=${U}d
	expect_write_ok "$M/ctl" "connect $a local"$'\n'"connect $b local"$'\n\n'
	[ -d "$M/$a" ] && [ -d "$M/$b" ] || fail "two lines did not make two contexts: $(ls "$M")"
	expect_write_errno EINVAL "$M/ctl" "connect $c local"$'\n'"bogus"$'\n'"connect $d local"
	[ -d "$M/$c" ] || fail "the line before the error was not run"
	[ ! -e "$M/$d" ] || fail "the line after the error was run"
	expect_contains "$(get "$M/ctl")" "unknown verb 'bogus'" "reason"
	# Blank input is no command and no error.
	expect_write_ok "$M/ctl" ""
	expect_write_ok "$M/ctl" "   "
	# Tabs and CRLF.
	printf 'disconnect\t%s\r\n' "$a" >"$M/ctl" || fail "disconnect with a tab and CRLF failed"
	[ ! -e "$M/$a" ] || fail "$a still there"
}

test_connect_lines_of_one_write_run_together()
{
	# A server that takes connections and never says a word: every ssh
	# connect to it waits for its timeout. Run one after another, three
	# of 2 s take 6 s; together, 2 s.
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	silent_listener "$port"
	local lines="" i t0 el
	for i in 1 2 3; do
		lines+="connect ${U}s$i ssh host=127.0.0.1 port=$port timeout=2"$'\n'
	done
	connect "${U}keep"
	lines+="disconnect ${U}keep"
	t0=$(now_ms)
	wr "$M/ctl" "$lines"
	[ "$ERRNO" != OK ] || fail "connects to a silent server succeeded"
	el=$(( $(now_ms) - t0 ))
	(( el < 4500 )) || fail "three connects of 2 s in one write took $el ms: not together"
	# Each failure is in the log; the line after a failed run is not run.
	expect_eq "$(grep -c 'connect failed' <(snap "$M/log"))" 3 "failures logged"
	[ -d "$M/${U}keep" ] || fail "a line after the failed connects was run"
	# The same lines that all succeed: one write, every context up.
	lines=""
	for i in 1 2 3 4 5 6; do
		lines+="connect ${U}l$i local"$'\n'
	done
	expect_write_ok "$M/ctl" "$lines"
	for i in 1 2 3 4 5 6; do
		expect_eq "$(field "$(get "$M/${U}l$i/info")" state)" connected "l$i"
	done
}

test_connect_timeout_option_is_accepted()
{
	connect "${U}a" local timeout=20
	expect_eq "$(field "$(get "$M/${U}a/info")" state)" connected "state"
}

test_malformed_control_input_never_hurts_the_daemon()
{
	local a=${U}a j i f
	connect "$a"
	j=$(new_job "$a")
	# Structured garbage first: each must be refused with EINVAL.
	expect_write_errno EINVAL "$M/ctl" "connect ${U}x local $(printf 'k%d=v ' $(seq 1 17))"
	expect_write_errno EINVAL "$M/ctl" "connect $(seq -s ' ' 1 9)"
	expect_write_errno EINVAL "$M/ctl" "connect ${U}x local a=1 word"
	printf 'connect x\0y local\n' >"$M/ctl" 2>/dev/null && fail "a NUL byte in a ctl line was accepted"
	expect_contains "$(get "$M/ctl")" "NUL byte" "reason for a NUL byte"
	# A script is refused when its file is closed (the shell does not
	# report that): no job may start.
	printf 'echo a\0b\n' >"$M/$a/exec" 2>/dev/null || true
	expect_contains "$(get "$M/$a/ctl")" "NUL byte" "reason for a NUL byte in exec"
	rd "$M/$a/status" 2
	expect_eq "$ERRNO" ENODATA "status after a script with a NUL byte (no job)"
	# Then random bytes into the ctl files, many times. (Into exec only
	# behind a NUL byte: random bytes must never run as a shell script.)
	for i in $(seq 1 40); do
		for f in ctl "$a/ctl" "$a/jobs/$j/ctl"; do
			head -c $(( (i * 37) % 3000 + 1 )) /dev/urandom >"$M/$f" 2>/dev/null || true
		done
		{ printf '\0'; head -c $(( i * 50 )) /dev/urandom; } >"$T/garbage"
		dd if="$T/garbage" of="$M/$a/exec" bs=1M 2>/dev/null || true
	done
	rd "$M/$a/status" 2
	expect_eq "$ERRNO" ENODATA "status after garbage behind NUL bytes (no job)"
	alive "$DAEMON_PID" || fail "the daemon died"
	expect_eq "$(field "$(get "$M/$a/info")" state)" connected "state of $a"
	expect_write_ok "$M/$a/exec" 'echo still-here'
	expect_eq "$(get "$M/$a/stdout")" still-here "stdout after the garbage"
	# Anything random that happened to start a job or context is gone with
	# the mount; the mount itself still takes commands.
	connect "${U}z"
}

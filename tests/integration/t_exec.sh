# t_exec.sh — NAME/exec (the last job): output, status, signals, sizes.

test_exec_gives_stdout_stderr_and_exit_0()
{
	local a=${U}a
	connect "$a"
	expect_write_ok "$M/$a/exec" 'echo hello; echo world; echo warn >&2'
	expect_eq "$(get "$M/$a/stdout")" $'hello\nworld' "stdout"
	expect_eq "$(get "$M/$a/stderr")" warn "stderr"
	expect_eq "$(get "$M/$a/status")" "exit 0" "status"
	# A finished job's stdout reads again from the start, as often as asked.
	expect_eq "$(get "$M/$a/stdout")" $'hello\nworld' "stdout read again"
	expect_eq "$(get "$M/$a/status")" "exit 0" "status read again"
}

test_exec_nonzero_exit_is_reported()
{
	local a=${U}a
	connect "$a"
	expect_write_ok "$M/$a/exec" 'echo before; exit 42'
	expect_eq "$(get "$M/$a/status")" "exit 42" "status"
	expect_eq "$(get "$M/$a/stdout")" before "stdout"
	expect_write_ok "$M/$a/exec" 'false'
	expect_eq "$(get "$M/$a/status")" "exit 1" "status of false"
	expect_write_ok "$M/$a/exec" 'no-such-command-here'
	expect_eq "$(get "$M/$a/status")" "exit 127" "status of a missing command"
	expect_contains "$(get "$M/$a/stderr")" "not found" "stderr of a missing command"
}

test_exec_death_by_own_kill_9_is_signal_KILL()
{
	local a=${U}a
	connect "$a"
	expect_write_ok "$M/$a/exec" 'echo dying; kill -9 $$; echo survived'
	expect_eq "$(get "$M/$a/status")" "signal KILL" "status"
	expect_eq "$(get "$M/$a/stdout")" dying "stdout"
	expect_write_ok "$M/$a/exec" 'kill -TERM $$'
	expect_eq "$(get "$M/$a/status")" "signal TERM" "status after kill -TERM"
}

test_exec_replaces_the_last_job()
{
	local a=${U}a
	connect "$a"
	expect_write_ok "$M/$a/exec" 'echo first'
	expect_eq "$(get "$M/$a/stdout")" first "first stdout"
	expect_write_ok "$M/$a/exec" 'echo second >&2; exit 3'
	expect_eq "$(get "$M/$a/status")" "exit 3" "second status"
	expect_eq "$(get "$M/$a/stdout")" "" "second stdout"
	expect_eq "$(get "$M/$a/stderr")" second "second stderr"
	# A trailing newline is optional.
	printf 'echo third' >"$M/$a/exec"
	expect_eq "$(get "$M/$a/stdout")" third "stdout of a command without newline"
}

test_exec_status_before_any_command_fails_not_hangs()
{
	local a=${U}a
	connect "$a"
	rd "$M/$a/status" 5
	[ "$ERRNO" != OK ] && [ "$ERRNO" != TIMEOUT ] ||
		fail "status before any exec: $ERRNO '$OUT' (want an error at once)"
	rd "$M/$a/stdout" 5
	[ "$ERRNO" != TIMEOUT ] || fail "stdout before any exec hangs"
	expect_eq "$OUT" "" "stdout before any exec"
}

test_exec_empty_command_is_refused_at_close()
{
	local a=${U}a
	connect "$a"
	# A script starts at close (it may come in many writes); an empty one
	# fails there: close(2) gets EINVAL, which shells do not report, so
	# ctl says why and no job appears.
	python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"\n")
try:
    os.close(fd)
except OSError as e:
    sys.exit(0 if e.errno == errno.EINVAL else 3)
sys.exit(4)' "$M/$a/exec" || fail "close after an empty script did not fail with EINVAL (rc $?)"
	expect_contains "$(get "$M/$a/ctl")" "empty command" "ctl after an empty exec"
	rd "$M/$a/status" 2
	expect_eq "$ERRNO" ENODATA "status with no job"
}

test_exec_script_written_line_by_line_runs_as_one_job()
{
	local a=${U}a
	connect "$a"
	# bash's printf writes one line per write(2): still one script.
	printf 'echo one\necho two\nexit 5\n' > "$M/$a/exec"
	expect_eq "$(get "$M/$a/stdout" | tr '\n' ' ')" "one two " "stdout"
	expect_eq "$(get "$M/$a/status")" "exit 5" "status"
	ls "$M/$a/jobs" | grep -qv '^new$' && fail "the lines became separate jobs: $(ls "$M/$a/jobs")"
	return 0
}

test_ls_l_of_finished_job_shows_exact_sizes()
{
	local a=${U}a j
	connect "$a"
	# 12345 bytes of stdout, 777 of stderr.
	expect_write_ok "$M/$a/exec" 'head -c 12345 /dev/zero | tr "\0" x; head -c 777 /dev/zero | tr "\0" y >&2'
	expect_eq "$(get "$M/$a/status")" "exit 0" "status"
	expect_eq "$(stat -c %s "$M/$a/stdout")" 12345 "size of stdout"
	expect_eq "$(stat -c %s "$M/$a/stderr")" 777 "size of stderr"
	expect_eq "$(cat "$M/$a/stdout" | wc -c)" 12345 "bytes read from stdout"
	local line
	line=$(ls -l "$M/$a/stdout")
	expect_match "$line" ' 12345 ' "ls -l of stdout"
	expect_eq "$(stat -c %s "$M/$a/status")" 7 "size of status ('exit 0\\n')"
	# Same in a job directory.
	j=$(start_job "$a" 'seq 1 1000')
	expect_eq "$(get "$M/$a/jobs/$j/status")" "exit 0" "job status"
	expect_eq "$(stat -c %s "$M/$a/jobs/$j/stdout")" "$(seq 1 1000 | wc -c)" "size of job stdout"
	expect_match "$(ls -l "$M/$a/jobs/$j/")" " $(seq 1 1000 | wc -c) [A-Z][a-z]{2} .* stdout" "ls -l of the job dir"
}

test_stdout_of_64MiB_arrives_intact()
{
	local a=${U}a want got t0 t1
	connect "$a"
	want=$(yes 0123456789abcdef | head -c 67108864 | sha256sum)
	t0=$(now_ms)
	expect_write_ok "$M/$a/exec" 'yes 0123456789abcdef | head -c 67108864'
	got=$(timeout 30 sha256sum <"$M/$a/stdout") || fail "reading stdout failed or timed out"
	t1=$(now_ms)
	expect_eq "$got" "$want" "sha256 of 64 MiB stdout"
	expect_eq "$(get "$M/$a/status")" "exit 0" "status"
	expect_eq "$(stat -c %s "$M/$a/stdout")" 67108864 "size of stdout"
	# Read again, whole, after the end.
	got=$(timeout 30 sha256sum <"$M/$a/stdout") || fail "second read failed"
	expect_eq "$got" "$want" "sha256 of the second read"
	echo "64 MiB in $(( t1 - t0 )) ms"
}

opts_test_output_cap_keeps_head_and_marks_the_cut="-o output_cap=1M"
test_output_cap_keeps_head_and_marks_the_cut()
{
	local a=${U}a size out
	connect "$a"
	expect_write_ok "$M/$a/exec" 'yes 0123456789abcdef | head -c 3145728; echo done >&2'
	expect_eq "$(get "$M/$a/status")" "exit 0" "status"
	size=$(stat -c %s "$M/$a/stdout")
	(( size >= 1048576 - 4096 && size <= 1048576 + 256 )) ||
		fail "stdout size $size, want about 1 MiB"
	out=$(get "$M/$a/stdout")
	expect_eq "$(printf '%s\n' "$out" | wc -c)" "$size" "bytes read vs ls size"
	expect_contains "$(printf '%s\n' "$out" | tail -n 2)" "[mitofs: output cap of 1048576 bytes reached; the rest is dropped]" "marker at the end"
	# What is kept is the head of the stream, untouched.
	local keep=$(( size - 200 ))
	expect_eq "$(printf '%s\n' "$out" | head -c $keep | sha256sum)" \
		"$(yes 0123456789abcdef | head -c $keep | sha256sum)" "head of the stream"
	expect_eq "$(get "$M/$a/stderr")" done "stderr"
}

test_long_command_written_by_the_shell_runs_as_one_job()
{
	local a=${U}a j long
	connect "$a"
	# bash's echo and printf write more than 4 KiB in several write(2)s;
	# the command must still run once, whole.
	long=$(head -c 10000 /dev/zero | tr '\0' a)
	echo "echo $long | wc -c" >"$M/$a/exec" || fail "writing a 10 KB command to exec failed"
	expect_eq "$(get "$M/$a/stdout")" 10001 "stdout of a 10 KB command"
	expect_eq "$(get "$M/$a/status")" "exit 0" "status of a 10 KB command"
	j=$(new_job "$a")
	echo "echo $long | wc -c" >"$M/$a/jobs/$j/cmd" || fail "writing a 10 KB command to cmd failed"
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" 10001 "stdout of a 10 KB job"
	# A multi-line script written by cat is one job too.
	{
		echo 'x=0'
		for i in $(seq 1 2000); do echo "x=\$((x + $i))"; done
		echo 'echo $x'
	} >"$T/script.sh"
	cat "$T/script.sh" >"$M/$a/exec" || fail "cat script > exec failed"
	expect_eq "$(get "$M/$a/stdout")" 2001000 "stdout of a $(wc -c <"$T/script.sh")-byte script"
}

test_exec_by_append_redirection_works()
{
	local a=${U}a
	connect "$a"
	echo 'echo appended' >>"$M/$a/exec" || fail "echo >> exec failed"
	expect_eq "$(get "$M/$a/stdout")" appended "stdout"
}

test_binary_output_and_input_are_byte_exact()
{
	local a=${U}a j want
	connect "$a"
	head -c 3000000 /dev/urandom >"$T/rand"
	want=$(sha256sum <"$T/rand")
	# Out: the (local) job reads our file.
	expect_write_ok "$M/$a/exec" "cat '$T/rand'"
	expect_eq "$(timeout 10 sha256sum <"$M/$a/stdout")" "$want" "sha256 of binary stdout"
	expect_write_ok "$M/$a/exec" "cat '$T/rand' >&2"
	expect_eq "$(timeout 10 sha256sum <"$M/$a/stderr")" "$want" "sha256 of binary stderr"
	# In and out: through cat.
	j=$(start_job "$a" cat)
	cat "$T/rand" >"$M/$a/jobs/$j/stdin" || fail "writing stdin failed"
	expect_eq "$(get "$M/$a/jobs/$j/status" 10)" "exit 0" "status"
	expect_eq "$(timeout 10 sha256sum <"$M/$a/jobs/$j/stdout")" "$want" "sha256 of binary stdin through cat"
}

test_exec_over_a_running_job_leaves_nothing_unreachable()
{
	local a=${U}a pid
	connect "$a"
	expect_write_ok "$M/$a/exec" 'echo $$; exec sleep 60'
	pid=$(timeout 5 head -n1 "$M/$a/stdout")
	alive "$pid" || fail "first job ($pid) not running"
	expect_write_ok "$M/$a/exec" 'echo second'
	expect_eq "$(get "$M/$a/stdout")" second "stdout of the second exec"
	# The first job can no longer be read, killed or waited for through
	# exec/stdout/status: it must not run on (and fill the daemon's memory
	# up to output_cap) unless it is still reachable somewhere under jobs/.
	local i reachable=
	for i in $(seq 1 60); do
		alive "$pid" || return 0
		sleep 0.05
	done
	for i in $(ls "$M/$a/jobs"); do
		[ "$i" = new ] && continue
		rd "$M/$a/jobs/$i/status" 0.2
		[ "$ERRNO" = TIMEOUT ] && reachable=jobs/$i
	done
	[ -n "$reachable" ] || fail "the replaced job (pid $pid) runs on, reachable from nowhere in the tree"
}

test_simple_commands_behave_exactly_as_under_sh_c()
{
	local a=${U}a cmd o1 o2 s1 s2 e1 e2
	connect "$a"
	mkdir "$T/d"
	printf 'echo from-a-script\n' >"$T/d/noshebang"
	chmod +x "$T/d/noshebang"
	: >"$T/d/notexec"
	# Commands a stub may run without a shell must give what sh -c gives.
	local cmds=(
		"true" "false" "seq 1 3" "printf %s,%s: a b" "expr 1 + 2" "test -d /"
		"test -f /" "pwd" "id -u" "basename /a/b.c .c" "ls -d /"
		"nosuchcmd-xyz" "/etc" "cat /nonexistent" "dd if=/dev/zero bs=3 count=2"
		"$T/d/noshebang" "$T/d/notexec" "sleep 0.1" "uname   -m" "kill -l 9"
	)
	for cmd in "${cmds[@]}"; do
		expect_write_ok "$M/$a/exec" "$cmd"
		s1=$(get "$M/$a/status") o1=$(get "$M/$a/stdout" | od -c) e1=$(get "$M/$a/stderr")
		expect_write_ok "$M/$a/exec" "sh -c '$cmd'"
		s2=$(get "$M/$a/status") o2=$(get "$M/$a/stdout" | od -c) e2=$(get "$M/$a/stderr")
		expect_eq "$s1" "$s2" "status of '$cmd' (vs sh -c)"
		expect_eq "$o1" "$o2" "stdout of '$cmd' (vs sh -c)"
		if [[ -z $e1 && -n $e2 || -n $e1 && -z $e2 ]]; then
			fail "stderr of '$cmd': '$e1' vs sh -c: '$e2'"
		fi
	done
}

# kill and timeout in NAME/ctl act on the job of the last exec (the one
# stdout, stderr and status show), as in jobs/N/ctl for that job.
test_kill_and_timeout_in_a_context_ctl_act_on_the_exec_job()
{
	local a=${U}a t0
	connect "$a"
	expect_write_errno ESRCH "$M/$a/ctl" "kill"
	expect_contains "$(get "$M/$a/ctl")" "kill: job is not running" "ctl before any exec"
	expect_write_ok "$M/$a/exec" 'sleep 60'
	expect_write_ok "$M/$a/ctl" "kill"
	expect_eq "$(get "$M/$a/status" 5)" "signal TERM" "kill"
	expect_write_ok "$M/$a/exec" 'trap "" TERM; sleep 60'
	expect_write_ok "$M/$a/ctl" "kill HUP"
	expect_eq "$(get "$M/$a/status" 5)" "signal HUP" "kill HUP"
	# The previous job, still running when exec replaced it, is jobs/N:
	# kill in NAME/ctl is for the new one only.
	expect_write_ok "$M/$a/exec" 'sleep 60'
	expect_write_ok "$M/$a/exec" 'sleep 61'
	local moved
	moved=$(ls "$M/$a/jobs" | grep -v new)
	expect_write_ok "$M/$a/ctl" "kill KILL"
	expect_eq "$(get "$M/$a/status" 5)" "signal KILL" "kill KILL"
	rd "$M/$a/jobs/$moved/status" 0.5
	expect_eq "$ERRNO" TIMEOUT "the moved job runs on"
	expect_write_ok "$M/$a/jobs/$moved/ctl" "kill"
	# timeout: from now, SIGKILL.
	expect_write_ok "$M/$a/exec" 'sleep 60'
	t0=$(now_ms)
	expect_write_ok "$M/$a/ctl" "timeout 1"
	expect_eq "$(get "$M/$a/status" 5)" "signal KILL" "timeout"
	(( $(now_ms) - t0 >= 900 )) || fail "timeout 1 killed after $(( $(now_ms) - t0 )) ms"
	# Bad lines, and the verbs where they are none.
	expect_write_errno EINVAL "$M/$a/ctl" "kill NOSUCHSIG"
	expect_write_errno EINVAL "$M/$a/ctl" "timeout soon"
	expect_write_errno ESRCH "$M/$a/ctl" "timeout 5"
	expect_write_errno EINVAL "$M/ctl" "kill"
	expect_contains "$(get "$M/ctl")" "kill is a verb of a context's ctl" "root ctl"
}

# A start the target refuses (its fork fails: the stub's user may start
# no process) fails the close of exec with that errno, and then stdout,
# stderr and status say EIO rather than "" and an exit status.
test_a_refused_start_makes_the_exec_job_files_eio_and_says_why()
{
	local a=${U}n pid
	connect "$a" su user=nobody
	pid=$(stub_pid "$a")
	# As nobody: root here may lack CAP_SYS_RESOURCE, a process may
	# always lower the limits of its own user's processes.
	setpriv --reuid=65534 --regid=65534 --clear-groups prlimit --pid "$pid" --nproc=0:0 ||
		fail "prlimit on the stub"
	local out
	out=$(python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"echo never\n")
try:
    os.close(fd)
except OSError as e:
    print(e.strerror)' "$M/$a/exec")
	expect_eq "$out" "Resource temporarily unavailable" "the errno of close"
	rd "$M/$a/stdout" 3
	expect_eq "$ERRNO" EIO "stdout of a job that never started"
	rd "$M/$a/stderr" 3
	expect_eq "$ERRNO" EIO "stderr of a job that never started"
	rd "$M/$a/status" 3
	expect_eq "$ERRNO" EIO "status of a job that never started"
	expect_contains "$(get "$M/$a/ctl")" "exec: exec start: fork: Resource temporarily unavailable" "ctl"
	# The same for jobs/N: its stdout too.
	local j
	j=$(new_job "$a")
	wr "$M/$a/jobs/$j/cmd" 'echo never'
	rd "$M/$a/jobs/$j/stdout" 3
	expect_eq "$ERRNO" EIO "jobs/$j/stdout of a job that never started"
}

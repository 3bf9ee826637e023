# t_jobs.sh — NAME/jobs: clone, cmd, streaming, stdin, kill, timeout, rmdir.

test_jobs_new_clone_gives_distinct_job_directories()
{
	local a=${U}a n seen=" " i
	connect "$a"
	for i in 1 2 3 4 5; do
		n=$(new_job "$a")
		[[ $seen != *" $n "* ]] || fail "jobs/new gave $n twice"
		seen+="$n "
		[ -d "$M/$a/jobs/$n" ] || fail "no directory jobs/$n"
		expect_eq "$(ls "$M/$a/jobs/$n" | sort | tr '\n' ' ')" "cmd ctl status stderr stdin stdout " "files of jobs/$n"
	done
	# Each job runs its own command and keeps its own output.
	for n in $seen; do
		expect_write_ok "$M/$a/jobs/$n/cmd" "echo job-$n; echo err-$n >&2; exit $n"
	done
	for n in $seen; do
		expect_eq "$(get "$M/$a/jobs/$n/stdout")" "job-$n" "stdout of job $n"
		expect_eq "$(get "$M/$a/jobs/$n/stderr")" "err-$n" "stderr of job $n"
		expect_eq "$(get "$M/$a/jobs/$n/status")" "exit $n" "status of job $n"
	done
	expect_eq "$(ls "$M/$a/jobs" | sort | tr '\n' ' ')" "$(printf '%s\n' $seen new | sort | tr '\n' ' ')" "jobs/ listing"
}

test_job_cmd_written_twice_is_EBUSY()
{
	local a=${U}a j
	connect "$a"
	j=$(start_job "$a" 'echo once')
	expect_write_errno EBUSY "$M/$a/jobs/$j/cmd" 'echo twice'
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" once "stdout"
	expect_contains "$(get "$M/$a/jobs/$j/ctl")" "started already" "job ctl after a second cmd"
}

test_job_stdout_streams_before_the_job_ends()
{
	local a=${U}a j t0 line el
	connect "$a"
	j=$(start_job "$a" 'echo first-line; sleep 30; echo never')
	t0=$(now_ms)
	line=$(timeout 5 head -n1 "$M/$a/jobs/$j/stdout") || fail "head -n1 of a running job's stdout did not return"
	el=$(( $(now_ms) - t0 ))
	expect_eq "$line" first-line "first line"
	(( el < 3000 )) || fail "first line took $el ms"
	# It is still running: status is not there yet.
	rd "$M/$a/jobs/$j/status" 0.5
	expect_eq "$ERRNO" TIMEOUT "status of the running job"
	# A reader that follows sees later output as it comes.
	j=$(start_job "$a" 'for i in 1 2 3; do echo tick$i; sleep 0.3; done')
	bg sh -c "cat '$M/$a/jobs/$j/stdout' | while read -r l; do echo \"\$l \$(date +%s%N)\"; done >'$T/ticks'"
	wait "$BG_LAST" || fail "following reader failed"
	expect_eq "$(cut -d' ' -f1 "$T/ticks" | tr '\n' ' ')" "tick1 tick2 tick3 " "ticks"
	local first last
	first=$(head -n1 "$T/ticks" | cut -d' ' -f2)
	last=$(tail -n1 "$T/ticks" | cut -d' ' -f2)
	(( (last - first) / 1000000 >= 300 )) ||
		fail "ticks arrived together ($(( (last - first) / 1000000 )) ms apart), not as produced"
}

test_job_status_blocks_until_exit()
{
	local a=${U}a j t0 el
	connect "$a"
	j=$(start_job "$a" 'sleep 1.5; exit 5')
	t0=$(now_ms)
	# Many waiters on one status all wake.
	local i
	for i in $(seq 1 10); do
		bg sh -c 'timeout 10 cat "$1" >"$2"' _ "$M/$a/jobs/$j/status" "$T/waiter$i"
	done
	expect_eq "$(get "$M/$a/jobs/$j/status" 10)" "exit 5" "status"
	el=$(( $(now_ms) - t0 ))
	(( el >= 1000 )) || fail "status returned after $el ms, before the job ended"
	(( el < 5000 )) || fail "status returned $el ms after start (job takes 1.5 s)"
	for i in $(seq 1 10); do
		wait_until 3 "waiter $i" test -s "$T/waiter$i"
		expect_eq "$(cat "$T/waiter$i")" "exit 5" "waiter $i"
	done
	# The exec file's status waits the same way.
	expect_write_ok "$M/$a/exec" 'sleep 1; echo late'
	t0=$(now_ms)
	expect_eq "$(get "$M/$a/status" 10)" "exit 0" "exec status"
	el=$(( $(now_ms) - t0 ))
	(( el >= 700 )) || fail "exec status returned after $el ms"
	expect_eq "$(get "$M/$a/stdout")" late "exec stdout"
}

test_fifty_concurrent_jobs_each_see_their_own_output()
{
	local a=${U}a i
	connect "$a"
	for i in $(seq 1 50); do
		(
			j=$(new_job "$a")
			echo "$j" >"$T/num$i"
			wr "$M/$a/jobs/$j/cmd" "echo out-$i; echo err-$i >&2; sleep 0.$(( i % 5 )); exit $(( i % 7 ))"
			[ "$ERRNO" = OK ] || { echo "cmd: $ERRNO" >"$T/res$i"; exit; }
			{
				cat "$M/$a/jobs/$j/stdout"
				cat "$M/$a/jobs/$j/stderr"
				cat "$M/$a/jobs/$j/status"
			} >"$T/res$i" 2>&1
		) &
	done
	wait
	for i in $(seq 1 50); do
		expect_eq "$(cat "$T/res$i")" $'out-'"$i"$'\nerr-'"$i"$'\nexit '"$(( i % 7 ))" "job of worker $i (jobs/$(cat "$T/num$i"))"
	done
	expect_eq "$(cat "$T"/num* | sort -u | wc -l)" 50 "distinct job numbers"
}

test_job_stdin_is_piped_and_close_is_EOF()
{
	local a=${U}a j want
	connect "$a"
	j=$(start_job "$a" 'cat')
	printf 'hello\nworld\n' >"$M/$a/jobs/$j/stdin"
	expect_eq "$(get "$M/$a/jobs/$j/status")" "exit 0" "cat exits at EOF"
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" $'hello\nworld' "cat's stdout"
	# 8 MiB through sha256sum, written by a pipe in many writes.
	want=$(yes abcdefghijklmnopqrstuvwxyz | head -c 8388608 | sha256sum)
	j=$(start_job "$a" 'sha256sum')
	yes abcdefghijklmnopqrstuvwxyz | head -c 8388608 >"$M/$a/jobs/$j/stdin" || fail "write to stdin failed"
	expect_eq "$(get "$M/$a/jobs/$j/status" 30)" "exit 0" "sha256sum status"
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" "$want" "sha256 of stdin"
	# An empty stdin: open and close is EOF at once.
	j=$(start_job "$a" 'wc -c')
	: >"$M/$a/jobs/$j/stdin"
	expect_eq "$(get "$M/$a/jobs/$j/stdout" 5)" 0 "wc -c of an empty stdin"
	# Writing stdin before cmd is refused.
	j=$(new_job "$a")
	expect_write_errno EINVAL "$M/$a/jobs/$j/stdin" 'too early'
}

test_job_ctl_kill_gives_signal_status()
{
	local a=${U}a j
	connect "$a"
	j=$(start_job "$a" 'echo started; sleep 60')
	expect_eq "$(timeout 5 head -n1 "$M/$a/jobs/$j/stdout")" started "job started"
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill KILL'
	expect_eq "$(get "$M/$a/jobs/$j/status" 5)" "signal KILL" "status after kill KILL"
	# The default signal is TERM; numbers and SIG names work too.
	j=$(start_job "$a" 'sleep 60')
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill'
	expect_eq "$(get "$M/$a/jobs/$j/status" 5)" "signal TERM" "status after kill"
	j=$(start_job "$a" 'sleep 60')
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill 9'
	expect_eq "$(get "$M/$a/jobs/$j/status" 5)" "signal KILL" "status after kill 9"
	j=$(start_job "$a" 'sleep 60')
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill SIGINT'
	expect_eq "$(get "$M/$a/jobs/$j/status" 5)" "signal INT" "status after kill SIGINT"
	# The whole process group goes, not only the shell.
	j=$(start_job "$a" 'sleep 61 & echo $!; wait')
	local child
	child=$(timeout 5 head -n1 "$M/$a/jobs/$j/stdout")
	alive "$child" || fail "background child $child not running"
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill KILL'
	expect_eq "$(get "$M/$a/jobs/$j/status" 5)" "signal KILL" "status of the group leader"
	wait_until 3 "background child $child to die with its group" eval '! alive '"$child"
	# A finished job cannot be killed.
	expect_write_errno ESRCH "$M/$a/jobs/$j/ctl" 'kill'
}

test_job_ctl_timeout_kills_the_job()
{
	local a=${U}a j t0 el
	connect "$a"
	j=$(start_job "$a" 'echo up; sleep 60')
	t0=$(now_ms)
	expect_write_ok "$M/$a/jobs/$j/ctl" 'timeout 1'
	expect_eq "$(get "$M/$a/jobs/$j/status" 10)" "signal KILL" "status after the timeout"
	el=$(( $(now_ms) - t0 ))
	(( el >= 800 && el < 4000 )) || fail "timeout 1 killed after $el ms"
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" up "stdout kept"
	# timeout 0 cancels.
	j=$(start_job "$a" 'sleep 1.5; echo finished')
	expect_write_ok "$M/$a/jobs/$j/ctl" 'timeout 1'
	expect_write_ok "$M/$a/jobs/$j/ctl" 'timeout 0'
	expect_eq "$(get "$M/$a/jobs/$j/status" 10)" "exit 0" "status after a cancelled timeout"
}

test_rmdir_of_a_running_job_kills_it_and_frees_it()
{
	local a=${U}a j pid child
	connect "$a"
	j=$(start_job "$a" 'sleep 61 & echo $$ $!; exec sleep 60')
	read -r pid child < <(timeout 5 head -n1 "$M/$a/jobs/$j/stdout")
	expect_match "$pid" '^[0-9]+$' "pid from the job"
	alive "$pid" || fail "job process $pid not running"
	alive "$child" || fail "job's background child $child not running"
	rmdir "$M/$a/jobs/$j" || fail "rmdir of the running job failed"
	[ ! -e "$M/$a/jobs/$j" ] || fail "jobs/$j still exists"
	wait_until 3 "job process $pid to be killed" eval '! alive '"$pid"
	wait_until 3 "job's background child $child to be killed" eval '! alive '"$child"
	# rmdir of a finished job, and of one never started.
	j=$(start_job "$a" 'true')
	expect_eq "$(get "$M/$a/jobs/$j/status")" "exit 0" "status"
	rmdir "$M/$a/jobs/$j" || fail "rmdir of a finished job failed"
	j=$(new_job "$a")
	rmdir "$M/$a/jobs/$j" || fail "rmdir of a new job failed"
	expect_eq "$(ls "$M/$a/jobs")" new "jobs/ after the rmdirs"
	# A reader waiting on the status of a removed job is not left hanging.
	j=$(start_job "$a" 'sleep 60')
	bg timeout 10 cat "$M/$a/jobs/$j/status"
	local reader=$BG_LAST
	sleep 0.3
	rmdir "$M/$a/jobs/$j"
	local t0
	t0=$(now_ms)
	wait "$reader" && fail "the waiting status read succeeded after rmdir" || true
	(( $(now_ms) - t0 < 3000 )) || fail "the waiting status read took $(( $(now_ms) - t0 )) ms to end after rmdir"
	# The context still works.
	j=$(start_job "$a" 'echo fine')
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" fine "new job after rmdirs"
}

test_stdin_beyond_the_stubs_queue_is_held_back_not_lost()
{
	local a=${U}a j want t0 el
	connect "$a"
	# The job reads nothing for 1 s: 40 MiB must wait in the pipe, the
	# stub's queue and the writer, and arrive whole.
	want=$(( 40 << 20 ))
	j=$(start_job "$a" 'sleep 1; wc -c')
	t0=$(now_ms)
	head -c "$want" /dev/zero >"$M/$a/jobs/$j/stdin" || fail "writing 40 MiB to stdin failed"
	el=$(( $(now_ms) - t0 ))
	expect_eq "$(get "$M/$a/jobs/$j/stdout" 20)" "$want" "bytes the job read"
	(( el >= 500 )) || fail "40 MiB were taken in $el ms while the job read nothing: no backpressure"
}

test_two_readers_of_one_running_stream_both_get_everything()
{
	local a=${U}a j want
	connect "$a"
	want=$(seq 1 2000000 | sha256sum)
	j=$(start_job "$a" 'sleep 0.5; seq 1 2000000')
	bg sh -c 'sha256sum <"$1" >"$2"' _ "$M/$a/jobs/$j/stdout" "$T/r1"
	local r1=$BG_LAST
	bg sh -c 'sha256sum <"$1" >"$2"' _ "$M/$a/jobs/$j/stdout" "$T/r2"
	local r2=$BG_LAST
	wait "$r1" "$r2"
	expect_eq "$(cat "$T/r1")" "$want" "first reader"
	expect_eq "$(cat "$T/r2")" "$want" "second reader"
}

test_finished_jobs_release_their_router_handles()
{
	local a=${U}a j i before after
	connect "$a"
	j=$(start_job "$a" true)
	get "$M/$a/jobs/$j/status" >/dev/null
	rmdir "$M/$a/jobs/$j"
	before=$(field "$(get "$M/stats")" handles)
	for i in $(seq 1 30); do
		j=$(start_job "$a" "echo $i; echo $i >&2")
		printf 'x\n' >"$M/$a/jobs/$j/stdin" 2>/dev/null || true
		get "$M/$a/jobs/$j/status" >/dev/null
		rmdir "$M/$a/jobs/$j"
		expect_write_ok "$M/$a/exec" "exit $i"
		get "$M/$a/status" >/dev/null
	done
	# A killed job and a timed-out one, too.
	j=$(start_job "$a" 'sleep 30')
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill KILL'
	get "$M/$a/jobs/$j/status" >/dev/null
	rmdir "$M/$a/jobs/$j"
	after=$(field "$(get "$M/stats")" handles)
	expect_eq "$after" "$before" "router handles after 60 more jobs (before: $before)"
}

test_blocked_stdin_writer_is_released_when_the_job_dies()
{
	local a=${U}a j t0 el
	connect "$a"
	j=$(start_job "$a" 'exec sleep 60')
	bg sh -c 'head -c 67108864 /dev/zero >"$1" 2>"$2.err"; echo $? >"$2.rc"' _ "$M/$a/jobs/$j/stdin" "$T/w"
	sleep 1
	[ ! -e "$T/w.rc" ] || fail "64 MiB to a job that reads nothing did not block (rc $(cat "$T/w.rc"): $(cat "$T/w.err"))"
	t0=$(now_ms)
	expect_write_ok "$M/$a/jobs/$j/ctl" 'kill KILL'
	wait_until 3 "the blocked stdin writer to end after the job was killed" test -s "$T/w.rc"
	el=$(( $(now_ms) - t0 ))
	expect_eq "$(get "$M/$a/jobs/$j/status")" "signal KILL" "status"
	[ "$(cat "$T/w.rc")" != 0 ] || fail "the writer succeeded though nothing read its data"
	echo "writer ended $el ms after the kill: $(cat "$T/w.err")"
}

test_rmdir_of_a_job_never_started_ends_its_waiting_readers()
{
	local a=${U}a j t0
	connect "$a"
	j=$(new_job "$a")
	# Its status has nothing to wait for yet: ENODATA at once.
	rd "$M/$a/jobs/$j/status" 3
	expect_eq "$ERRNO" ENODATA "status of a job not started"
	# Its output waits (it may come once cmd is written)...
	bg sh -c 'timeout 10 cat "$1" >/dev/null 2>&1; echo $? >"$2"' _ "$M/$a/jobs/$j/stdout" "$T/stdout.rc"
	sleep 0.3
	[ ! -e "$T/stdout.rc" ] || fail "a read of the output of a job never started did not wait"
	# ...and ends when the job is removed.
	rmdir "$M/$a/jobs/$j"
	t0=$(now_ms)
	wait_until 3 "the stdout reader of the removed job to end" test -s "$T/stdout.rc"
	[ "$(cat "$T/stdout.rc")" != 124 ] || fail "the stdout reader was still waiting 10 s later"
	echo "the reader ended $(( $(now_ms) - t0 )) ms after rmdir"
}

test_a_job_reads_from_any_offset_of_its_output()
{
	local a=${U}a j
	connect "$a"
	j=$(start_job "$a" 'seq 1 100000')
	get "$M/$a/jobs/$j/status" >/dev/null
	expect_eq "$(tail -c 13 "$M/$a/jobs/$j/stdout")" $'99999\n100000' "tail -c 13"
	expect_eq "$(tail -n 2 "$M/$a/jobs/$j/stdout")" $'99999\n100000' "tail -n 2"
	expect_eq "$(dd if="$M/$a/jobs/$j/stdout" bs=1 skip=100 count=10 2>/dev/null)" "$(seq 1 100000 | dd bs=1 skip=100 count=10 2>/dev/null)" "dd skip=100"
}

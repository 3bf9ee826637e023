# t_failure.sh — contexts that die: no reader hangs, the rest keeps going.

# Starts a background reader of FILE that records its exit code, output
# and the time it ended in $T/NAME.{rc,out,err,end}.
reader()   # NAME FILE
{
	bg sh -c 'cat "$1" >"$2.out" 2>"$2.err"; echo $? >"$2.rc"; date +%s%N >"$2.end"' _ "$2" "$T/$1"
}

# Waits for reader NAME to end and prints how many ms after T0_NS it did.
reader_end_ms()   # NAME T0_NS
{
	wait_until 5 "reader $1 to end" test -s "$T/$1.end"
	echo $(( ($(cat "$T/$1.end") - $2) / 1000000 ))
}

# Kills a context's stub with SIGKILL and waits for its info to say so.
kill_stub()   # PATH
{
	local pid
	pid=$(stub_pid "$1")
	kill -9 "$pid"
	echo "$pid"
}

test_exec_on_a_disconnected_context_is_EIO()
{
	local a=${U}a info
	connect "$a"
	kill_stub "$a" >/dev/null
	wait_until 3 "$a to be disconnected" eval '[[ $(get "$M/$a/info") == *"state: disconnected"* ]]'
	info=$(get "$M/$a/info")
	expect_match "$(field "$info" why)" '.' "why in info"
	expect_write_errno EIO "$M/$a/exec" 'echo hi'
	expect_contains "$(get "$M/$a/ctl")" "not connected" "ctl reason"
	rd "$M/$a/jobs/new"
	expect_eq "$ERRNO" EIO "jobs/new on a disconnected context"
	expect_write_errno EIO "$M/$a/ctl" "connect ${U}b local"
	# Its log ends instead of following.
	rd "$M/$a/log" 3
	expect_eq "$ERRNO" OK "reading the log of a disconnected context"
	expect_contains "$OUT" "disconnected" "its log"
	# It can be removed and made again.
	expect_write_ok "$M/ctl" "disconnect $a"
	connect "$a"
	expect_write_ok "$M/$a/exec" 'echo back'
	expect_eq "$(get "$M/$a/stdout")" back "stdout after reconnecting"
}

test_stub_killed_mid_job_ends_readers_and_spares_others()
{
	local a=${U}a b=${U}b j jpid t0 el
	connect "$a"
	connect "$b"
	j=$(start_job "$a" 'echo partial; echo $$ >&2; exec sleep 60')
	expect_eq "$(timeout 5 head -n1 "$M/$a/jobs/$j/stdout")" partial "job started"
	jpid=$(timeout 5 head -n1 "$M/$a/jobs/$j/stderr")
	expect_write_ok "$M/$a/exec" 'echo last; exec sleep 60'
	expect_eq "$(timeout 5 head -n1 "$M/$a/stdout")" last "exec started"
	reader status "$M/$a/jobs/$j/status"
	reader stdout "$M/$a/jobs/$j/stdout"
	reader xstatus "$M/$a/status"
	reader xstdout "$M/$a/stdout"
	reader log "$M/$a/log"
	# Work on b goes on meanwhile.
	local jb
	jb=$(start_job "$b" 'sleep 2; echo b-done')
	sleep 0.3 # the readers are parked in the daemon
	t0=$(date +%s%N)
	kill_stub "$a" >/dev/null
	el=$(reader_end_ms status "$t0")
	(( el <= 1000 )) || fail "pending status read ended $el ms after the kill"
	expect_eq "$(cat "$T/status.rc")" 1 "exit code of cat status"
	expect_contains "$(cat "$T/status.err")" "Input/output error" "error of cat status"
	el=$(reader_end_ms stdout "$t0")
	(( el <= 1000 )) || fail "following stdout read ended $el ms after the kill"
	# Every byte that arrived, then EIO: the output was cut, not ended.
	expect_eq "$(cat "$T/stdout.rc")" 1 "exit code of cat stdout (EIO)"
	expect_contains "$(cat "$T/stdout.err")" "Input/output error" "error of cat stdout"
	expect_eq "$(cat "$T/stdout.out")" partial "what cat stdout got"
	el=$(reader_end_ms xstatus "$t0")
	(( el <= 1000 )) || fail "pending exec status read ended $el ms after the kill"
	expect_contains "$(cat "$T/xstatus.err")" "Input/output error" "error of cat NAME/status"
	el=$(reader_end_ms xstdout "$t0")
	(( el <= 1000 )) || fail "following exec stdout read ended $el ms after the kill"
	expect_eq "$(cat "$T/xstdout.out")" last "what cat NAME/stdout got"
	expect_contains "$(cat "$T/xstdout.err")" "Input/output error" "error of cat NAME/stdout"
	el=$(reader_end_ms log "$t0")
	(( el <= 1000 )) || fail "following log read ended $el ms after the kill"
	# Fresh reads: status EIO at once, stdout what was there then EIO.
	rd "$M/$a/jobs/$j/status" 2
	expect_eq "$ERRNO" EIO "status of the lost job"
	rd "$M/$a/jobs/$j/stdout" 2
	expect_eq "$ERRNO/$OUT" EIO/partial "stdout of the lost job"
	local info
	info=$(get "$M/$a/info")
	expect_eq "$(field "$info" state)" disconnected "state of $a"
	expect_match "$(field "$info" why)" '.' "why of $a"
	# The job's process went with its stub.
	wait_until 3 "the job process $jpid to die" eval '! alive '"$jpid"
	# b is untouched.
	expect_eq "$(field "$(get "$M/$b/info")" state)" connected "state of $b"
	expect_eq "$(get "$M/$b/jobs/$jb/stdout" 10)" b-done "job on $b"
	expect_write_ok "$M/$b/exec" 'echo still'
	expect_eq "$(get "$M/$b/stdout")" still "exec on $b"
	expect_eq "$(field "$(get "$M/stats")" contexts_connected)" 1 "stats contexts_connected"
}

test_killing_the_middle_stub_disconnects_both_levels()
{
	local a=${U}a b=${U}b c=${U}c j pb t0 el
	connect "$a"
	connect "$a/$b"
	connect "$c"
	pb=$(stub_pid "$a/$b")
	j=$(start_job "$a/$b" 'echo deep; sleep 60')
	expect_eq "$(timeout 5 head -n1 "$M/$a/$b/jobs/$j/stdout")" deep "job on $a/$b"
	reader status "$M/$a/$b/jobs/$j/status"
	reader stdout "$M/$a/$b/jobs/$j/stdout"
	sleep 0.3
	t0=$(date +%s%N)
	kill_stub "$a" >/dev/null
	el=$(reader_end_ms status "$t0")
	(( el <= 1000 )) || fail "status read on $a/$b ended $el ms after the kill"
	expect_contains "$(cat "$T/status.err")" "Input/output error" "error of cat status on $a/$b"
	el=$(reader_end_ms stdout "$t0")
	(( el <= 1000 )) || fail "stdout read on $a/$b ended $el ms after the kill"
	expect_eq "$(cat "$T/stdout.out")" deep "stdout on $a/$b"
	wait_until 3 "$a to be disconnected" eval '[[ $(get "$M/$a/info") == *"state: disconnected"* ]]'
	wait_until 3 "$a/$b to be disconnected" eval '[[ $(get "$M/$a/$b/info") == *"state: disconnected"* ]]'
	# b's stub lost its parent and goes too.
	wait_until 3 "stub of $a/$b ($pb) to exit" eval '! alive '"$pb"
	expect_write_errno EIO "$M/$a/$b/exec" 'echo hi'
	expect_write_ok "$M/$c/exec" 'echo fine'
	expect_eq "$(get "$M/$c/stdout")" fine "other context"
	# Removing the dead parent takes the dead child with it.
	expect_write_ok "$M/ctl" "disconnect $a"
	[ ! -e "$M/$a" ] || fail "$a still there"
}

test_killing_a_nested_stub_leaves_its_parent_working()
{
	local a=${U}a b=${U}b
	connect "$a"
	connect "$a/$b"
	kill_stub "$a/$b" >/dev/null
	wait_until 3 "$a/$b to be disconnected" eval '[[ $(get "$M/$a/$b/info") == *"state: disconnected"* ]]'
	expect_eq "$(field "$(get "$M/$a/info")" state)" connected "state of $a"
	expect_write_ok "$M/$a/exec" 'echo parent-ok'
	expect_eq "$(get "$M/$a/stdout")" parent-ok "exec on $a"
	# The name is free again once the dead child is removed.
	expect_write_ok "$M/$a/ctl" "disconnect $b"
	connect "$a/$b"
	expect_write_ok "$M/$a/$b/exec" 'echo child-ok'
	expect_eq "$(get "$M/$a/$b/stdout")" child-ok "exec on the new $a/$b"
}

test_stub_killed_takes_its_jobs_whole_process_groups_down()
{
	local a=${U}a j pg
	connect "$a"
	# sh with children of its own: a pipeline and a background sleep.
	j=$(start_job "$a" 'echo $$; sleep 61 & sleep 62 | cat; wait')
	pg=$(timeout 5 head -n1 "$M/$a/jobs/$j/stdout")
	expect_match "$pg" '^[0-9]+$' "process group from the job"
	wait_until 3 "the job's processes to start" eval '[ "$(pgrep -g '"$pg"' | wc -l)" -ge 4 ]'
	kill_stub "$a" >/dev/null
	wait_until 3 "$a to be disconnected" eval '[[ $(get "$M/$a/info") == *"state: disconnected"* ]]'
	local i p left=
	for i in $(seq 1 40); do
		left=$(for p in $(pgrep -g "$pg"); do alive "$p" && ps -o pid=,args= -p "$p"; done | paste -sd';')
		[ -z "$left" ] && break
		sleep 0.05
	done
	[ -z "$left" ] || fail "2 s after the stub died, its job's process group $pg still has: $left"
}

test_disconnect_ends_pending_reads_at_once()
{
	local a=${U}a j t0 el
	connect "$a"
	j=$(start_job "$a" 'echo out; exec sleep 60')
	expect_eq "$(timeout 5 head -n1 "$M/$a/jobs/$j/stdout")" out "job started"
	expect_write_ok "$M/$a/exec" 'exec sleep 60'
	reader status "$M/$a/jobs/$j/status"
	reader stdout "$M/$a/jobs/$j/stdout"
	reader xstatus "$M/$a/status"
	reader log "$M/$a/log"
	sleep 0.3
	t0=$(date +%s%N)
	expect_write_ok "$M/ctl" "disconnect $a"
	for r in status stdout xstatus log; do
		el=$(reader_end_ms "$r" "$t0")
		(( el <= 1000 )) || fail "pending $r read ended $el ms after the disconnect"
	done
	expect_contains "$(cat "$T/status.err")" "Input/output error" "status read"
	# What arrived, then EIO: the job did not end by itself.
	expect_eq "$(cat "$T/stdout.rc")/$(cat "$T/stdout.out")" 1/out "stdout read"
	expect_contains "$(cat "$T/stdout.err")" "Input/output error" "stdout read's error"
	expect_contains "$(cat "$T/log.out")" "disconnect" "log read"
	expect_eq "$(field "$(get "$M/stats")" contexts)" 0 "contexts in stats"
}

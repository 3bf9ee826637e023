# t_groups.sh — groups/: making and removing groups, members (paths,
# globs, ranges, removal, late joiners), one exec on every member with
# output gathered as "PATH: line", status lines for every end, folded
# output, stdin to every member, kill, timeout and the fan-out width.

# Connects ${U}NAME for each NAME given, in one ctl write (in parallel).
connect_many()   # NAME...
{
	local lines="" n
	for n in "$@"; do
		lines+="connect ${U}$n local"$'\n'
	done
	printf '%s' "$lines" >"$T/.lines"
	cat "$T/.lines" >"$M/ctl" || fail "connect $*: $(cat "$M/ctl")"
}

# The errno name that close(2) of FILE gives after writing TEXT (OK if none).
close_errno()   # FILE TEXT
{
	python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, sys.argv[2].encode())
try:
    os.close(fd)
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1" "$2"
}

test_group_mkdir_lists_its_files_and_rmdir_leaves_the_contexts()
{
	local g=$M/groups/${U}g
	connect_many w1 w2
	mkdir "$g" || fail "mkdir of a group"
	expect_eq "$(ls "$g" | tr '\n' ' ')" "ctl exec folded jobs members status stderr stdout " "files of a group"
	expect_eq "$(ls "$g/jobs")" new "jobs/ of a new group"
	local out
	out=$(mkdir "$g" 2>&1) && fail "a second mkdir succeeded"
	expect_contains "$out" "File exists" "second mkdir"
	out=$(mkdir "$M/groups/bad name" 2>&1) && fail "a name with a blank was taken"
	expect_contains "$out" "Invalid argument" "bad name"
	out=$(mkdir "$M/${U}w1/x" 2>&1) && fail "mkdir outside groups/ succeeded"
	echo "${U}w*" >"$g/members"
	expect_write_ok "$g/exec" "echo hi"
	expect_eq "$(get "$g/status" | wc -l)" 2 "status lines"
	rmdir "$g" || fail "rmdir of a group"
	[ ! -e "$g" ] || fail "the group is still there"
	[ -d "$M/${U}w1" ] && [ -d "$M/${U}w2" ] || fail "contexts went with their group"
	expect_write_ok "$M/${U}w1/exec" "echo still"
	expect_eq "$(get "$M/${U}w1/stdout")" still "a member after its group went"
}

test_group_members_resolve_globs_ranges_and_removals_in_natural_order()
{
	local g=$M/groups/${U}g
	connect_many w1 w2 w3 w10 w11 db1
	connect "${U}w1/${U}in" local
	mkdir "$g"
	echo "${U}w[1-3,10]" >"$g/members"
	expect_eq "$(get "$g/members" | tr '\n' ' ')" "${U}w1 ${U}w2 ${U}w3 ${U}w10 " "a range"
	echo "-${U}w2" >>"$g/members"
	expect_eq "$(get "$g/members" | tr '\n' ' ')" "${U}w1 ${U}w3 ${U}w10 " "after -PATTERN"
	# '>' starts the list again; '*' stays inside one component.
	echo "${U}w*" >"$g/members"
	expect_eq "$(get "$g/members" | tr '\n' ' ')" "${U}w1 ${U}w2 ${U}w3 ${U}w10 ${U}w11 " "a glob"
	echo "*/*" >"$g/members"
	expect_eq "$(get "$g/members")" "${U}w1/${U}in" "*/*"
	printf '%s\n%s\n' "${U}db1" "${U}w1/${U}in" >"$g/members"
	expect_eq "$(get "$g/members" | tr '\n' ' ')" "${U}db1 ${U}w1/${U}in " "two paths in one write"
	# Patterns are resolved when read (or when a job starts): a context
	# connected later joins.
	echo "${U}late*" >>"$g/members"
	connect "${U}late1"
	expect_eq "$(get "$g/members" | tr '\n' ' ')" "${U}db1 ${U}late1 ${U}w1/${U}in " "a late joiner"
	# A bad line (appended: '>' would empty the list first) changes
	# nothing and says why.
	local out
	out=$( { printf '%s\n%s\n' "${U}db*" "${U}w[3-1]" >>"$g/members"; } 2>&1) &&
		fail "a bad range was taken"
	expect_contains "$out" "Invalid argument" "a bad range"
	expect_contains "$(get "$g/ctl")" "bad range" "ctl after a bad range"
	out=$( { echo "a//b" >>"$g/members"; } 2>&1) && fail "an empty component was taken"
	expect_eq "$(get "$g/members" | wc -l)" 3 "members after refused lines"
}

test_group_exec_gathers_every_line_of_every_member_unmixed()
{
	local g=$M/groups/${U}g n p i
	connect_many m1 m2 m3 m4 m5
	mkdir "$g"
	echo "${U}m*" >"$g/members"
	# Each line is written in two pieces, with the members racing: the
	# gathered output must still have each line whole, once, in order.
	wr "$g/exec" 'for i in $(seq 1 400); do printf "line-%s-" $i; printf "%0300d\n" 0; printf "e%s-" $i >&2; echo x >&2; done; printf "no newline"'
	[ "$ERRNO" = OK ] || fail "exec: $ERRNO"
	get "$g/stdout" 30 >"$T/out"
	get "$g/stderr" 30 >"$T/err"
	expect_eq "$(wc -l <"$T/out")" $(( 5 * 401 )) "gathered stdout lines"
	local zeros
	zeros=$(printf '%0300d' 0)
	for n in 1 2 3 4 5; do
		p=${U}m$n
		grep "^$p: " "$T/out" >"$T/one" || fail "no lines of $p"
		{
			for i in $(seq 1 400); do echo "$p: line-$i-$zeros"; done
			echo "$p: no newline"
		} >"$T/want"
		cmp -s "$T/one" "$T/want" || fail "lines of $p differ: $(diff "$T/one" "$T/want" | head -5)"
		expect_eq "$(grep -c "^$p: e[0-9]*-x$" "$T/err")" 400 "stderr lines of $p"
	done
	expect_eq "$(grep -vc '^[^:]*: ' "$T/out" || true)" 0 "lines without a member prefix"
	expect_eq "$(get "$g/status" | tr '\n' ' ')" \
		"${U}m1 exit 0 ${U}m2 exit 0 ${U}m3 exit 0 ${U}m4 exit 0 ${U}m5 exit 0 " "status"
}

test_group_folded_groups_members_with_the_same_output()
{
	local g=$M/groups/${U}g
	connect_many f1 f2 f3 f4
	mkdir "$g"
	echo "${U}f*" >"$g/members"
	expect_write_ok "$g/exec" 'echo same'
	expect_eq "$(get "$g/folded")" "----------------
${U}f1,${U}f2,${U}f3,${U}f4
----------------
same" "one output for all"
	# Two distinct outputs: f1 and f3 print "odd", f2 and f4 "even",
	# told apart by their context's path (the stub's argv says it).
	wr "$g/exec" 'if tr "\0" " " </proc/$PPID/cmdline | grep -q "'"${U}"'f[13]"; then echo odd; else echo even; fi'
	local want="----------------
${U}f1,${U}f3
----------------
odd
----------------
${U}f2,${U}f4
----------------
even"
	expect_eq "$(get "$g/folded")" "$want" "two outputs"
}

test_group_status_says_exit_signal_lost_and_failed_per_member()
{
	local g=$M/groups/${U}g pid
	connect_many s1 s2 s3 s4
	mkdir "$g"
	echo "${U}s*" >"$g/members"
	# s4 is down before the job starts: its job fails to start.
	pid=$(stub_pid "${U}s4")
	kill -9 "$pid"
	wait_until 5 "s4 marked disconnected" grep -q 'state: disconnected' "$M/${U}s4/info"
	wr "$g/exec" 'case "$(tr "\0" " " </proc/$PPID/cmdline)" in *'"${U}"'s1*) exit 3;; *'"${U}"'s2*) kill -9 $$;; *) echo $PPID >/dev/null; sleep 30;; esac'
	[ "$ERRNO" = OK ] || fail "exec with one member down: $ERRNO"
	# s3 runs on: its stub dies mid-run, so its job is lost.
	pid=$(stub_pid "${U}s3")
	sleep 0.3
	kill -9 "$pid"
	rd "$g/status" 10
	[ "$ERRNO" = OK ] || fail "status: $ERRNO"
	local lines
	mapfile -t lines <<<"$OUT"
	expect_eq "${#lines[@]}" 4 "status lines"
	expect_eq "${lines[0]}" "${U}s1 exit 3" "s1"
	expect_eq "${lines[1]}" "${U}s2 signal KILL" "s2"
	expect_match "${lines[2]}" "^${U}s3 lost: .+" "s3"
	expect_match "${lines[3]}" "^${U}s4 failed: .*disconnected" "s4"
}

test_group_with_no_members_or_none_left_is_a_clear_error()
{
	local g=$M/groups/${U}g
	mkdir "$g"
	expect_eq "$(close_errno "$g/exec" "echo x")" ENOENT "exec on an empty group"
	expect_contains "$(get "$g/ctl")" "no members" "ctl of an empty group"
	rd "$g/status" 3
	expect_eq "$ERRNO" EIO "status of a job that never started"
	rd "$g/stdout" 3
	expect_eq "$ERRNO" EIO "stdout of a job that never started"
	echo "${U}nothing*" >"$g/members"
	expect_eq "$(close_errno "$g/exec" "echo x")" ENOENT "exec when no context matches"
	expect_contains "$(get "$g/ctl")" "no context matches" "ctl"
	# Members that are all down: every start fails, the write says EIO
	# and status says why for each.
	connect_many d1 d2
	echo "${U}d*" >"$g/members"
	kill -9 "$(stub_pid "${U}d1")" "$(stub_pid "${U}d2")"
	wait_until 5 "both down" sh -c "grep -q disconnected '$M/${U}d1/info' && grep -q disconnected '$M/${U}d2/info'"
	expect_eq "$(close_errno "$g/exec" "echo x")" EIO "exec when every member is down"
	expect_eq "$(get "$g/status" 3 | grep -c ' failed: ')" 2 "failed lines"
}

test_group_job_stdin_reaches_every_member_even_those_started_later()
{
	local g=$M/groups/${U}g j
	connect_many i1 i2 i3
	mkdir "$g"
	echo "${U}i*" >"$g/members"
	j=$(timeout 5 cat "$g/jobs/new") || fail "jobs/new"
	expect_eq "$(ls "$g/jobs/$j" | tr '\n' ' ')" "cmd ctl folded status stderr stdin stdout " "files of jobs/N"
	# Width 1: i2 and i3 start after i1 has its stdin and ended; they get
	# the same bytes replayed.
	echo "width 1" >"$g/ctl"
	expect_write_ok "$g/jobs/$j/cmd" "tr a-z A-Z"
	printf 'hello\nworld\n' >"$g/jobs/$j/stdin"
	expect_eq "$(get "$g/jobs/$j/stdout" 10 | tr '\n' ' ')" \
		"${U}i1: HELLO ${U}i1: WORLD ${U}i2: HELLO ${U}i2: WORLD ${U}i3: HELLO ${U}i3: WORLD " "stdout"
	expect_eq "$(get "$g/jobs/$j/status" | tr '\n' ' ')" "${U}i1 exit 0 ${U}i2 exit 0 ${U}i3 exit 0 " "status"
	expect_write_errno EPIPE "$g/jobs/$j/stdin" "late"
}

test_group_kill_and_timeout_end_every_member()
{
	local g=$M/groups/${U}g t0 el j
	connect_many k1 k2 k3
	mkdir "$g"
	echo "${U}k*" >"$g/members"
	expect_write_ok "$g/exec" "sleep 60"
	t0=$(now_ms)
	expect_write_ok "$g/ctl" "kill KILL"
	expect_eq "$(get "$g/status" 5 | tr '\n' ' ')" "${U}k1 signal KILL ${U}k2 signal KILL ${U}k3 signal KILL " "status after kill"
	el=$(( $(now_ms) - t0 ))
	(( el < 3000 )) || fail "kill took $el ms"
	expect_write_errno EINVAL "$g/ctl" "kill SIGFOO"
	expect_contains "$(get "$g/ctl")" "TERM, KILL" "ctl says which signals"
	expect_write_errno ESRCH "$g/ctl" "kill"
	# The group's timeout is each member's limit for jobs started after.
	expect_write_ok "$g/ctl" "timeout 1"
	t0=$(now_ms)
	expect_write_ok "$g/exec" "sleep 60"
	expect_eq "$(get "$g/status" 10 | grep -c ' signal ')" 3 "members ended by the timeout"
	el=$(( $(now_ms) - t0 ))
	(( el >= 900 && el < 5000 )) || fail "timeout 1 ended the job after $el ms"
	# jobs/N/ctl: kill one job.
	expect_write_ok "$g/ctl" "timeout 0"
	j=$(timeout 5 cat "$g/jobs/new")
	expect_write_ok "$g/jobs/$j/cmd" "sleep 60"
	expect_write_ok "$g/jobs/$j/ctl" "kill"
	expect_eq "$(get "$g/jobs/$j/status" 5 | grep -c 'signal TERM')" 3 "jobs/N kill"
}

test_group_width_never_runs_more_than_k_members_at_once()
{
	local g=$M/groups/${U}g
	connect_many p1 p2 p3 p4 p5 p6 p7
	mkdir "$g"
	echo "${U}p*" >"$g/members"
	expect_write_ok "$g/ctl" "width 2"
	expect_write_ok "$g/exec" 'echo "start $(date +%s%N)"; sleep 0.3; echo "end $(date +%s%N)"'
	get "$g/status" 20 >/dev/null
	get "$g/stdout" >"$T/out"
	# Events in time order: +1 at a start, -1 at an end; never above 2.
	awk '{ print $3, ($2 == "start" ? 1 : -1) }' "$T/out" | sort -n |
		awk '{ n += $2; if (n > max) max = n } END { print max }' >"$T/max"
	expect_eq "$(cat "$T/max")" 2 "most members running at once"
	expect_eq "$(grep -c ' start ' "$T/out")" 7 "members started"
}

test_group_member_jobs_show_under_their_contexts_jobs()
{
	local g=$M/groups/${U}g
	connect_many c1 c2
	mkdir "$g"
	echo "${U}c*" >"$g/members"
	expect_write_ok "$g/exec" "echo mine"
	get "$g/status" >/dev/null
	local n
	n=$(ls "$M/${U}c1/jobs" | grep -v new | head -n1)
	[ -n "$n" ] || fail "no job under c1/jobs"
	expect_eq "$(get "$M/${U}c1/jobs/$n/stdout")" mine "the member's own job"
	expect_eq "$(get "$M/${U}c1/jobs/$n/status")" "exit 0" "its status"
}

test_group_rmdir_while_a_job_runs_kills_it_and_wakes_readers()
{
	local g=$M/groups/${U}g t0 el
	connect_many r1 r2
	mkdir "$g"
	echo "${U}r*" >"$g/members"
	expect_write_ok "$g/exec" "echo started; sleep 60"
	bg sh -c "cat '$g/status' >'$T/st' 2>'$T/st.err'; echo \$? >'$T/st.rc'"
	bg sh -c "cat '$g/stdout' >'$T/out' 2>'$T/out.err'; echo \$? >'$T/out.rc'"
	sleep 0.5
	t0=$(now_ms)
	rmdir "$g" || fail "rmdir of a group with a running job"
	wait_until 3 "readers woken" test -s "$T/st.rc" -a -s "$T/out.rc"
	el=$(( $(now_ms) - t0 ))
	expect_eq "$(cat "$T/st.rc")" 1 "status reader's exit"
	expect_contains "$(cat "$T/st.err")" "Input/output error" "status reader"
	expect_contains "$(cat "$T/out.err")" "Input/output error" "stdout reader after its data"
	expect_contains "$(cat "$T/out")" "started" "what stdout had"
	# The members' jobs were killed; the contexts stay.
	local n
	n=$(ls "$M/${U}r1/jobs" | grep -v new | head -n1)
	expect_eq "$(get "$M/${U}r1/jobs/$n/status" 5)" "signal KILL" "r1's job"
	(( el < 3000 )) || fail "readers woke after $el ms"
}

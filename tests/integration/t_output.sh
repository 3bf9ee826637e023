# t_output.sh — job output: any amount of it in bounded memory (the
# spool, its budget, its directory), and readers told the truth about
# how it ended: EOF after a job that exited, EIO after output that was
# cut (context lost, job removed, daemon stopping, start failed).
# Memory is the daemon's VmRSS, sampled from /proc while output flows.

# --- helpers ---

# The daemon's VmRSS in KiB.
rss_kb()   # PID
{
	local k v
	while IFS=: read -r k v; do
		[ "$k" = VmRSS ] && { v=${v% kB}; echo $(( v )); return 0; }
	done <"/proc/$1/status"
	return 1
}

# Samples PID's VmRSS every 20 ms in the background (no fork per sample)
# and keeps the peak in FILE, until the test ends or PID exits.
rss_watch()   # PID FILE
{
	rss_kb "$1" >"$2"
	bg bash -c '
		peak=0
		while :; do
			r=
			while IFS=: read -r k v; do
				[ "$k" = VmRSS ] && { r=${v% kB}; r=$(( r )); break; }
			done </proc/$1/status 2>/dev/null || exit 0
			[ -n "$r" ] || exit 0
			(( r > peak )) && { peak=$r; echo "$peak" >"$2"; }
			sleep 0.02
		done' _ "$1" "$2"
}

# Fails unless the peak in FILE is at most LIMIT_MIB above BASE_KB. Not
# under AddressSanitizer (make test-asan): its quarantine keeps what is
# freed (256 MiB by default), so RSS says nothing about our own use.
expect_growth_at_most()   # FILE BASE_KB LIMIT_MIB WHAT
{
	local peak
	peak=$(cat "$1")
	echo "# $4: RSS $(( $2 / 1024 )) MiB before, peak $(( peak / 1024 )) MiB (+$(( (peak - $2) / 1024 )) MiB)"
	if grep -q libasan "/proc/$DAEMON_PID/maps" 2>/dev/null; then
		echo "# $4: the daemon runs under ASan: RSS not checked"
		return 0
	fi
	(( peak - $2 <= $3 * 1024 )) || fail "$4: RSS grew by $(( (peak - $2) / 1024 )) MiB (bound $3 MiB)"
}

# The script that prints N bytes of the test pattern, and its sha256.
pattern_cmd() { echo "yes 0123456789abcdef | head -c $1"; }
pattern_sum() { yes 0123456789abcdef | head -c "$1" | sha256sum; }

# A value of MNT/stats.
stat_of()   # KEY [MNT]
{
	field "$(get "${2:-$M}/stats")" "$1"
}

# --- bounded memory ---

# 1 GiB read while the job writes it: every byte, in order (sha256),
# and the daemon grows by at most 64 MiB. Bound: 60 s for the read.
opts_test_1GiB_of_stdout_arrives_intact_while_rss_grows_at_most_64MiB="-o output_cap=2g"
test_1GiB_of_stdout_arrives_intact_while_rss_grows_at_most_64MiB()
{
	local a=${U}a want got base t0
	connect "$a"
	want=$(pattern_sum 1073741824)
	base=$(rss_kb "$DAEMON_PID")
	rss_watch "$DAEMON_PID" "$T/peak"
	t0=$(now_ms)
	expect_write_ok "$M/$a/exec" "$(pattern_cmd 1073741824)"
	got=$(timeout 60 sha256sum <"$M/$a/stdout") || fail "reading 1 GiB of stdout failed or took over 60 s"
	echo "# 1 GiB in $(( $(now_ms) - t0 )) ms"
	expect_eq "$got" "$want" "sha256 of 1 GiB of stdout"
	expect_eq "$(get "$M/$a/status")" "exit 0" "status"
	expect_eq "$(stat -c %s "$M/$a/stdout")" 1073741824 "size of stdout"
	sleep 0.1 # a last sample
	expect_growth_at_most "$T/peak" "$base" 64 "1 GiB of stdout"
	(( $(stat_of output_spool) >= 1073741824 - 256 * 1024 )) ||
		fail "the spool holds $(stat_of output_spool) bytes, want about 1 GiB"
	# Readable again from the start, from the spool.
	expect_eq "$(timeout 60 head -c 1048576 "$M/$a/stdout" | sha256sum)" "$(pattern_sum 1048576)" \
		"the first MiB read again"
}

# Four jobs of 300 MB each, kept (the default cap keeps 256 MiB of each):
# at most 64 MiB more RSS; each keeps its head and the cap's marker.
test_four_300MB_jobs_kept_grow_rss_at_most_64MiB()
{
	local a=${U}a base j jobs=() size
	connect "$a"
	base=$(rss_kb "$DAEMON_PID")
	rss_watch "$DAEMON_PID" "$T/peak"
	for j in 1 2 3 4; do
		jobs+=("$(start_job "$a" "$(pattern_cmd 300000000)")")
	done
	for j in "${jobs[@]}"; do
		expect_eq "$(get "$M/$a/jobs/$j/status" 50)" "exit 0" "status of job $j"
	done
	sleep 0.1
	expect_growth_at_most "$T/peak" "$base" 64 "four 300 MB jobs"
	for j in "${jobs[@]}"; do
		size=$(stat -c %s "$M/$a/jobs/$j/stdout")
		(( size > 268435456 - 256 && size <= 268435456 )) || fail "job $j: stdout of $size bytes"
		expect_eq "$(timeout 10 head -c 1048576 "$M/$a/jobs/$j/stdout" | sha256sum)" \
			"$(pattern_sum 1048576)" "job $j: its first MiB"
		expect_contains "$(timeout 10 tail -c 100 "$M/$a/jobs/$j/stdout")" \
			"[mitofs: output cap of 268435456 bytes reached; the rest is dropped]" "job $j: the cap's marker"
	done
}

# A group of four contexts whose members print 8.5 MB each: the member
# jobs, the gathered stdout and the folded view all go to the spool (RSS
# +64 MiB at most), and read back right.
test_group_output_goes_to_the_spool()
{
	local g=$M/groups/${U}g base c lines=500000 bytes=8500000 p
	for c in 1 2 3 4; do
		connect "${U}m$c"
	done
	mkdir "$g"
	expect_write_ok "$g/members" "${U}m*"
	base=$(rss_kb "$DAEMON_PID")
	rss_watch "$DAEMON_PID" "$T/peak"
	expect_write_ok "$g/exec" "$(pattern_cmd $bytes)"
	timeout 60 cat "$g/stdout" >"$T/gathered" || fail "reading the gathered stdout failed"
	expect_eq "$(get "$g/status" 10 | sort)" "$(printf '%s exit 0\n' "${U}m1" "${U}m2" "${U}m3" "${U}m4")" "status"
	for c in 1 2 3 4; do
		expect_eq "$(grep -c "^${U}m$c: 0123456789abcdef\$" "$T/gathered")" $lines "lines of ${U}m$c"
	done
	expect_eq "$(wc -l <"$T/gathered")" $(( 4 * lines )) "lines in all"
	timeout 60 cat "$g/folded" >"$T/folded" || fail "reading folded failed"
	sleep 0.1
	expect_growth_at_most "$T/peak" "$base" 64 "a group's 4 x 8.5 MB"
	expect_eq "$(head -n 3 "$T/folded")" "$(printf -- '----------------\n%s\n----------------' \
		"${U}m1,${U}m2,${U}m3,${U}m4")" "folded: one block for the four"
	expect_eq "$(tail -n +4 "$T/folded" | sha256sum)" "$(pattern_sum $bytes)" "folded: the output"
}

# -o output_budget=8M: a stream that reaches it keeps exactly what fitted,
# then one marker line; the log says why; another job gets only what its
# memory window held; removing the job gives the budget back.
opts_test_output_budget_cuts_with_a_marker_and_is_given_back_at_rmdir="-o output_budget=8M"
test_output_budget_cuts_with_a_marker_and_is_given_back_at_rmdir()
{
	local a=${U}a j k l out marker="[mitofs: output budget of 8388608 bytes (-o output_budget) reached; the rest is dropped]"
	connect "$a"
	j=$(start_job "$a" "$(pattern_cmd 20000000); echo done")
	expect_eq "$(get "$M/$a/jobs/$j/status" 20)" "exit 0" "the job runs on past the budget"
	expect_eq "$(stat_of output_spool)" 8388608 "the spool holds the budget"
	expect_eq "$(head -c 8388608 "$M/$a/jobs/$j/stdout" | sha256sum)" "$(pattern_sum 8388608)" \
		"what fitted, intact"
	out=$(timeout 10 tail -c +8388609 "$M/$a/jobs/$j/stdout")
	expect_eq "$out" $'\n'"$marker" "after it: the marker, and nothing of what followed"
	expect_contains "$(snap "$M/$a/log")" "job $j stdout: output budget of 8388608 bytes (-o output_budget) reached; the rest is dropped" "the log"
	# With the budget used up, a new job keeps what its window held.
	k=$(start_job "$a" "$(pattern_cmd 1000000)")
	expect_eq "$(get "$M/$a/jobs/$k/status" 20)" "exit 0" "status of job $k"
	out=$(timeout 10 cat "$M/$a/jobs/$k/stdout" | tail -n 1)
	expect_eq "$out" "$marker" "job $k: the marker"
	# rmdir gives it back: a third job is whole.
	rmdir "$M/$a/jobs/$j" "$M/$a/jobs/$k"
	(( $(stat_of output_spool) == 0 )) || fail "the spool holds $(stat_of output_spool) bytes after rmdir"
	l=$(start_job "$a" "$(pattern_cmd 5000000)")
	expect_eq "$(get "$M/$a/jobs/$l/status" 20)" "exit 0" "status of job $l"
	expect_eq "$(timeout 10 cat "$M/$a/jobs/$l/stdout" | sha256sum)" "$(pattern_sum 5000000)" \
		"job $l after the budget came back"
}

# A spool on a full file system: the stream keeps what was written, then
# a marker with the errno, and the log says it. Bound: 20 s for the job.
test_a_full_spool_disk_cuts_output_with_a_marker_saying_ENOSPC()
{
	local small=$T/small pm=$T/mp a=${U}a out
	mkdir -p "$small" "$pm"
	mount -t tmpfs -o size=2m "${U}spool" "$small" || fail "mount tmpfs"
	TEARDOWN+=("umount -l '$small'")
	"$MITOFS" -o spool="$small" "$pm" || fail "mount $pm"
	TEARDOWN+=("fusermount3 -u '$pm' || fusermount3 -uz '$pm'")
	local M=$pm
	connect "$a"
	expect_write_ok "$pm/$a/exec" "$(pattern_cmd 5000000); echo done >&2"
	expect_eq "$(get "$pm/$a/status" 20)" "exit 0" "the job runs on"
	out=$(timeout 10 cat "$pm/$a/stdout" | tail -n 1)
	expect_eq "$out" "[mitofs: output spool: No space left on device; the rest is dropped]" "the marker"
	local size
	size=$(stat -c %s "$pm/$a/stdout")
	(( size > 1048576 && size < 2097152 + 200 )) || fail "stdout of $size bytes, want what 2 MiB held"
	expect_eq "$(head -c 1048576 "$pm/$a/stdout" | sha256sum)" "$(pattern_sum 1048576)" "its head"
	expect_contains "$(snap "$pm/$a/log")" "exec stdout: output spool: No space left on device; the rest is dropped" "the log"
	expect_eq "$(get "$pm/$a/stderr")" done "stderr is whole (it stayed in memory)"
}

# The spool's directory: under $XDG_RUNTIME_DIR/mitofs, 0700, holding no
# name while in use (the file is unnamed), gone at unmount; after a
# kill -9 it stays (empty: nothing of the output is on disk) until the
# next daemon removes it.
test_the_spool_is_a_private_directory_gone_at_unmount_and_after_a_crash()
{
	local run=$T/run pm=$T/mp a=${U}a pid dir fd
	mkdir -p "$run" "$pm"
	XDG_RUNTIME_DIR=$run "$MITOFS" "$pm" || fail "mount $pm"
	TEARDOWN+=("fusermount3 -u '$pm' || fusermount3 -uz '$pm'")
	pid=$(pgrep -o -f -- "$MITOFS $pm\$") || fail "no daemon for $pm"
	dir=$(echo "$run/mitofs/spool.$pid."*)
	[ -d "$dir" ] || fail "no spool directory $run/mitofs/spool.$pid.*: $(ls -la "$run/mitofs" 2>&1)"
	expect_eq "$(stat -c %a "$dir")" 700 "its mode"
	local M=$pm
	connect "$a"
	expect_write_ok "$pm/$a/exec" "$(pattern_cmd 3000000)"
	expect_eq "$(get "$pm/$a/status")" "exit 0" "status"
	(( $(stat_of output_spool "$pm") >= 2000000 )) || fail "nothing went to the spool: $(get "$pm/stats")"
	expect_eq "$(ls -A "$dir")" "" "names in the spool directory"
	fd=$(for f in /proc/$pid/fd/*; do readlink "$f"; done | grep -F "$dir/") ||
		fail "the daemon has no file open in $dir"
	expect_match "$fd" '\(deleted\)$' "the spool file"
	timeout 10 fusermount3 -u "$pm" || fail "unmount"
	wait_until 5 "the daemon to exit" eval "! alive $pid"
	[ ! -e "$dir" ] || fail "$dir is left after unmount"
	# A crash: the directory stays, empty, until the next daemon.
	XDG_RUNTIME_DIR=$run "$MITOFS" "$pm" || fail "mount $pm again"
	pid=$(pgrep -o -f -- "$MITOFS $pm\$") || fail "no daemon for $pm"
	connect "$a"
	expect_write_ok "$pm/$a/exec" "$(pattern_cmd 3000000)"
	expect_eq "$(get "$pm/$a/status")" "exit 0" "status"
	dir=$(echo "$run/mitofs/spool.$pid."*)
	kill -9 "$pid"
	wait_until 5 "the daemon to die" eval "! alive $pid"
	fusermount3 -u "$pm" 2>/dev/null || fusermount3 -uz "$pm"
	expect_eq "$(ls -A "$dir")" "" "what a killed daemon's spool directory holds"
	XDG_RUNTIME_DIR=$run "$MITOFS" "$pm" || fail "mount $pm a third time"
	[ ! -e "$dir" ] || fail "the next daemon left $dir"
}

# --- EIO, not EOF, when output was cut ---

# rmdir of a running job: its readers get every byte, then EIO; a job
# that ends by itself (even by a signal) gives EOF.
test_rmdir_of_a_running_job_ends_its_stdout_with_EIO_after_the_data()
{
	local a=${U}a j k
	connect "$a"
	j=$(start_job "$a" 'echo first; exec sleep 60')
	expect_eq "$(timeout 5 head -n1 "$M/$a/jobs/$j/stdout")" first "the job started"
	bg sh -c 'cat "$1" >"$2.out" 2>"$2.err"; echo $? >"$2.rc"' _ "$M/$a/jobs/$j/stdout" "$T/r"
	sleep 0.3 # the reader waits in the daemon
	rmdir "$M/$a/jobs/$j"
	wait_until 3 "the reader to end" test -s "$T/r.rc"
	expect_eq "$(cat "$T/r.out")" first "what the reader got"
	expect_eq "$(cat "$T/r.rc")" 1 "cat's exit code"
	expect_contains "$(cat "$T/r.err")" "Input/output error" "cat's error"
	# The contrast: killed by a signal is an end of its own, EOF.
	k=$(start_job "$a" 'echo second; exec sleep 60')
	expect_eq "$(timeout 5 head -n1 "$M/$a/jobs/$k/stdout")" second "the second job started"
	bg sh -c 'cat "$1" >"$2.out" 2>"$2.err"; echo $? >"$2.rc"' _ "$M/$a/jobs/$k/stdout" "$T/s"
	sleep 0.3
	expect_write_ok "$M/$a/jobs/$k/ctl" 'kill TERM'
	wait_until 3 "the second reader to end" test -s "$T/s.rc"
	expect_eq "$(cat "$T/s.rc")/$(cat "$T/s.out")" "0/second" "cat of a job ended by a signal"
}

# SIGTERM to the daemon while a reader follows a job's stdout: the reader
# gets what arrived, then EIO (not EOF, not ENOTCONN). Bound: 3 s.
test_daemon_stopping_ends_stdout_readers_with_EIO_after_the_data()
{
	local pm=$T/mp a=${U}a pid t0
	mkdir -p "$pm"
	"$MITOFS" "$pm" || fail "mount $pm"
	TEARDOWN+=("fusermount3 -u '$pm' || fusermount3 -uz '$pm'")
	pid=$(pgrep -o -f -- "$MITOFS $pm\$") || fail "no daemon for $pm"
	local M=$pm
	connect "$a"
	expect_write_ok "$pm/$a/exec" 'echo partial; exec sleep 60'
	expect_eq "$(timeout 5 head -n1 "$pm/$a/stdout")" partial "the job started"
	bg sh -c 'cat "$1" >"$2.out" 2>"$2.err"; echo $? >"$2.rc"' _ "$pm/$a/stdout" "$T/r"
	sleep 0.3
	t0=$(now_ms)
	kill -TERM "$pid"
	wait_until 3 "the reader to end" test -s "$T/r.rc"
	echo "# reader ended after $(( $(now_ms) - t0 )) ms"
	expect_eq "$(cat "$T/r.out")" partial "what the reader got"
	expect_eq "$(cat "$T/r.rc")" 1 "cat's exit code"
	expect_contains "$(cat "$T/r.err")" "Input/output error" "cat's error"
	wait_until 5 "the daemon to exit" eval "! alive $pid"
}

# An exec whose start never came back (the stub stopped, then killed):
# the write fails with EIO, and stdout is EIO too, not an empty success
# (issue 14).
test_stdout_of_an_exec_that_failed_to_start_is_EIO()
{
	local a=${U}a pid
	connect "$a"
	pid=$(stub_pid "$a")
	kill -STOP "$pid"
	# cat, not the shell's printf: it reports an error of close(2).
	printf 'echo never\n' >"$T/cmd"
	bg sh -c 'cat "$1" >"$2" 2>"$3.err"; echo $? >"$3.rc"' _ "$T/cmd" "$M/$a/exec" "$T/w"
	sleep 0.3 # the start waits for the stopped stub
	kill -9 "$pid"
	wait_until 3 "the exec write to fail" test -s "$T/w.rc"
	expect_eq "$(cat "$T/w.rc")" 1 "the exec write's exit code"
	expect_contains "$(cat "$T/w.err")" "Input/output error" "its error"
	rd "$M/$a/stdout" 3
	expect_eq "$ERRNO/$OUT" EIO/ "stdout of the job that never started"
	rd "$M/$a/status" 3
	expect_eq "$ERRNO" EIO "its status"
}

# rmdir of a job whose start has not come back yet (its stub stopped):
# a reader of its stdout ends with EIO at once, and once the stub goes
# on, the job it started is stopped there, not left running.
test_rmdir_of_a_starting_job_ends_readers_with_EIO_and_stops_it()
{
	local a=${U}a pid j
	connect "$a"
	pid=$(stub_pid "$a")
	j=$(new_job "$a")
	kill -STOP "$pid"
	printf 'exec sleep 60 # %sstarting\n' "$U" >"$T/cmd"
	bg sh -c 'cat "$1" >"$2" 2>"$3.err"; echo $? >"$3.rc"' _ "$T/cmd" "$M/$a/jobs/$j/cmd" "$T/w"
	bg sh -c 'cat "$1" >"$2.out" 2>"$2.err"; echo $? >"$2.rc"' _ "$M/$a/jobs/$j/stdout" "$T/r"
	sleep 0.3 # both wait: the start for the stub, the reader for output
	rmdir "$M/$a/jobs/$j"
	wait_until 2 "the reader to end" test -s "$T/r.rc"
	expect_contains "$(cat "$T/r.err")" "Input/output error" "the reader's error"
	kill -CONT "$pid"
	wait_until 3 "the cmd write to return" test -s "$T/w.rc"
	wait_until 3 "the job to be stopped on its host" eval "! pgrep -f '${U}starting' >/dev/null"
	expect_eq "$(field "$(get "$M/$a/info")" state)" connected "the context"
}

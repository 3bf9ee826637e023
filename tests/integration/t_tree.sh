# t_tree.sh — the mount tree itself: static files, modes, logs.

test_readme_and_stats_are_readable()
{
	local text
	expect_eq "$(ls "$M" | sort | tr '\n' ' ')" "README ctl groups log stats " "root listing"
	text=$(get "$M/README")
	expect_contains "$text" "connect NAME local" "README"
	expect_eq "$(stat -c %s "$M/README")" "$(printf '%s\n' "$text" | wc -c)" "README size"
	text=$(get "$M/stats")
	expect_eq "$(field "$text" contexts)" 0 "contexts before any connect"
	local k
	for k in contexts contexts_connected routes streams handles msgs_routed bytes_routed; do
		expect_match "$(field "$text" "$k")" '^[0-9]+$' "stats field $k"
	done
	connect "${U}a"
	connect "${U}a/${U}b"
	text=$(get "$M/stats")
	expect_eq "$(field "$text" contexts)" 2 "contexts"
	expect_eq "$(field "$text" contexts_connected)" 2 "contexts_connected"
	(( $(field "$text" msgs_routed) + $(field "$text" msgs_local) > 0 )) || fail "no messages counted: $text"
}

test_writes_to_read_only_files_are_EACCES()
{
	local a=${U}a j f
	connect "$a"
	expect_write_ok "$M/$a/exec" 'echo x'
	j=$(start_job "$a" 'echo y')
	get "$M/$a/jobs/$j/status" >/dev/null
	for f in README stats log "$a/info" "$a/stdout" "$a/stderr" "$a/status" "$a/log" \
		"$a/jobs/new" "$a/jobs/$j/stdout" "$a/jobs/$j/stderr" "$a/jobs/$j/status"; do
		expect_write_errno EACCES "$M/$f" 'echo nope'
		# Appending is writing too.
		local out
		out=$( { echo nope >>"$M/$f"; } 2>&1 ) && fail "append to $f succeeded"
		expect_eq "$(errno_name "$out")" EACCES "append to $f"
	done
	# Nothing new was made by opening jobs/new for writing.
	expect_eq "$(ls "$M/$a/jobs" | sort | tr '\n' ' ')" "$j new " "jobs/ after the writes"
	expect_eq "$(get "$M/$a/stdout")" x "stdout unchanged"
}

test_reads_of_write_only_files_are_EACCES()
{
	local a=${U}a j f
	connect "$a"
	j=$(new_job "$a")
	for f in "$a/exec" "$a/jobs/$j/cmd" "$a/jobs/$j/stdin"; do
		rd "$M/$f" 3
		expect_eq "$ERRNO" EACCES "read of $f"
	done
	# Modes say so.
	expect_eq "$(stat -c %A "$M/$a/exec")" "--w-------" "mode of exec"
	expect_eq "$(stat -c %A "$M/$a/info")" "-r--------" "mode of info"
	expect_eq "$(stat -c %A "$M/$a/ctl")" "-rw-------" "mode of ctl"
	expect_eq "$(stat -c %A "$M/$a")" "drwx------" "mode of the context directory"
	expect_eq "$(stat -c %A "$M/$a/jobs/$j/stdin")" "--w-------" "mode of stdin"
	# The job was not started by any of this.
	expect_write_ok "$M/$a/jobs/$j/cmd" 'echo started'
	expect_eq "$(get "$M/$a/jobs/$j/stdout")" started "job stdout"
}

# access(2) says what open(2) will do, for root too: the daemon checks
# the modes (the mount has no default_permissions, under which root's
# access(W_OK) of a read-only file would say yes and the open EACCES).
test_access_of_control_files_follows_their_modes()
{
	local a=${U}a j
	connect "$a"
	j=$(new_job "$a")
	[ -r "$M/$a/ctl" ] && [ -w "$M/$a/ctl" ] || fail "ctl not rw by access(2)"
	[ -r "$M/$a/info" ] || fail "info not readable by access(2)"
	[ -w "$M/$a/info" ] && fail "info writable by access(2)"
	[ -w "$M/README" ] && fail "README writable by access(2)"
	[ -w "$M/$a/exec" ] || fail "exec not writable by access(2)"
	[ -r "$M/$a/exec" ] && fail "exec readable by access(2)"
	[ -r "$M/$a/jobs/$j/stdin" ] && fail "stdin readable by access(2)"
	[ -x "$M/$a/ctl" ] && fail "ctl executable by access(2)"
	[ -x "$M/$a" ] && [ -r "$M/$a/jobs" ] || fail "directories not rx by access(2)"
	cd "$M/$a/jobs" || fail "cd into jobs"
	cd / || true
}

# (mkdir and rmdir of a context directory connect and disconnect it:
# t_mkdir.sh.)
test_tree_refuses_mkdir_elsewhere_unlink_create_and_rename()
{
	local a=${U}a out
	connect "$a"
	out=$(mkdir "$M/$a/jobs/${U}new" 2>&1) && fail "mkdir in jobs/ succeeded"
	expect_eq "$(errno_name "$out")" EPERM "mkdir in jobs/"
	out=$(rm -f "$M/$a/info" 2>&1) && fail "rm succeeded"
	expect_eq "$(errno_name "$out")" EPERM "unlink"
	out=$(rm -f "$M/$a/fs" 2>&1) && fail "rm of the fs link succeeded"
	expect_eq "$(errno_name "$out")" EPERM "unlink of fs"
	out=$( { : >"$M/${U}newfile"; } 2>&1 ) && fail "creating a file succeeded"
	expect_eq "$(errno_name "$out")" EPERM "create"
	out=$(mv "$M/$a/info" "$M/$a/info2" 2>&1) && fail "rename succeeded"
	expect_eq "$(errno_name "$out")" EPERM "rename"
	expect_eq "$(field "$(get "$M/$a/info")" state)" connected "the context after all that"
}

test_tail_f_on_log_shows_a_new_context()
{
	local a=${U}a b=${U}b
	connect "$a"
	bg sh -c 'exec tail -n 0 -s 0.1 -f "$1" >"$2"' _ "$M/log" "$T/tail"
	sleep 0.3
	connect "$b"
	wait_until 5 "'$b: connected' in tail -f of log" grep -q "^$b: connected" "$T/tail"
	[[ $(cat "$T/tail") != *"$a: connected"* ]] || fail "tail -n 0 showed an old line: $(cat "$T/tail")"
	# A job's stderr reaches the logs too.
	expect_write_ok "$M/$b/exec" 'echo complaint-xyz >&2'
	wait_until 5 "job stderr in tail -f of log" grep -q "^$b: .*complaint-xyz" "$T/tail"
	expect_contains "$(snap "$M/$b/log")" complaint-xyz "the context's own log"
	# Nested contexts log under their path.
	connect "$b/$a"
	wait_until 5 "'$b/$a: connected' in log" grep -q "^$b/$a: connected" "$T/tail"
}

test_log_follows_until_interrupted_and_keeps_old_lines()
{
	local a=${U}a rc=0 out
	connect "$a"
	# cat log does not end by itself.
	out=$(timeout 1 cat "$M/log") || rc=$?
	expect_eq "$rc" 124 "exit code of timeout 1 cat log"
	expect_contains "$out" "mounted on $M" "first log line"
	expect_contains "$out" "$a: connected" "connect line"
	# The context's own log has the same line without the prefix.
	out=$(snap "$M/$a/log")
	expect_match "$out" "^connected \\(id [0-9]+" "the context's log"
}

test_every_root_log_line_names_its_context()
{
	local a=${U}a b=${U}b line bad=
	connect "$a"
	connect "$b"
	# Several lines of stderr in one write, and from two contexts at once.
	expect_write_ok "$M/$a/exec" "printf 'a-l1\\na-l2\\na-l3\\n' >&2; sleep 0.2; echo a-l4 >&2; echo a-l5 >&2"
	expect_write_ok "$M/$b/exec" "printf 'b-l1\\nb-l2\\n' >&2"
	get "$M/$a/status" >/dev/null
	get "$M/$b/status" >/dev/null
	local log
	log=$(snap "$M/log")
	for line in a-l1 a-l2 a-l3 a-l4 a-l5; do
		grep -q "^$a: .*$line\$" <<<"$log" || bad+=" $line"
	done
	for line in b-l1 b-l2; do
		grep -q "^$b: .*$line\$" <<<"$log" || bad+=" $line"
	done
	[ -z "$bad" ] || fail "root log lines without their context's prefix:$bad; log: $log"
	while IFS= read -r line; do
		[[ $line == "mitofs: "* || $line == "$a: "* || $line == "$b: "* ]] ||
			fail "root log line without a prefix: '$line'"
	done <<<"$log"
	# The context's own log has one line per stderr line too.
	expect_eq "$(snap "$M/$a/log" | grep -c 'a-l[0-9]')" 5 "stderr lines in $a/log"
}

opts_test_log_cap_drops_the_oldest_lines_and_says_so="-o log_cap=8K"
test_log_cap_drops_the_oldest_lines_and_says_so()
{
	local a=${U}a out rc=0
	connect "$a"
	expect_write_ok "$M/$a/exec" 'for i in $(seq 1 300); do echo "line-$i-$(printf %060d 0)" >&2; done'
	get "$M/$a/status" >/dev/null
	# The log follows: read what there is for a second.
	out=$(timeout 1 cat "$M/$a/log") || rc=$?
	expect_eq "$rc" 124 "cat of a live context's log follows"
	expect_contains "$out" "[mitofs: older lines were dropped here]" "gap marker"
	expect_contains "$out" "line-300-" "newest line"
	[[ $out != *"line-1-"* ]] || fail "the oldest line was kept past the cap"
	(( ${#out} < 3 * 8192 )) || fail "log kept ${#out} bytes with log_cap=8K"
	out=$(timeout 1 cat "$M/log") || rc=$?
	expect_contains "$out" "[mitofs: older lines were dropped here]" "gap marker in the root log"
	expect_contains "$out" "line-300-" "newest line in the root log"
}

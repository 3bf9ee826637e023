# t_browse.sh — a mount that is safe to browse: ls and completion see
# NAME/fs, recursive tools (find, grep -r, du, tree) neither walk into
# every host's filesystem nor leave anything behind, and no read they make
# waits for ever.

# The short grace for clones never started, so that the tests can watch
# them go.
opts_test_grep_r_over_three_contexts_reports_only_write_only_files_and_leaves_no_job="-o clone_grace=1"
opts_test_a_clone_never_started_goes_after_its_grace_unless_held_or_started="-o clone_grace=1"
opts_test_groups_are_safe_to_browse_too="-o clone_grace=1"

# Three contexts, one nested, with an ended job, a running one and a
# clone started with cmd: what a recursive tool meets on a live mount.
three_contexts()
{
	A=${U}a B=${U}b C=${U}a/${U}c
	connect "$A"
	connect "$B"
	connect "$C"
	expect_write_ok "$M/$A/exec" 'echo done'
	get "$M/$A/status" >/dev/null
	expect_write_ok "$M/$B/exec" 'sleep 30'
	RUNNING=$(start_job "$C" 'echo begun; sleep 30')
}

test_fs_is_listed_as_a_symlink_that_cd_ls_and_paths_follow()
{
	local a=${U}a
	connect "$a"
	expect_eq "$(ls "$M/$a" | tr '\n' ' ')" "ctl exec fs info jobs log status stderr stdout " "ls NAME"
	expect_eq "$(stat -c %F "$M/$a/fs")" "symbolic link" "lstat of fs"
	expect_eq "$(readlink "$M/$a/fs")" ".fs" "its target"
	expect_eq "$(stat -L -c %F "$M/$a/fs")" directory "stat through it"
	# What completion and cd do: the path resolves to the context's /.
	[ -d "$M/$a/fs/" ] || fail "fs/ is not a directory through the link"
	expect_eq "$(ls "$M/$a/fs/" | grep -c '^etc$')" 1 "ls fs/ lists the target's /"
	expect_eq "$(cd "$M/$a/fs/etc" && pwd -P)" "$M/$a/.fs/etc" "cd into it"
	expect_eq "$(head -c 5 "$M/$a/fs/etc/hostname")" "$(head -c 5 /etc/hostname)" "a file through it"
	# bash's completion of "$M/$a/f" offers fs, as a directory.
	expect_eq "$(cd "$M/$a" && compgen -d -- f)" fs "directory completion"
	# .fs is a reserved name, and readdir never lists it.
	expect_write_errno EINVAL "$M/ctl" "connect .fs local"
	[[ $(ls -a "$M/$a") != *.fs* ]] || fail "ls -a lists .fs: $(ls -a "$M/$a")"
}

test_find_du_and_tree_stop_at_fs_and_finish_quickly()
{
	three_contexts
	local t0 out n
	t0=$(now_ms)
	out=$(timeout 20 find "$M" 2>"$T/find.err") || fail "find: exit $?: $(cat "$T/find.err")"
	expect_eq "$(cat "$T/find.err")" "" "find's errors"
	n=$(wc -l <<<"$out")
	(( n < 100 )) || fail "find printed $n paths: it walked into fs/"
	grep -q "/$A/fs\$" <<<"$out" || fail "find did not list $A/fs"
	grep -q "/fs/\|/\.fs" <<<"$out" && fail "find went below fs: $(grep '/fs/\|\.fs' <<<"$out" | head -3)"
	timeout 20 du -s "$M" >/dev/null 2>"$T/du.err" || fail "du: $(cat "$T/du.err")"
	expect_eq "$(cat "$T/du.err")" "" "du's errors"
	out=$(timeout 20 tree "$M" 2>&1) || fail "tree: $out"
	expect_contains "$out" "fs -> .fs" "tree shows the link"
	(( $(wc -l <<<"$out") < 100 )) || fail "tree walked into fs/"
	(( $(now_ms) - t0 < 10000 )) || fail "find, du and tree took $(( $(now_ms) - t0 )) ms"
	# The same path with a slash is the way in, for who wants it.
	timeout 20 find "$M/$A/fs/etc/" -maxdepth 0 -type d | grep -q . || fail "find fs/etc/"
}

# grep -r reads every file it finds (with O_NONBLOCK): the logs, a
# running job's stdout and status, a status with no job, jobs/new. It
# must finish, print no error but EACCES for the write-only files, and
# leave no job behind once the clone's grace (1 s here) has passed.
test_grep_r_over_three_contexts_reports_only_write_only_files_and_leaves_no_job()
{
	three_contexts
	local t0 rc=0 err bad jobs_before
	jobs_before="$(ls "$M/$A/jobs" "$M/$B/jobs" "$M/$C/jobs" | tr '\n' ' ')"
	t0=$(now_ms)
	timeout 20 grep -r -- begun "$M" >"$T/grep.out" 2>"$T/grep.err" || rc=$?
	(( rc != 124 )) || fail "grep -r did not finish in 20 s"
	(( $(now_ms) - t0 < 10000 )) || fail "grep -r took $(( $(now_ms) - t0 )) ms"
	expect_contains "$(cat "$T/grep.out")" "$C/jobs/$RUNNING/stdout:begun" "grep found the running job's line"
	err=$(cat "$T/grep.err")
	[ -n "$err" ] || fail "no EACCES at all: were the write-only files read?"
	bad=$(grep -v -E '/(exec|cmd|stdin): Permission denied$' "$T/grep.err" || true)
	expect_eq "$bad" "" "grep's errors other than EACCES of write-only files"
	grep -q "/$A/exec: Permission denied" "$T/grep.err" || fail "no EACCES for $A/exec: $err"
	# It opened jobs/new of each context: the clones go after the grace.
	sleep 1.5
	expect_eq "$(ls "$M/$A/jobs" "$M/$B/jobs" "$M/$C/jobs" | tr '\n' ' ')" "$jobs_before" "jobs/ after grep -r"
	expect_contains "$(snap "$M/log")" "never started, removed 1 s after its last close" "the log says so"
	# A second grep -r finds the same, without a job left either.
	timeout 20 grep -r -- begun "$M" >/dev/null 2>"$T/grep2.err" || true
	bad=$(grep -v -E '/(exec|cmd|stdin): Permission denied$' "$T/grep2.err" || true)
	expect_eq "$bad" "" "second grep's errors"
}

test_a_clone_never_started_goes_after_its_grace_unless_held_or_started()
{
	local a=${U}a j k h
	connect "$a"
	# Held open (a script that keeps the clone's descriptor): it stays.
	exec {h}<"$M/$a/jobs/new"
	read -r j <&"$h"
	sleep 1.5
	[ -d "$M/$a/jobs/$j" ] || fail "jobs/$j went while its clone was open"
	exec {h}<&-
	wait_until 3 "jobs/$j to go after its clone's close" test ! -e "$M/$a/jobs/$j"
	# Written within the grace: it runs and stays.
	k=$(new_job "$a")
	expect_write_ok "$M/$a/jobs/$k/cmd" 'echo kept'
	sleep 1.5
	expect_eq "$(get "$M/$a/jobs/$k/stdout")" kept "a started job stays"
	# A file of it open (a reader of stdout) keeps it too, and the
	# grace starts again at that file's close.
	j=$(new_job "$a")
	exec {h}<"$M/$a/jobs/$j/ctl"
	sleep 1.5
	[ -d "$M/$a/jobs/$j" ] || fail "jobs/$j went while one of its files was open"
	exec {h}<&-
	wait_until 3 "jobs/$j to go after the last close" test ! -e "$M/$a/jobs/$j"
	# Once gone, its number is not handed out again.
	[ "$(new_job "$a")" -gt "$j" ] || fail "a number was reused"
}

# No read a recursive tool makes waits for ever: a status of a job that
# never started answers at once, and with O_NONBLOCK a read at the end
# of what is there (a log, a running job's output and status) is EOF.
test_reads_that_cannot_be_answered_yet_never_wait_for_a_nonblocking_reader()
{
	local a=${U}a j
	connect "$a"
	j=$(new_job "$a")
	rd "$M/$a/jobs/$j/status" 3
	expect_eq "$ERRNO" ENODATA "status of a job never started"
	rd "$M/$a/status" 3
	expect_eq "$ERRNO" ENODATA "status before any exec"
	expect_write_ok "$M/$a/exec" 'echo part; sleep 30'
	wait_until 5 "output" test -s "$M/$a/stdout"
	python3 - "$M/$a" "$M/log" "$j" <<'EOF' || fail "non-blocking reads"
import os, sys, time
d, log, j = sys.argv[1], sys.argv[2], sys.argv[3]
def whole(path):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    out, t0 = b"", time.time()
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        out += b
    os.close(fd)
    if time.time() - t0 > 2:
        sys.exit(f"{path}: took {time.time() - t0:.1f} s")
    return out
assert whole(d + "/stdout") == b"part\n", whole(d + "/stdout")
assert whole(d + "/status") == b"", "status of a running job"
assert whole(d + f"/jobs/{j}/status") == b"", "status of a job never started"
assert b"connected" in whole(log), "the root log"
assert b"connected" in whole(d + "/log"), "the context's log"
EOF
	# A blocking reader still waits for the end.
	rd "$M/$a/status" 0.5
	expect_eq "$ERRNO" TIMEOUT "a blocking status of the running job"
}

test_groups_are_safe_to_browse_too()
{
	local a=${U}a g=$M/groups/${U}g
	connect "$a"
	mkdir "$g"
	echo "$a" >"$g/members"
	mkdir "$M/groups/${U}empty"
	timeout 20 grep -r -- nothing "$M/groups" >/dev/null 2>"$T/grep.err" || true
	local bad
	bad=$(grep -v -E '/(exec|cmd|stdin): Permission denied$' "$T/grep.err" || true)
	expect_eq "$bad" "" "grep's errors other than EACCES of write-only files"
	rd "$g/status" 3
	expect_eq "$ERRNO" ENODATA "a group's status before any exec"
	sleep 1.5
	expect_eq "$(ls "$g/jobs" | tr '\n' ' ')" "new " "the group's jobs/ after grep -r"
	expect_eq "$(ls "$M/groups/${U}empty/jobs" | tr '\n' ' ')" "new " "the empty group's jobs/"
	local j
	j=$(timeout 5 cat "$g/jobs/new")
	rd "$g/jobs/$j/status" 3
	expect_eq "$ERRNO" ENODATA "a group job never started"
	expect_write_ok "$g/jobs/$j/cmd" 'echo ok'
	expect_eq "$(get "$g/jobs/$j/status")" "$a exit 0" "started within the grace, it runs"
}

# t_daemon.sh — the daemon process: signals, its death, privacy of the mount.

daemon_pid()
{
	alive "$DAEMON_PID" || fail "daemon $DAEMON_PID of $M is not running"
	echo "$DAEMON_PID"
}

mounted()
{
	local dev mnt rest
	while read -r dev mnt rest; do
		[ "$mnt" = "$M" ] && return 0
	done </proc/self/mounts
	return 1
}

# Pids, not zombies, of session SID other than PID itself.
session_members()   # SID
{
	ps -e -o pid=,sid=,stat=,args= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ && $1 != s'
}

test_sigterm_to_the_daemon_unmounts_and_stops_everything()
{
	local a=${U}a b=${U}b dpid
	connect "$a"
	connect "$a/$b"
	expect_write_ok "$M/$a/exec" 'sleep 311 & sleep 312'
	start_job "$a/$b" 'sleep 313' >/dev/null
	dpid=$(daemon_pid)
	kill -TERM "$dpid"
	wait_until 5 "the daemon to exit after SIGTERM" eval '! alive '"$dpid"
	mounted && fail "$M still mounted after the daemon exited on SIGTERM"
	local left
	left=$(session_members "$dpid")
	[ -z "$left" ] || fail "left after SIGTERM: $left"
}

test_sigkill_of_the_daemon_stops_stubs_and_jobs()
{
	local a=${U}a b=${U}b dpid
	connect "$a"
	connect "$a/$b"
	expect_write_ok "$M/$a/exec" 'sleep 321 & sleep 322'
	start_job "$a/$b" 'sleep 323' >/dev/null
	dpid=$(daemon_pid)
	kill -KILL "$dpid"
	wait_until 5 "the stubs to exit after the daemon was killed" \
		eval '[ -z "$(live_pgrep -f "mitofs:$U")" ]'
	local i left
	for i in $(seq 1 40); do
		left=$(session_members "$dpid")
		[ -z "$left" ] && break
		sleep 0.05
	done
	[ -z "$left" ] || fail "2 s after SIGKILL of the daemon, left: $left"
	# The dead mount says so instead of hanging.
	rd "$M/README" 3
	expect_eq "$ERRNO" ENOTCONN "read of the dead mount"
}

test_mount_is_private_to_the_mounting_user()
{
	local a=${U}a out
	connect "$a"
	command -v setpriv >/dev/null || fail "setpriv (util-linux) not found"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups ls "$M" 2>&1) &&
		fail "user nobody could list the mount: $out"
	expect_eq "$(errno_name "$out")" EACCES "ls by another user"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo 'connect x local' >'$M/ctl'" 2>&1) &&
		fail "user nobody could write ctl"
	expect_eq "$(errno_name "$out")" EACCES "ctl write by another user"
	expect_eq "$(stat -c %a "$M")" 700 "mode of the mount's root"
}

test_bad_mount_options_are_refused()
{
	local d=$T/mnt2 out rc=0
	mkdir "$d"
	out=$(timeout 10 "$MITOFS" -o output_cap=12 "$d" 2>&1) || rc=$?
	(( rc != 0 )) || { fusermount3 -u "$d"; fail "output_cap=12 was accepted"; }
	expect_contains "$out" "bad option" "message for output_cap=12"
	rc=0
	out=$(timeout 10 "$MITOFS" -o nosuch=1 "$d" 2>&1) || rc=$?
	(( rc != 0 )) || { fusermount3 -u "$d"; fail "nosuch=1 was accepted"; }
	rc=0
	out=$(timeout 10 "$MITOFS" "$T/does-not-exist" 2>&1) || rc=$?
	(( rc != 0 )) || fail "a missing mount point was accepted"
	rc=0
	out=$(timeout 10 "$MITOFS" 2>&1) || rc=$?
	(( rc == 2 )) || fail "no mount point: exit $rc, want 2"
	expect_contains "$out" "usage" "message without a mount point"
}

# --help and --version answer on stdout with exit 0; make install puts a
# stripped binary and the man page, which man renders with every section
# the issue asks of it.
test_help_version_and_make_install_with_its_man_page()
{
	local out rc=0 src
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	out=$("$MITOFS" --help) || fail "--help: exit $?"
	expect_contains "$out" "usage: mitofs [-f] [-d] [-o opt[,opt...]] [SOURCE] MOUNTPOINT" "--help"
	expect_contains "$out" "-o connect=FILE" "--help lists connect="
	out=$("$MITOFS" -h) || fail "-h: exit $?"
	out=$("$MITOFS" --version) || fail "--version: exit $?"
	expect_match "$out" "^mitofs [0-9]+\.[0-9]+\.[0-9]+" "--version"
	expect_contains "$out" "FUSE library version 3." "--version names libfuse"
	out=$("$MITOFS" --nosuch 2>&1) || rc=$?
	(( rc == 2 )) || fail "--nosuch: exit $rc, want 2"
	expect_contains "$out" "mitofs --help" "--nosuch points at --help"
	[ -f "$src/Makefile" ] || fail "no source tree at $src"
	# -o: the binary under test as it is, never rebuilt here (a build
	# with sanitizers would be relinked without them).
	timeout 120 make -s -C "$src" -o "$MITOFS" install DESTDIR="$T/inst" PREFIX=/usr \
		B="$(dirname "$MITOFS")" >"$T/install.out" 2>&1 || fail "make install: $(cat "$T/install.out")"
	local bin=$T/inst/usr/bin/mitofs man=$T/inst/usr/share/man/man1/mitofs.1
	[ -x "$bin" ] || fail "no $bin"
	expect_contains "$(file "$bin")" ", stripped" "the installed binary"
	local size
	size=$(stat -c %s "$bin")
	# (A build with AddressSanitizer is bigger by its nature.)
	ldd "$MITOFS" | grep -q libasan || (( size <= 1200000 )) ||
		fail "the installed binary is $size bytes (at most 1.2 MB)"
	echo "# installed binary: $size bytes"
	"$bin" --version >/dev/null || fail "the installed binary does not run"
	[ -f "$man" ] || fail "no $man"
	out=$(MANWIDTH=80 man -l "$man" 2>"$T/man.err") || fail "man -l: $(cat "$T/man.err")"
	expect_eq "$(cat "$T/man.err")" "" "man's warnings"
	local sec
	for sec in NAME SYNOPSIS DESCRIPTION OPTIONS "THE TREE" "THE CTL LANGUAGE" EXAMPLES FILES \
		"EXIT STATUS"; do
		grep -q "^$sec\$" <<<"$out" || fail "the man page has no $sec section"
	done
	# Every -o option --help names is in the man page too.
	local o
	for o in $("$MITOFS" --help | grep -o -- '-o [a-z_]*' | cut -c4- | sort -u); do
		grep -q -- "-o $o" <<<"$out" || fail "the man page lacks -o $o"
	done
}

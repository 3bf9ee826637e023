# t_push.sh — `push SRC DST [mode=]` in a context's and a group's ctl:
# the file lands whole (temporary name, fsync, rename) with its mode,
# crosses each link once, a second push sends only its hash, and every
# failing target is named with nothing half-written left behind.
#
# Every context here runs on this machine, so all targets write the
# same DST path: what a test checks per member is its own result (ctl,
# log) and what it reads back through its own stub.

# The bytes the daemon sent on the stream of top-level context NAME.
bytes_out()   # NAME
{
	field "$(get "$M/$1/info")" bytes_out
}

# A tmpfs of the test's own at DIR (pushed copies are many and large).
tmpfs_at()   # DIR SIZE
{
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2" tmpfs "$1" || fail "mount tmpfs at $1"
	TEARDOWN+=("umount -l '$1'")
}

# Leftover temporary names of a push in DIR.
leftovers_in()   # DIR
{
	find "$1" -name '.*.mitofs-*' | wc -l
}

test_push_to_a_context_writes_the_file_with_its_mode()
{
	local a=${U}a d=$T/dst
	connect "$a"
	mkdir "$d"
	head -c 300000 /dev/urandom >"$T/src"
	chmod 751 "$T/src"
	expect_write_ok "$M/$a/ctl" "push $T/src $d/f"
	cmp -s "$T/src" "$d/f" || fail "pushed bytes differ"
	expect_eq "$(stat -c %a "$d/f")" 751 "mode taken from SRC"
	expect_write_ok "$M/$a/ctl" "push $T/src $d/f mode=0640"
	expect_eq "$(stat -c %a "$d/f")" 640 "mode=0640"
	# A relative SRC is the writer's: from its working directory.
	(cd "$T" && echo "push src $d/g" >"$M/$a/ctl") || fail "relative SRC"
	cmp -s "$T/src" "$d/g" || fail "relative SRC: bytes differ"
	# An empty file is a file too.
	: >"$T/empty"
	expect_write_ok "$M/$a/ctl" "push $T/empty $d/e"
	[ -f "$d/e" ] && [ ! -s "$d/e" ] || fail "empty file"
	# A pushed program runs with exec as usual.
	printf '#!/bin/sh\necho tool says $1\n' >"$T/tool"
	chmod 755 "$T/tool"
	expect_write_ok "$M/$a/ctl" "push $T/tool $d/tool"
	expect_write_ok "$M/$a/exec" "$d/tool hi"
	expect_eq "$(get "$M/$a/stdout")" "tool says hi" "the pushed program"
	expect_eq "$(leftovers_in "$d")" 0 "temporary names left"
}

test_push_bad_lines_and_sources_fail_with_the_reason()
{
	local a=${U}a
	connect "$a"
	mkdir "$T/d"
	expect_write_errno EINVAL "$M/$a/ctl" "push $T/x relative/path"
	expect_contains "$(get "$M/$a/ctl")" "absolute path" "relative DST"
	expect_write_errno EINVAL "$M/$a/ctl" "push onlyone"
	expect_write_errno EINVAL "$M/$a/ctl" "push $T/x $T/d/y mode=999"
	expect_write_errno EINVAL "$M/$a/ctl" "push $T/x $T/d/y owner=me"
	expect_write_errno ENOENT "$M/$a/ctl" "push $T/missing $T/d/y"
	expect_contains "$(get "$M/$a/ctl")" "$T/missing: No such file" "missing SRC"
	expect_write_errno EINVAL "$M/$a/ctl" "push $T $T/d/y"
	expect_contains "$(get "$M/$a/ctl")" "not a regular file" "a directory as SRC"
	expect_write_errno EINVAL "$M/ctl" "push $T/x $T/d/y"
	[ -z "$(ls -A "$T/d")" ] || fail "something was written: $(ls -A "$T/d")"
}

test_push_reads_src_with_the_writers_rights()
{
	local a=${U}a s
	connect "$a"
	# Sources in a directory nobody may enter (the scratch dir is not).
	s=$(mktemp -d /tmp/mitofs-push.XXXXXX)
	TEARDOWN+=("rm -rf '$s'")
	chmod 755 "$s"
	mkdir "$T/d"
	echo secret >"$s/secret"
	chmod 600 "$s/secret"
	echo open >"$s/open"
	chmod 644 "$s/open"
	# A writer that is root by euid (so the private mount lets it in)
	# but nobody by fsuid: the kernel tells the daemon uid 65534. The
	# ctl files are opened before (the mount's parent is root's 0700).
	local out
	out=$(python3 - "$M/$a/ctl" "$s" "$T" <<'EOF'
import ctypes, os, sys
ctl, s, t = sys.argv[1], sys.argv[2], sys.argv[3]
fds = [os.open(ctl, os.O_WRONLY), os.open(ctl, os.O_WRONLY)]
libc = ctypes.CDLL(None, use_errno=True)
libc.setfsgid(65534)
libc.setfsuid(65534)
def push(src, dst):
    fd = fds.pop(0)
    try:
        os.write(fd, ("push %s/%s %s/d/%s\n" % (s, src, t, dst)).encode())
        return "OK"
    except OSError as e:
        return os.strerror(e.errno)
    finally:
        os.close(fd)
print(push("secret", "s"), "|", push("open", "o"))
EOF
)
	expect_eq "$out" "Permission denied | OK" "pushes as nobody"
	expect_contains "$(get "$M/$a/ctl")" "secret: Permission denied" "reason"
	[ ! -e "$T/d/s" ] || fail "nobody pushed root's secret"
	cmp -s "$s/open" "$T/d/o" || fail "nobody's readable file was not pushed"
}

# 3.5 GiB cross pipes here (the parents' links once, their 50 children's
# links once each), all on this machine: ~15 s on 2 idle cores.
limit_test_push_64mib_to_50_members_behind_5_parents_crosses_each_link_once=180
test_push_64mib_to_50_members_behind_5_parents_crosses_each_link_once()
{
	local g=$M/groups/${U}g p c lines before after i
	tmpfs_at "$T/dst" 4g
	for p in 1 2 3 4 5; do
		connect "${U}p$p"
		lines=""
		for c in 1 2 3 4 5 6 7 8 9 10; do
			lines+="connect c$c local"$'\n'
		done
		printf '%s' "$lines" >"$T/lines"
		cat "$T/lines" >"$M/${U}p$p/ctl" || fail "children of p$p"
	done
	mkdir "$g"
	echo "${U}p*/c*" >"$g/members"
	expect_eq "$(get "$g/members" | wc -l)" 50 "members"
	head -c $(( 64 << 20 )) /dev/urandom >"$T/big"
	local sum
	sum=$(sha256sum <"$T/big" | cut -d' ' -f1)
	declare -A b0
	for p in 1 2 3 4 5; do
		b0[$p]=$(bytes_out "${U}p$p")
	done
	expect_write_ok "$g/ctl" "push $T/big $T/dst/big"
	# Each parent's link carried the file once (not ten times).
	for p in 1 2 3 4 5; do
		after=$(bytes_out "${U}p$p")
		i=$(( after - b0[$p] ))
		(( i >= (64 << 20) && i < (64 << 20) * 11 / 10 )) ||
			fail "p$p's link carried $i bytes for a 64 MiB file"
	done
	# Every member reads the same bytes back through its own stub.
	expect_write_ok "$g/exec" "sha256sum $T/dst/big"
	get "$g/stdout" 60 >"$T/sums"
	expect_eq "$(wc -l <"$T/sums")" 50 "checksum lines"
	expect_eq "$(grep -c ": $sum " "$T/sums")" 50 "members with the right checksum"
	expect_contains "$(snap "$M/log")" "to 50 targets: 0 failed" "the push's log line"
	# Again: only the hash goes down the links.
	for p in 1 2 3 4 5; do
		b0[$p]=$(bytes_out "${U}p$p")
	done
	expect_write_ok "$g/ctl" "push $T/big $T/dst/big2"
	for p in 1 2 3 4 5; do
		i=$(( $(bytes_out "${U}p$p") - b0[$p] ))
		(( i < 16384 )) || fail "the second push sent $i bytes down p$p's link"
	done
	cmp -s "$T/big" "$T/dst/big2" || fail "second push: bytes differ"
	expect_eq "$(leftovers_in "$T/dst")" 0 "temporary names left"
}

test_push_failures_are_named_per_member_and_nothing_is_half_written()
{
	local g=$M/groups/${U}g pid
	connect_many_local() { local n; for n in "$@"; do connect "${U}$n"; done; }
	connect_many_local ok1 ok2 nob
	# nob's child runs as nobody: it cannot write into a root-only dir.
	connect "${U}nob/${U}n1" sudo user=nobody
	mkdir -m 755 "$T/d"
	chmod 755 "$T"
	mkdir "$g"
	printf '%s\n' "${U}ok*" "${U}nob/*" >"$g/members"
	head -c 200000 /dev/urandom >"$T/src"
	expect_write_errno EACCES "$g/ctl" "push $T/src $T/d/f"
	local why
	why=$(get "$g/ctl")
	expect_contains "$why" "1 of 3 failed" "count"
	expect_contains "$why" "${U}nob/${U}n1: $T/d: Permission denied" "the failing member"
	[[ $why != *"${U}ok1:"* ]] || fail "a member that succeeded is named: $why"
	cmp -s "$T/src" "$T/d/f" || fail "the members that could did not get it"
	expect_eq "$(leftovers_in "$T/d")" 0 "temporary names left"
	# A member lost mid-push: its stub is stopped, then killed while
	# the others are being served. It is named; nothing half-written.
	head -c $(( 32 << 20 )) /dev/urandom >"$T/big"
	pid=$(stub_pid "${U}ok2")
	kill -STOP "$pid"
	printf '%s\n' "${U}ok*" >"$g/members"
	bg sh -c "echo 'push $T/big $T/d/big' >'$g/ctl' 2>'$T/push.err'; echo \$? >'$T/push.rc'"
	sleep 0.5
	kill -9 "$pid"
	wait_until 20 "the push to end" test -s "$T/push.rc"
	expect_eq "$(cat "$T/push.rc")" 1 "push with a lost member"
	why=$(get "$g/ctl")
	expect_contains "$why" "1 of 2 failed" "count"
	expect_contains "$why" "${U}ok2:" "the lost member is named"
	cmp -s "$T/big" "$T/d/big" || fail "ok1 did not get it whole"
	expect_eq "$(leftovers_in "$T/d")" 0 "temporary names left"
}

test_push_to_an_empty_group_is_a_clear_error()
{
	local g=$M/groups/${U}g
	mkdir "$g"
	echo x >"$T/src"
	expect_write_errno ENOENT "$g/ctl" "push $T/src $T/f"
	expect_contains "$(get "$g/ctl")" "no members" "reason"
}

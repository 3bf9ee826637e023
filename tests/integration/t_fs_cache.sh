# t_fs_cache.sh — NAME/fs/: what the daemon and the kernel keep, and how
# it stays true: hard links as one file, xattr answers from the
# attributes, names removed on the target, the read-ahead window, and
# context directories cached on every path into fs/.

# shellcheck source=fs_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/fs_lib.sh"

# Messages the daemon's router has taken in (replies from stubs).
msgs_in() { field "$(get "$M/stats")" msgs_local; }

# --- hard links ---

test_fs_hard_link_shares_the_file_and_counts_two()
{
	fs_ctx
	echo shared > "$V/a"
	ln "$V/a" "$V/b"
	expect_eq "$(stat -c %h "$R/a")" 2 "real nlink"
	expect_eq "$(stat -c %i "$R/a")" "$(stat -c %i "$R/b")" "one real inode"
	expect_eq "$(stat -c %h "$V/b")" 2 "nlink of the new name through the mount"
	expect_eq "$(stat -c %h "$V/a")" 2 "nlink of the old name through the mount"
	echo more >> "$V/b"
	expect_eq "$(cat "$V/a")" $'shared\nmore' "written through one name, read through the other"
	expect_eq "$(stat -c %s "$V/a")" 12 "size through the other name, at once"
	rm "$V/a"
	expect_eq "$(stat -c %h "$V/b")" 1 "nlink after one name went"
	expect_py_errno EEXIST "link onto an existing name" 'os.link(A[0], A[1])' "$V/b" "$V/b"
	expect_py_errno ENOENT "link of a missing file" 'os.link(A[0], A[1])' "$V/nothing" "$V/c"
}

# What find -samefile, tar, du and rsync -H rely on: the names of one
# file have one inode number (a local file system's promise).
test_fs_the_names_of_a_hard_linked_file_are_one_inode_through_the_mount()
{
	fs_ctx
	echo shared > "$V/a"
	ln "$V/a" "$V/b"
	expect_eq "$(stat -c %i "$V/b")" "$(stat -c %i "$V/a")" "a link made through the mount"
	echo other > "$R/c"
	ln "$R/c" "$R/d"
	expect_eq "$(stat -c %i "$V/d")" "$(stat -c %i "$V/c")" "a link made on the real path"
	expect_eq "$(cd "$V" && find . -samefile c | sort | paste -sd' ')" "./c ./d" "find -samefile"
	[ "$(stat -c %i "$V/a")" != "$(stat -c %i "$V/c")" ] || fail "two files share an inode number"
	# du counts a hard-linked file once, as on the real path.
	head -c 65536 /dev/zero > "$R/big"
	ln "$R/big" "$R/big2"
	expect_eq "$(du -s --apparent-size -B1 "$V" | cut -f1)" "$(du -s --apparent-size -B1 "$R" | cut -f1)" \
		"du through the mount and on the real path"
}

# Two directories that the target holds on different file systems with
# the same inode number must not look like one file (find and du take
# that for a loop): the numbers shown mix in the device.
test_fs_inode_numbers_differ_across_the_targets_file_systems()
{
	fs_ctx
	local a b
	a=$(stat -c %i /proc/self/fdinfo)
	b=$(stat -c %i "$F/proc/self/fdinfo")
	[ -n "$b" ] || fail "no inode through the mount"
	expect_eq "$(stat -c %i "$F/")" "$(stat -c %i "$F/.")" "the root, twice"
	[ "$(stat -c %i "$F/")" != "$(stat -c %i "$F/proc")" ] || fail "/ and /proc share a number"
	[ "$(stat -c %i "$F/")" != "$(stat -c %i "$M/$C")" ] || fail "fs/ shows the number of its context directory"
	: "$a"
}

# --- xattrs answered from the attributes ---

# The kernel asks for security.capability before every write(2): for a
# file known to have no xattrs the daemon answers itself, so a stream of
# writes costs one message each, not two round trips.
test_fs_writes_to_a_file_without_xattrs_cost_no_getxattr_round_trips()
{
	fs_ctx
	: > "$V/w"
	local before after
	before=$(msgs_in)
	dd if=/dev/zero of="$V/w" bs=64K count=64 conv=notrunc 2>/dev/null || fail "dd through the mount"
	after=$(msgs_in)
	expect_eq "$(stat -c %s "$R/w")" 4194304 "size on the real path"
	# 64 write acknowledgements, and a few more (open, stat...).
	(( after - before < 64 + 16 )) || fail "$((after - before)) replies for 64 writes"
}

test_fs_ls_l_of_files_without_xattrs_is_one_round_trip()
{
	fs_ctx
	local i before after
	mkdir "$R/d"
	for i in $(seq 1 50); do echo "$i" > "$R/d/f$i"; done
	before=$(msgs_in)
	ls -l "$V/d" > /dev/null || fail "ls -l"
	after=$(msgs_in)
	(( after - before < 8 )) || fail "$((after - before)) replies for ls -l of 50 files"
}

# With caching off a stat costs the round trips the kernel needs for the
# file (LOOKUP, GETATTR), not a third for its directory: the target, not
# the kernel, checks permissions in fs/ (no default_permissions, as sshfs).
test_fs_a_stat_with_caching_off_does_not_fetch_the_directory()
{
	fs_ctx
	local i before after
	echo x > "$R/f"
	cd "$V" || fail "cd $V"
	[[ -e f ]] || fail "f not there"
	before=$(msgs_in)
	for ((i = 0; i < 50; i++)); do [[ -e f ]] || fail "stat $i"; done
	after=$(msgs_in)
	cd / || true
	(( after - before <= 100 + 4 )) || fail "$((after - before)) replies for 50 stats (want 2 each)"
	(( after - before >= 50 )) || fail "$((after - before)) replies for 50 stats: caching is not off"
}
opts_test_fs_a_stat_with_caching_off_does_not_fetch_the_directory="-o attr_timeout=0"

# The answers come from what the target said with the attributes: a
# change made through the mount shows at once, one made on the target
# within the attribute timeout.
test_fs_xattrs_stay_true_through_the_answers_kept()
{
	fs_ctx
	echo x > "$R/f"
	user_xattrs_or_skip "$R/f" || return 0
	expect_py_errno ENODATA "a file without xattrs" 'os.getxattr(A[0], "user.a")' "$V/f"
	expect_py_errno OK "set through the mount, seen at once" '
os.setxattr(A[0], "user.a", b"1")
assert os.getxattr(A[0], "user.a") == b"1"
assert os.listxattr(A[0]) == ["user.a"], os.listxattr(A[0])
os.removexattr(A[0], "user.a")
assert os.listxattr(A[0]) == []
' "$V/f"
	stat "$V/f" > /dev/null
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.b", b"2")' "$R/f"
	sleep 1.2 # -o attr_timeout=1
	stat "$V/f" > /dev/null
	expect_py_errno OK "set on the target, seen after the timeout" \
		'assert os.getxattr(A[0], "user.b") == b"2"' "$V/f"
}
opts_test_fs_xattrs_stay_true_through_the_answers_kept="-o attr_timeout=1"

# `flush` drops what the daemon knows of xattrs with the kernel's
# caches: a file held open (no lookup to refresh its attributes) sees an
# xattr set on the target at once after it, not after the timeout.
test_fs_flush_drops_the_xattr_answers_kept()
{
	fs_ctx
	echo x > "$R/f"
	user_xattrs_or_skip "$R/f" || return 0
	expect_py_errno OK "kept, then dropped by flush" '
def absent(fd, why):
    try:
        os.getxattr(fd, "user.late")
        raise Exception(why)
    except OSError as e:
        if e.errno != errno.ENODATA:
            raise
fd = os.open(A[0], os.O_RDONLY)
absent(fd, "user.late is there already")
os.setxattr(A[1], "user.late", b"v")
absent(fd, "answered from the target: nothing was kept")
with open(A[2], "w") as c:
    c.write("flush\n")
assert os.getxattr(fd, "user.late") == b"v", "still the answer kept before flush"
os.close(fd)
' "$V/f" "$R/f" "$M/$C/ctl"
}
opts_test_fs_flush_drops_the_xattr_answers_kept="-o attr_timeout=3600"

test_fs_with_attr_timeout_0_every_getxattr_asks_the_target()
{
	fs_ctx
	echo x > "$R/f"
	user_xattrs_or_skip "$R/f" || return 0
	expect_py_errno ENODATA "none yet" 'os.getxattr(A[0], "user.c")' "$V/f"
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.c", b"3")' "$R/f"
	expect_py_errno OK "set on the target, seen at once" \
		'assert os.getxattr(A[0], "user.c") == b"3"' "$V/f"
}
opts_test_fs_with_attr_timeout_0_every_getxattr_asks_the_target="-o attr_timeout=0"

# Only user.*, security.* and ACL names are answered from what listxattr
# said: other names may be readable without being listed (CephFS's
# ceph.*), so they always reach the target, whose answer comes back as
# it is (ext4 or tmpfs: an unknown system.* name is EOPNOTSUPP there,
# where a cached answer would have said ENODATA).
test_fs_unlisted_xattr_names_ask_the_target()
{
	fs_ctx
	echo x > "$R/f"
	local want
	want=$(py_errno 'os.getxattr(A[0], "system.mitofs_probe")' "$R/f")
	[ "$want" != OK ] || fail "the real path has system.mitofs_probe"
	stat "$V/f" > /dev/null # its attributes (no xattrs) are cached now
	expect_py_errno "$want" "an unlisted name through the mount" \
		'os.getxattr(A[0], "system.mitofs_probe")' "$V/f"
	expect_py_errno ENODATA "a user name on a file without xattrs" \
		'os.getxattr(A[0], "user.none")' "$V/f"
}

# --- names removed on the target ---

test_fs_a_cached_name_removed_on_the_target_can_be_created_again()
{
	fs_ctx
	echo old > "$R/f"
	expect_eq "$(cat "$V/f")" old "read through the mount"
	rm "$R/f"
	# The kernel still has the name (attr_timeout): the open must not
	# fail with ENOENT on a name it is asked to create.
	echo new > "$V/f" || fail "create after the target removed the name"
	expect_eq "$(cat "$R/f")" new "created on the target"
	rm "$R/f"
	expect_py_errno ENOENT "stat of the removed name" 'os.stat(A[0])' "$V/f"
	expect_py_errno ENOENT "open of the removed name" 'open(A[0])' "$V/f"
}
opts_test_fs_a_cached_name_removed_on_the_target_can_be_created_again="-o attr_timeout=3600"

# --- small files: in the page cache when open returns ---

# A file read whole at open (up to 64 KiB) is stored in the kernel's page
# cache before the open is answered: the read that follows needs no
# request. Shown by stopping the daemon between open and read: the read
# still completes (a READ request would wait for the stopped daemon).
test_fs_a_small_files_content_is_cached_when_open_returns()
{
	fs_ctx
	head -c 5000 /dev/urandom > "$R/f"
	stat "$V/f" > /dev/null # the kernel knows its size
	local out=$T/out
	TEARDOWN+=("kill -CONT $DAEMON_PID 2>/dev/null")
	timeout -k 1 10 python3 -c '
import os, signal, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
os.kill(int(sys.argv[2]), signal.SIGSTOP)
try:
    signal.alarm(3)   # a READ to the stopped daemon would block: fail after 3 s
    data = b""
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        data += b
    signal.alarm(0)
finally:
    os.kill(int(sys.argv[2]), signal.SIGCONT)
sys.stdout.buffer.write(data)
' "$V/f" "$DAEMON_PID" > "$out" || fail "read with the daemon stopped did not complete"
	cmp -s "$out" "$R/f" || fail "content read from the page cache differs"
	# A second opener while the first is open: no store (pages may be
	# locked by its reads), still right.
	exec 7< "$V/f"
	expect_eq "$(sha256sum < "$V/f")" "$(sha256sum < "$R/f")" "a second open"
	exec 7<&-
}

# The stored pages are the content read at that open: rewritten on the
# target with the same size (the kernel's cached size still right), the
# next open reads the new bytes.
test_fs_a_small_file_rewritten_with_the_same_size_reads_new()
{
	fs_ctx
	printf aaaa > "$R/f"
	expect_eq "$(cat "$V/f")" aaaa "first read"
	printf bbbb > "$R/f"
	expect_eq "$(cat "$V/f")" bbbb "after a same-size rewrite on the target"
	printf cc > "$R/f"
	expect_eq "$(cat "$V/f")" cc "after a shorter rewrite"
	printf dddddddd > "$R/f"
	expect_eq "$(cat "$V/f")" dddddddd "after a longer rewrite"
}
opts_test_fs_a_small_file_rewritten_with_the_same_size_reads_new="-o attr_timeout=3600"

# --- the read-ahead window ---

# The bdi of this mount (MAJ:MIN) from mountinfo.
bdi_of()   # MNT
{
	awk -v m="$1" '$5 == m && / - fuse.mitofs / { d = $3 } END { print d }' /proc/self/mountinfo
}

test_fs_read_ahead_window_is_1m_by_default()
{
	local d
	d=$(bdi_of "$M")
	[ -n "$d" ] || fail "mount not in mountinfo"
	expect_eq "$(cat "/sys/class/bdi/$d/read_ahead_kb")" 1024 "read_ahead_kb"
}

test_fs_read_ahead_window_follows_the_option()
{
	expect_eq "$(cat "/sys/class/bdi/$(bdi_of "$M")/read_ahead_kb")" 4096 "read_ahead_kb"
	fs_ctx
	head -c 9000000 /dev/urandom > "$R/big"
	expect_eq "$(sha256sum < "$V/big")" "$(sha256sum < "$R/big")" "a read through the window"
}
opts_test_fs_read_ahead_window_follows_the_option="-o readahead=4M"

test_fs_read_ahead_0_keeps_the_kernels_window()
{
	expect_eq "$(cat "/sys/class/bdi/$(bdi_of "$M")/read_ahead_kb")" 128 "read_ahead_kb"
}
opts_test_fs_read_ahead_0_keeps_the_kernels_window="-o readahead=0"

# --- context directories: cached, and gone at once ---

test_a_cached_context_directory_is_gone_as_soon_as_disconnect_returns()
{
	local c=${U}gone
	connect "$c"
	stat "$M/$c" > /dev/null && stat "$M/$c/fs/tmp" > /dev/null
	connect "$c/inner"
	stat "$M/$c/inner/info" > /dev/null
	wr "$M/ctl" "disconnect $c" || fail "disconnect: $ERRNO"
	[ ! -e "$M/$c" ] || fail "$c still there after disconnect"
	[ ! -e "$M/$c/inner/info" ] || fail "$c/inner still there after disconnect"
	connect "$c"
	expect_eq "$(field "$(get "$M/$c/info")" state)" connected "the name connected again"
	wr "$M/$c/ctl" "disconnect" || fail "disconnect in its own ctl: $ERRNO"
	[ ! -e "$M/$c" ] || fail "$c still there after its own disconnect"
}

# --- the same over ssh ---

test_fs_ssh_xattrs_access_readlink_and_hard_links()
{
	fs_ssh_ctx
	echo x > "$R/f"
	ln -s f "$R/l"
	expect_eq "$(readlink "$V/l")" f "readlink over ssh"
	expect_py_errno OK "access over ssh" '
assert os.access(A[0], os.R_OK | os.W_OK)
assert not os.access(A[0], os.X_OK)
' "$V/f"
	expect_py_errno ENOENT "access of a missing file over ssh" 'os.access(A[0], os.F_OK) or os.stat(A[0])' "$V/missing"
	ln "$V/f" "$V/g"
	expect_eq "$(stat -c %i "$V/g")" "$(stat -c %i "$V/f")" "one inode number over ssh"
	echo more >> "$V/g"
	expect_eq "$(cat "$V/f")" $'x\nmore' "written through one name over ssh"
	user_xattrs_or_skip "$R/f" || return 0
	expect_py_errno ENODATA "no xattr over ssh" 'os.getxattr(A[0], "user.s")' "$V/f"
	expect_py_errno OK "xattrs over ssh" '
os.setxattr(A[0], "user.s", b"over ssh")
assert os.getxattr(A[1], "user.s") == b"over ssh"
assert os.listxattr(A[0]) == ["user.s"]
os.removexattr(A[0], "user.s")
assert os.listxattr(A[1]) == []
' "$V/f" "$R/f"
}

# -o noxattr: fs/ has no xattrs, as sshfs: every xattr call is
# EOPNOTSUPP (the kernel answers for us after the first ENOSYS), and
# everything else works as before.
test_fs_noxattr_makes_xattrs_unsupported()
{
	fs_ctx
	echo x > "$R/f"
	expect_py_errno ENOTSUP "getxattr" 'os.getxattr(A[0], "user.a")' "$V/f"
	expect_py_errno ENOTSUP "getxattr again" 'os.getxattr(A[0], "security.selinux")' "$V/f"
	expect_py_errno ENOTSUP "setxattr" 'os.setxattr(A[0], "user.a", b"1")' "$V/f"
	expect_py_errno ENOTSUP "listxattr" 'os.listxattr(A[0])' "$V/f"
	expect_py_errno ENOTSUP "removexattr" 'os.removexattr(A[0], "user.a")' "$V/f"
	expect_eq "$(ls -l "$V" | grep -c ' f$')" 1 "ls -l"
	expect_eq "$(cat "$V/f")" x "read"
}
opts_test_fs_noxattr_makes_xattrs_unsupported="-o noxattr"

# --- memory ---

# After large transfers a stub keeps what makes the next ones cheap (its
# fs reply buffer and a spare payload buffer, ~2.5 MiB); once no message
# has passed for 3 s they go back, and it is as small as a fresh one.
stub_anon_kib() { awk '/^RssAnon/{print $2}' "/proc/$1/status"; }

test_fs_a_quiet_stub_gives_its_transfer_buffers_back()
{
	fs_ctx
	local pid anon
	pid=$(stub_pid "$C")
	dd if=/dev/zero of="$V/big" bs=1M count=16 2>/dev/null || fail "write through the mount"
	echo flush > "$M/$C/ctl" && echo 3 > /proc/sys/vm/drop_caches
	cmp -s "$V/big" "$R/big" || fail "read back through the mount"
	anon=$(stub_anon_kib "$pid")
	(( anon > 1024 )) || fail "RssAnon $anon KiB after 16 MiB each way: nothing kept"
	wait_until 10 "the stub's RssAnon under 512 KiB (now $(stub_anon_kib "$pid") KiB)" \
		eval '(( $(stub_anon_kib '"$pid"') < 512 ))'
	# And the next transfer works as before.
	dd if=/dev/zero of="$V/big2" bs=1M count=4 2>/dev/null || fail "write after the trim"
	expect_eq "$(stat -c %s "$R/big2")" 4194304 "size after the trim"
}

# --- page faults: none in steady state ---

# Minor page faults of process PID so far (field 10 of its stat; the
# name before it may hold spaces, so counted from after the ')').
minflt() { awk '{ sub(/^.*\) /, ""); print $8 }' "/proc/$1/stat"; }

# One round: src read whole through the mount (after a flush: every
# byte from the target), then 8 MiB of random bytes and 8 MiB of zeros
# (sent compressed) written through it and synced.
fs_transfer_round()
{
	cmp -s "$V/src" "$R/src" || fail "read through the mount differs"
	dd if="$R/src" of="$V/rnd" bs=1M conv=fsync 2>/dev/null || fail "write of random bytes"
	dd if=/dev/zero of="$V/zero" bs=1M count=8 conv=fsync 2>/dev/null || fail "write of zeros"
}

# After a few transfers (buffers made, the heap grown) the next ones
# cost the stub and the daemon no page fault: each buffer a message
# needs is one kept from the last (the reply buffer, the write queue's,
# the spare, the message blocks, the inflater's window). A fresh mapping
# per message was ~90 faults per MiB read and ~10 per MiB written in
# the stub, each a trip through the hypervisor on a guest. 24 MiB move
# per round: fewer than 12 faults in all (in the best of three rounds)
# leaves room for a timer or a log line, not for a buffer of a message. Over ssh, where the stub's
# replies queue behind sshd and its writes come compressed (a local
# context's socket takes replies as they come, and nothing is
# compressed: it never faulted).
test_fs_ssh_reads_and_writes_in_steady_state_cost_no_page_faults()
{
	if grep -q libasan "/proc/$DAEMON_PID/maps"; then
		echo "SKIP: ASan's allocator keeps freed memory away from reuse"
		return 0
	fi
	fs_ssh_ctx
	local stub s0 d0 s1 d1
	head -c $((8 << 20)) /dev/urandom > "$R/src"
	stub=$(stub_pid "$C")
	local i
	for i in 1 2 3 4 5; do
		echo flush > "$M/$C/ctl" || fail "flush"
		fs_transfer_round
	done
	# (Outside the count: the flush runs on a thread of its own, whose
	# stack glibc gives back when it ends.)
	# The fewest of three rounds: a buffer made per message faults in
	# every round, while a queue that once grows past the mmap threshold
	# (the machine busy, the link slow to drain) faults in one only.
	local ds=() dd=()
	for i in 1 2 3; do
		echo flush > "$M/$C/ctl" || fail "flush"
		s0=$(minflt "$stub") d0=$(minflt "$DAEMON_PID")
		fs_transfer_round
		s1=$(minflt "$stub") d1=$(minflt "$DAEMON_PID")
		ds+=($((s1 - s0))) dd+=($((d1 - d0)))
	done
	echo "# page faults per round: stub ${ds[*]}, daemon ${dd[*]}"
	s1=$(printf '%s\n' "${ds[@]}" | sort -n | head -n 1)
	d1=$(printf '%s\n' "${dd[@]}" | sort -n | head -n 1)
	(( s1 < 12 )) || fail "the stub took ${ds[*]} page faults moving 24 MiB in three rounds"
	(( d1 < 12 )) || fail "the daemon took ${dd[*]} page faults moving 24 MiB in three rounds"
}

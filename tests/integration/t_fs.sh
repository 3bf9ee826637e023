# t_fs.sh — NAME/fs/: a context's whole filesystem through the mount.
# Each test works under a real directory R (in the scratch dir $T) and
# the same directory seen through the mount, V = NAME/fs$R, and compares
# the two: what is done through V must be what a local program does on R,
# and what is done on R must be what V shows. A representative subset runs
# again on an ssh context (a private sshd on loopback, as in t_ssh.sh).

# shellcheck source=fs_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/fs_lib.sh"

# renameat2(2) for python: RENAME_NOREPLACE 1, RENAME_EXCHANGE 2.
RENAMEAT2='
libc = ctypes.CDLL(None, use_errno=True)
def renameat2(a, b, flags):
    if libc.renameat2(-100, a, -100, b, flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
'

# The names of a directory as python sees them (bytes, sorted): exact
# for any byte a name may hold.
names_of()   # DIR
{
	timeout 10 python3 -c 'import os, sys; print(sorted(os.listdir(os.fsencode(sys.argv[1]))))' "$1"
}

# What stat says of a path, without the inode number and device (the
# mount has its own) and without atime (reading moves it).
attrs()   # PATH
{
	timeout 10 stat -c '%F|%s|%b|%B|%a|%u|%g|%h|%y|%z' -- "$1"
}

# --- lookup, getattr, readdir ---

test_fs_stat_through_the_mount_equals_stat_of_the_real_path_to_the_nanosecond()
{
	fs_ctx
	printf 'twelve bytes' > "$R/file"
	touch -d '2001-02-03 04:05:06.123456789' "$R/file"
	mkdir "$R/dir"
	ln -s file "$R/link"
	ln "$R/file" "$R/hard"
	chmod 0751 "$R/dir"
	chown nobody "$R/hard"
	local p
	for p in file dir link hard; do
		expect_eq "$(attrs "$V/$p")" "$(attrs "$R/$p")" "stat $p"
	done
	expect_eq "$(stat -c %y "$V/file")" "2001-02-03 04:05:06.123456789 +0000" "mtime with its nanoseconds"
	expect_eq "$(stat -c %h "$V/file")" 2 "nlink"
	# And the context's "/" is this machine's.
	expect_eq "$(attrs "$F/etc/passwd")" "$(attrs /etc/passwd)" "stat /etc/passwd"
	expect_eq "$(get "$F/etc/hostname")" "$(cat /etc/hostname)" "/etc/hostname"
	# Two lookups of one path are one inode.
	expect_eq "$(stat -c %i "$V/file")" "$(stat -c %i "$V/file")" "a stable inode"
}

test_fs_readdir_lists_odd_names_both_ways_and_ls_l_equals_the_real_ls_l()
{
	fs_ctx
	mkdir "$R/d"
	local n
	for n in plain "with space" $'new\nline' $'bad\xffbyte' ' lead' 'trail ' '*' '-dash'; do
		printf '%s' "$n" > "$R/d/$n"
	done
	mkdir "$R/d/sub dir"
	ln -s $'bad\xffbyte' "$R/d/sym"
	expect_eq "$(names_of "$V/d")" "$(names_of "$R/d")" "names through the mount"
	# Each name opens, and reads what was written under it.
	for n in plain "with space" $'new\nline' $'bad\xffbyte' ' lead' 'trail ' '*' '-dash'; do
		expect_eq "$(cat "$V/d/$n")" "$n" "content of $(printf '%q' "$n")"
	done
	expect_eq "$(readlink "$V/d/sym")" $'bad\xffbyte' "a non-UTF-8 symlink target"
	# The other way: names made through the mount are the real ones.
	for n in "m space" $'m\nnl' $'m\xfe\xfd' 'm:colon'; do
		printf '%s' "$n" > "$V/d/$n"
		[ -f "$R/d/$n" ] || fail "$(printf '%q' "$n") made through the mount is not in $R/d"
		expect_eq "$(cat "$R/d/$n")" "$n" "real content of $(printf '%q' "$n")"
	done
	mkdir "$V/d/"$'mkdir\xff'
	[ -d "$R/d/"$'mkdir\xff' ] || fail "a directory with a non-UTF-8 name"
	expect_eq "$(names_of "$V/d")" "$(names_of "$R/d")" "names after creating through the mount"
	# ls -l (readdirplus, then lstat of each entry) as on the real path.
	local want got
	want=$(cd "$R/d" && ls -lan --time-style=full-iso --quoting-style=escape)
	got=$(cd "$V/d" && timeout 10 ls -lan --time-style=full-iso --quoting-style=escape)
	expect_eq "$got" "$want" "ls -lan"
	# An empty directory lists empty, and a big one lists whole.
	mkdir "$R/empty" "$R/big"
	expect_eq "$(ls -A "$V/empty")" "" "an empty directory"
	(cd "$R/big" && seq -f 'entry-%05g-with-a-long-name-to-fill-pages' 3000 | xargs touch)
	expect_eq "$(ls "$V/big" | wc -l)" 3000 "3000 entries"
	expect_eq "$(ls "$V/big" | sha256sum)" "$(ls "$R/big" | sha256sum)" "the 3000 names"
}

# --- files ---

test_fs_write_read_append_and_overwrite_match_the_real_file()
{
	fs_ctx
	printf 'hello\n' > "$V/f"
	expect_eq "$(cat "$R/f")" hello "written through the mount"
	printf 'more\n' >> "$V/f"
	expect_eq "$(cat "$R/f")" $'hello\nmore' "appended"
	printf 'XY' | dd of="$V/f" bs=1 seek=1 conv=notrunc status=none
	expect_eq "$(cat "$R/f")" $'hXYlo\nmore' "overwritten in the middle"
	expect_eq "$(cat "$V/f")" $'hXYlo\nmore' "read back through the mount"
	printf 'written on the real path\n' > "$R/g"
	expect_eq "$(get "$V/g")" 'written on the real path' "a real file read through the mount"
	# One descriptor: pwrite, pread, seek, read, write at a hole.
	expect_py_errno OK "pread/pwrite on one fd" '
fd = os.open(A[0], os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"0123456789", 0)
assert os.pread(fd, 4, 3) == b"3456", os.pread(fd, 4, 3)
os.lseek(fd, 8, 0)
assert os.read(fd, 100) == b"89"
os.pwrite(fd, b"Z", 20)
os.close(fd)
' "$V/p"
	expect_eq "$(od -An -c "$R/p" | tr -s ' ')" "$(printf '0123456789\0\0\0\0\0\0\0\0\0\0Z' | od -An -c | tr -s ' ')" "the real bytes (a hole of zeros)"
	# Read-only and write-only opens are what they say.
	expect_py_errno EBADF "write on an O_RDONLY fd" 'fd = os.open(A[0], os.O_RDONLY); os.write(fd, b"x")' "$V/f"
	expect_py_errno EBADF "read on an O_WRONLY fd" 'fd = os.open(A[0], os.O_WRONLY); os.read(fd, 1)' "$V/f"
	# O_TRUNC empties, O_APPEND appends wherever the offset is.
	expect_py_errno OK "O_APPEND" '
fd = os.open(A[0], os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, 0)
os.write(fd, b"+tail")
os.close(fd)
' "$V/f"
	expect_eq "$(cat "$R/f")" $'hXYlo\nmore\n+tail' "O_APPEND wrote at the end"
	: > "$V/f"
	expect_eq "$(stat -c %s "$R/f")" 0 "O_TRUNC"
}

test_fs_create_with_o_excl_on_an_existing_file_is_eexist()
{
	fs_ctx
	echo there > "$R/f"
	expect_py_errno EEXIST "O_CREAT|O_EXCL on an existing file" \
		'os.open(A[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)' "$V/f"
	local out
	out=$( { set -C; echo x > "$V/f"; } 2>&1 ) && fail "set -C overwrote an existing file"
	expect_contains "$out" "cannot overwrite existing file" "set -C"
	expect_eq "$(cat "$R/f")" there "the file is untouched"
	expect_py_errno OK "O_CREAT|O_EXCL on a new name" \
		'os.close(os.open(A[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))' "$V/new"
	expect_eq "$(stat -c '%F %a %s' "$R/new")" "regular empty file 640 0" "the new file"
	expect_eq "$(attrs "$V/new")" "$(attrs "$R/new")" "its attributes through the mount"
}

test_fs_new_files_and_dirs_get_exactly_the_mode_asked_whatever_the_umask()
{
	fs_ctx
	# umask 0: what is asked is what is made (the stub's own umask must
	# not mask it again).
	expect_py_errno OK "create 0666 and mkdir 0777 under umask 0" '
os.umask(0)
os.close(os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o666))
os.mkdir(A[1], 0o777)
os.mkfifo(A[2], 0o666)
' "$V/f0" "$V/d0" "$V/p0"
	expect_eq "$(stat -c %a "$R/f0")" 666 "file mode under umask 0"
	expect_eq "$(stat -c %a "$R/d0")" 777 "dir mode under umask 0"
	expect_eq "$(stat -c %a "$R/p0")" 666 "fifo mode under umask 0"
	expect_py_errno OK "create and mkdir under umask 027" '
os.umask(0o027)
os.close(os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o666))
os.mkdir(A[1], 0o777)
' "$V/f1" "$V/d1"
	expect_eq "$(stat -c %a "$R/f1")" 640 "file mode under umask 027"
	expect_eq "$(stat -c %a "$R/d1")" 750 "dir mode under umask 027"
}

test_fs_mkdir_rmdir_and_rmdir_of_a_non_empty_dir_is_enotempty()
{
	fs_ctx
	mkdir "$V/d"
	[ -d "$R/d" ] || fail "mkdir through the mount made no real directory"
	mkdir -p "$V/a/b/c"
	[ -d "$R/a/b/c" ] || fail "mkdir -p"
	expect_py_errno EEXIST "mkdir of an existing dir" 'os.mkdir(A[0])' "$V/d"
	echo x > "$V/d/f"
	expect_py_errno ENOTEMPTY "rmdir of a non-empty dir" 'os.rmdir(A[0])' "$V/d"
	[ -f "$R/d/f" ] || fail "the file in the non-empty dir went"
	expect_py_errno ENOTDIR "rmdir of a file" 'os.rmdir(A[0])' "$V/d/f"
	rm "$V/d/f"
	rmdir "$V/d"
	[ ! -e "$R/d" ] || fail "rmdir through the mount left the real dir"
	[ ! -e "$V/d" ] || fail "the removed dir is still seen through the mount"
	rm -r "$V/a"
	[ ! -e "$R/a" ] || fail "rm -r"
	# A name can be made again after it went.
	mkdir "$V/d"
	[ -d "$R/d" ] && [ -d "$V/d" ] || fail "mkdir again after rmdir"
}

test_fs_unlink_removes_the_real_file_and_an_open_one_stays_readable()
{
	fs_ctx
	echo gone > "$V/f"
	rm "$V/f"
	[ ! -e "$R/f" ] || fail "unlink left the real file"
	expect_py_errno ENOENT "stat after unlink" 'os.stat(A[0])' "$V/f"
	expect_py_errno ENOENT "unlink of a missing file" 'os.unlink(A[0])' "$V/f"
	expect_py_errno EISDIR "unlink of a directory" 'os.mkdir(A[0]); os.unlink(A[0])' "$V/dir"
	echo "still here" > "$R/open"
	expect_py_errno OK "read an open file after its unlink" '
fd = os.open(A[0], os.O_RDONLY)
os.unlink(A[0])
assert not os.path.exists(A[1]), "the real file is still there"
assert os.read(fd, 100) == b"still here\n"
os.close(fd)
' "$V/open" "$R/open"
}

# The tmpfile pattern: open, unlink, go on using the descriptor.
test_fs_an_open_file_keeps_working_after_its_name_is_unlinked()
{
	fs_ctx
	expect_py_errno OK "fstat, pread, pwrite, ftruncate, fsync of an unlinked open file" '
fd = os.open(A[0], os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"hello")
os.unlink(A[0])
assert not os.path.exists(A[1])
st = os.fstat(fd)
assert st.st_size == 5 and st.st_nlink == 0, (st.st_size, st.st_nlink)
assert os.pread(fd, 10, 0) == b"hello"
os.pwrite(fd, b" world", 5)
assert os.pread(fd, 20, 0) == b"hello world"
assert os.fstat(fd).st_size == 11, os.fstat(fd).st_size
os.ftruncate(fd, 4)
assert os.fstat(fd).st_size == 4, os.fstat(fd).st_size
assert os.pread(fd, 20, 0) == b"hell"
os.fsync(fd)
os.close(fd)
' "$V/tmpfile" "$R/tmpfile"
	# And after a rename, the descriptor follows the file.
	expect_py_errno OK "fstat and write after a rename" '
fd = os.open(A[0], os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"abc")
os.rename(A[0], A[1])
assert os.fstat(fd).st_size == 3
os.write(fd, b"def")
os.close(fd)
assert open(A[2], "rb").read() == b"abcdef"
' "$V/before" "$V/after" "$R/after"
}

# Databases, linkers and loggers map files they opened empty (or emptied
# with O_TRUNC) and grew with ftruncate.
test_fs_a_file_opened_empty_can_be_mapped_shared_and_written_through_the_map()
{
	fs_ctx
	printf 'a%.0s' $(seq 8192) > "$R/full"
	: > "$R/empty"
	printf 'old contents' > "$R/trunc"
	local p
	for p in full empty trunc; do
		expect_py_errno OK "MAP_SHARED write to '$p'" '
import mmap
flags = os.O_RDWR | (os.O_TRUNC if A[0].endswith(b"trunc") else 0)
fd = os.open(A[0], flags)
if os.fstat(fd).st_size < 8192:
    os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[0:6] = b"MAPPED"
m.flush()
m.close()
os.close(fd)
with open(A[1], "rb") as f:
    got = f.read(6)
assert got == b"MAPPED", got
' "$V/$p" "$R/$p"
	done
}

test_fs_rename_moves_replaces_and_honours_noreplace_and_exchange()
{
	fs_ctx
	echo one > "$V/a"
	mv "$V/a" "$V/b"
	[ ! -e "$R/a" ] && [ "$(cat "$R/b")" = one ] || fail "rename a -> b"
	expect_eq "$(cat "$V/b")" one "b through the mount"
	[ ! -e "$V/a" ] || fail "a still seen through the mount"
	echo two > "$V/c"
	mv "$V/c" "$V/b"
	expect_eq "$(cat "$R/b")" two "rename over an existing file replaces it"
	# Into another directory, and a directory with its contents.
	mkdir -p "$V/d1/sub" "$V/d2"
	echo deep > "$V/d1/sub/f"
	mv "$V/b" "$V/d2/b"
	expect_eq "$(cat "$R/d2/b")" two "moved to another directory"
	mv "$V/d1" "$V/d2/moved"
	expect_eq "$(cat "$V/d2/moved/sub/f")" deep "a file below a moved directory, through the mount"
	expect_eq "$(cat "$R/d2/moved/sub/f")" deep "... and on the real path"
	echo new > "$V/d2/moved/sub/g"
	expect_eq "$(cat "$R/d2/moved/sub/g")" new "created below a moved directory"
	[ ! -e "$V/d1" ] || fail "the old directory name is still seen"
	# renameat2 flags.
	echo x > "$V/x"
	echo y > "$V/y"
	expect_py_errno EEXIST "RENAME_NOREPLACE onto an existing name" "$RENAMEAT2"'
renameat2(A[0], A[1], 1)' "$V/x" "$V/y"
	expect_eq "$(cat "$R/x") $(cat "$R/y")" "x y" "nothing moved"
	expect_py_errno OK "RENAME_NOREPLACE onto a new name" "$RENAMEAT2"'
renameat2(A[0], A[1], 1)' "$V/x" "$V/z"
	expect_eq "$(cat "$R/z")" x "moved by RENAME_NOREPLACE"
	expect_py_errno OK "RENAME_EXCHANGE" "$RENAMEAT2"'
renameat2(A[0], A[1], 2)' "$V/y" "$V/z"
	expect_eq "$(cat "$R/y") $(cat "$R/z")" "x y" "exchanged on the real path"
	expect_eq "$(cat "$V/y") $(cat "$V/z")" "x y" "exchanged through the mount"
	expect_py_errno ENOENT "RENAME_EXCHANGE with a missing name" "$RENAMEAT2"'
renameat2(A[0], A[1], 2)' "$V/y" "$V/nothing"
	# A directory onto a non-empty directory.
	mkdir -p "$V/e1" "$V/e2/full"
	expect_py_errno ENOTEMPTY "rename onto a non-empty directory" 'os.rename(A[0], A[1])' "$V/e1" "$V/e2"
	expect_py_errno EISDIR "a file onto a directory" 'os.rename(A[0], A[1])' "$V/y" "$V/e1"
	expect_py_errno ENOENT "rename of a missing name" 'os.rename(A[0], A[1])' "$V/nothing" "$V/else"
	# An inode keeps its number across a rename (its record moved).
	local ino
	ino=$(stat -c %i "$V/y")
	mv "$V/y" "$V/e1/y2"
	expect_eq "$(stat -c %i "$V/e1/y2")" "$ino" "inode after rename"
}

test_fs_symlink_and_readlink_store_the_target_as_given()
{
	fs_ctx
	echo target > "$R/t"
	ln -s t "$V/rel"
	ln -s "$R/t" "$V/abs"
	ln -s "does/not/exist" "$V/dangling"
	expect_eq "$(readlink "$R/rel")" t "relative target on the real path"
	expect_eq "$(readlink "$R/abs")" "$R/t" "absolute target on the real path"
	expect_eq "$(readlink "$V/rel")" t "readlink through the mount"
	expect_eq "$(readlink "$V/dangling")" "does/not/exist" "dangling"
	expect_eq "$(cat "$V/rel")" target "followed through the mount"
	expect_eq "$(stat -c %F "$V/rel")" "symbolic link" "lstat sees the link"
	expect_eq "$(attrs "$V/rel")" "$(attrs "$R/rel")" "lstat of the link equals"
	expect_py_errno ENOENT "open through a dangling link" 'os.open(A[0], os.O_RDONLY)' "$V/dangling"
	expect_py_errno EEXIST "symlink onto an existing name" 'os.symlink(b"x", A[0])' "$V/rel"
	expect_py_errno EINVAL "readlink of a file" 'os.readlink(A[0])' "$V/t"
	# An absolute target points into the context's "/", read through the mount.
	ln -s /etc/hostname "$R/host"
	expect_eq "$(readlink "$V/host")" /etc/hostname "readlink of an absolute link"
	local long
	long=$(printf 'x%.0s' $(seq 4000))
	ln -s "$long" "$V/long"
	expect_eq "$(readlink "$R/long")" "$long" "a 4000-byte target"
	expect_eq "$(readlink "$V/long")" "$long" "a 4000-byte target read back"
}


test_fs_chmod_and_chown_to_nobody_and_back_change_the_real_file()
{
	fs_ctx
	echo x > "$V/f"
	mkdir "$V/d"
	chmod 0600 "$V/f"
	expect_eq "$(stat -c %a "$R/f")" 600 "chmod 600"
	chmod 4755 "$V/f"
	expect_eq "$(stat -c %a "$R/f")" 4755 "chmod 4755 (setuid, as root)"
	chmod 1777 "$V/d"
	expect_eq "$(stat -c %a "$R/d")" 1777 "chmod 1777 on a dir"
	expect_eq "$(stat -c %a "$V/d")" 1777 "through the mount"
	local nobody nogroup
	nobody=$(id -u nobody)
	nogroup=$(id -g nobody)
	chown nobody "$V/f"
	expect_eq "$(stat -c '%u %g' "$R/f")" "$nobody 0" "chown nobody"
	expect_eq "$(stat -c '%u %g' "$V/f")" "$nobody 0" "through the mount"
	chgrp "$nogroup" "$V/f"
	expect_eq "$(stat -c '%u %g' "$R/f")" "$nobody $nogroup" "chgrp"
	chown 0:0 "$V/f"
	expect_eq "$(stat -c '%u %g' "$R/f")" "0 0" "back to root"
	# chown -h changes a link, not its target.
	ln -s f "$V/l"
	chown -h nobody "$V/l"
	expect_eq "$(stat -c %u "$R/l") $(stat -c %u "$R/f")" "$nobody 0" "chown -h"
	expect_py_errno ENOENT "chmod of a missing file" 'os.chmod(A[0], 0o644)' "$V/nothing"
}

test_fs_truncate_and_ftruncate_set_the_real_size()
{
	fs_ctx
	printf '0123456789' > "$V/f"
	truncate -s 4 "$V/f"
	expect_eq "$(cat "$R/f")" 0123 "truncate -s 4"
	expect_eq "$(stat -c %s "$V/f")" 4 "size through the mount"
	truncate -s 1M "$V/f"
	expect_eq "$(stat -c %s "$R/f")" 1048576 "extended to 1M"
	expect_eq "$(tail -c +5 "$V/f" | tr -d '\0' | wc -c)" 0 "the extension reads as zeros"
	truncate -s 0 "$V/f"
	expect_eq "$(stat -c %s "$R/f")" 0 "truncate -s 0"
	expect_py_errno OK "ftruncate on an open fd" '
fd = os.open(A[0], os.O_RDWR)
os.write(fd, b"abcdefgh")
os.ftruncate(fd, 3)
assert os.fstat(fd).st_size == 3, os.fstat(fd).st_size
os.close(fd)
' "$V/f"
	expect_eq "$(cat "$R/f")" abc "ftruncate to 3"
	expect_py_errno OK "ftruncate on a 0444 file opened for writing before its chmod" '
fd = os.open(A[0], os.O_RDWR)
os.chmod(A[0], 0o444)
os.ftruncate(fd, 1)
os.close(fd)
' "$V/f"
	expect_eq "$(cat "$R/f")" a "ftruncate after chmod 0444"
	expect_py_errno EISDIR "truncate of a directory" 'os.mkdir(A[0]); os.truncate(A[0], 0)' "$V/d"
}

test_fs_touch_sets_times_to_the_nanosecond()
{
	fs_ctx
	echo x > "$V/f"
	touch -m -d '2010-05-06 07:08:09.987654321' "$V/f"
	expect_eq "$(stat -c %y "$R/f")" "2010-05-06 07:08:09.987654321 +0000" "mtime on the real file"
	expect_eq "$(stat -c %y "$V/f")" "2010-05-06 07:08:09.987654321 +0000" "mtime through the mount"
	touch -a -d '1999-12-31 23:59:59.000000001' "$V/f"
	expect_eq "$(stat -c %x "$R/f")" "1999-12-31 23:59:59.000000001 +0000" "atime alone"
	expect_eq "$(stat -c %y "$R/f")" "2010-05-06 07:08:09.987654321 +0000" "mtime kept by touch -a"
	touch -d '@0' "$V/f"
	expect_eq "$(stat -c %Y "$R/f")" 0 "the epoch"
	touch -d '1960-01-01 00:00:00.5' "$V/f"
	expect_eq "$(stat -c %y "$R/f")" "1960-01-01 00:00:00.500000000 +0000" "before the epoch"
	local before after
	before=$(date +%s)
	touch "$V/f"
	after=$(date +%s)
	local m
	m=$(stat -c %Y "$R/f")
	(( m >= before && m <= after )) || fail "touch (now) set mtime $m, not in [$before, $after]"
	# On a directory and on a link itself (touch -h).
	mkdir "$V/d"
	touch -d '2002-02-02 02:02:02.020202020' "$V/d"
	expect_eq "$(stat -c %y "$R/d")" "2002-02-02 02:02:02.020202020 +0000" "a directory"
	ln -s f "$V/l"
	touch -h -d '2003-03-03 03:03:03.3' "$V/l"
	expect_eq "$(stat -c %y "$R/l")" "2003-03-03 03:03:03.300000000 +0000" "touch -h on the link"
	expect_eq "$(stat -c %Y "$R/f")" "$m" "the link's target untouched"
}

test_fs_fsync_returns_after_the_data_is_on_the_real_file()
{
	fs_ctx
	expect_py_errno OK "write, fsync, fdatasync with the file open" '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
data = b"".join(b"%07d\n" % i for i in range(200000))
os.write(fd, data)
os.fsync(fd)
with open(A[1], "rb") as real:
    got = real.read()
assert got == data, "after fsync the real file has %d of %d bytes" % (len(got), len(data))
os.write(fd, b"tail\n")
os.fdatasync(fd)
assert os.path.getsize(A[1]) == len(data) + 5
os.close(fd)
' "$V/f" "$R/f"
	expect_py_errno OK "fsync of a directory" '
fd = os.open(A[0], os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)
os.close(fd)
' "$V"
	# Each fsync of a directory reaches the target (libfuse's ENOSYS made
	# the kernel answer every later one itself, 0, without asking): five
	# of them are five calls, counted in the bytes sent to the stub.
	expect_py_errno OK "five fsyncs of a directory, each a call to the stub" '
def sent():
    with open(A[1]) as f:
        return int(dict(l.split(": ", 1) for l in f.read().splitlines())["bytes_out"])
fd = os.open(A[0], os.O_RDONLY | os.O_DIRECTORY)
before = sent()
for i in range(5):
    (os.fsync if i % 2 == 0 else os.fdatasync)(fd)
n = sent() - before
os.close(fd)
assert n >= 5 * 28, "five fsyncs of a directory sent %d bytes to the stub" % n
' "$V" "$M/$C/info"
}

test_fs_statfs_is_the_real_filesystems()
{
	fs_ctx
	local fmt='%S %s %b %c %l' want got
	want=$(stat -f -c "$fmt" "$R")
	got=$(timeout 10 stat -f -c "$fmt" "$V")
	expect_eq "$got" "$want" "stat -f (block sizes, blocks, inodes, name length)"
	# Free space moves with the rest of the machine: close, not equal.
	local rf vf
	rf=$(stat -f -c %f "$R")
	vf=$(stat -f -c %f "$V")
	(( vf > rf - rf / 100 - 1000 && vf < rf + rf / 100 + 1000 )) || fail "free blocks $vf, real $rf"
	# The root's statfs is that of the context's "/".
	expect_eq "$(stat -f -c "$fmt" "$F/")" "$(stat -f -c "$fmt" /)" "stat -f of fs/"
	timeout 10 df -P "$V" | tail -n1 | grep -q . || fail "df"
}

test_fs_access_answers_test_r_w_x()
{
	fs_ctx
	echo x > "$R/rw"
	echo x > "$R/exe"
	chmod 644 "$R/rw"
	chmod 755 "$R/exe"
	echo x > "$R/none"
	chmod 000 "$R/none"
	[ -r "$V/rw" ] && [ -w "$V/rw" ] || fail "test -r/-w on a 644 file"
	[ ! -x "$V/rw" ] || fail "test -x true on a 644 file"
	[ -x "$V/exe" ] || fail "test -x false on a 755 file"
	# Root reads and writes a 000 file, as on the real path.
	[ -r "$V/none" ] && [ -w "$V/none" ] || fail "root and a 000 file"
	[ ! -x "$V/none" ] || fail "root may not execute a 000 file"
	[ ! -e "$V/missing" ] || fail "test -e on a missing file"
	expect_py_errno OK "access(R_OK|W_OK) and X_OK" '
assert os.access(A[0], os.R_OK | os.W_OK)
assert not os.access(A[0], os.X_OK)
assert os.access(A[1], os.X_OK)
' "$V/rw" "$V/exe"
	# A program runs from the mount.
	printf '#!/bin/sh\necho ran from fs\n' > "$V/script"
	chmod 755 "$V/script"
	expect_eq "$(timeout 10 "$V/script")" "ran from fs" "exec of a script on the mount"
}

test_fs_mkfifo_and_mknod_make_real_special_files()
{
	fs_ctx
	mkfifo "$V/p"
	[ -p "$R/p" ] || fail "mkfifo through the mount made no real FIFO: $(stat -c %F "$R/p" 2>&1)"
	[ -p "$V/p" ] || fail "the FIFO is no FIFO through the mount"
	mkfifo "$R/q"
	[ -p "$V/q" ] || fail "a real FIFO is no FIFO through the mount"
	expect_eq "$(attrs "$V/q")" "$(attrs "$R/q")" "stat of a FIFO"
	mknod "$V/null" c 1 3
	expect_eq "$(stat -c '%F %t %T' "$R/null")" "character special file 1 3" "mknod c 1 3"
	expect_eq "$(stat -c '%F %t %T' "$V/null")" "character special file 1 3" "through the mount"
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$R/sock"
	expect_eq "$(stat -c %F "$V/sock")" socket "a socket through the mount"
}

test_fs_xattrs_set_get_list_and_remove()
{
	fs_ctx
	echo x > "$R/f"
	user_xattrs_or_skip "$R/f" || return 0
	expect_py_errno OK "setxattr, getxattr, listxattr, removexattr" '
os.setxattr(A[0], "user.mitofs", b"value\x00with\xffbytes")
assert os.getxattr(A[1], "user.mitofs") == b"value\x00with\xffbytes", os.getxattr(A[1], "user.mitofs")
assert os.getxattr(A[0], "user.mitofs") == b"value\x00with\xffbytes"
os.setxattr(A[1], "user.real", b"from the real path")
assert os.getxattr(A[0], "user.real") == b"from the real path"
assert sorted(os.listxattr(A[0])) == ["user.mitofs", "user.real"], os.listxattr(A[0])
os.setxattr(A[0], "user.big", b"B" * 4000)
assert os.getxattr(A[1], "user.big") == b"B" * 4000
os.setxattr(A[0], "user.empty", b"")
assert os.getxattr(A[0], "user.empty") == b""
os.removexattr(A[0], "user.mitofs")
assert "user.mitofs" not in os.listxattr(A[1])
' "$V/f" "$R/f"
	expect_py_errno ENODATA "getxattr of a missing name" 'os.getxattr(A[0], "user.nothing")' "$V/f"
	expect_py_errno ENODATA "removexattr of a missing name" 'os.removexattr(A[0], "user.nothing")' "$V/f"
	expect_py_errno EEXIST "XATTR_CREATE on an existing name" \
		'os.setxattr(A[0], "user.real", b"x", os.XATTR_CREATE)' "$V/f"
	expect_py_errno ENODATA "XATTR_REPLACE on a missing name" \
		'os.setxattr(A[0], "user.new", b"x", os.XATTR_REPLACE)' "$V/f"
	expect_py_errno ERANGE "getxattr into too small a buffer" '
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(10)
if libc.getxattr(A[0], b"user.big", buf, 10) < 0:
    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
' "$V/f"
	expect_py_errno OK "getxattr size probe" '
libc = ctypes.CDLL(None, use_errno=True)
n = libc.getxattr(A[0], b"user.big", None, 0)
assert n == 4000, n
' "$V/f"
}

# --- errors ---

test_fs_missing_paths_are_enoent()
{
	fs_ctx
	rd "$V/missing"
	expect_eq "$ERRNO" ENOENT "cat of a missing file"
	expect_py_errno ENOENT "stat" 'os.stat(A[0])' "$V/missing"
	expect_py_errno ENOENT "listdir" 'os.listdir(A[0])' "$V/missing"
	expect_py_errno ENOENT "mkdir in a missing dir" 'os.mkdir(A[0])' "$V/missing/sub"
	expect_py_errno ENOENT "create in a missing dir" 'os.open(A[0], os.O_CREAT | os.O_WRONLY)' "$V/missing/f"
	expect_py_errno ENOENT "rmdir" 'os.rmdir(A[0])' "$V/missing"
	expect_py_errno ENOENT "readlink" 'os.readlink(A[0])' "$V/missing"
	expect_py_errno ENOENT "utime" 'os.utime(A[0])' "$V/missing"
	expect_py_errno ENOENT "truncate" 'os.truncate(A[0], 0)' "$V/missing"
	expect_py_errno ENOENT "statvfs" 'os.statvfs(A[0])' "$V/missing"
	echo x > "$R/file"
	expect_py_errno ENOTDIR "a file used as a directory" 'os.stat(A[0])' "$V/file/x"
	# A failed lookup is not cached: the name made on the real path just
	# after it is found at once.
	expect_py_errno ENOENT "the name before it exists" 'os.stat(A[0])' "$V/later"
	echo now > "$R/later"
	expect_eq "$(get "$V/later")" now "created on the real path just after a failed lookup"
}

test_fs_writing_to_a_directory_is_eisdir()
{
	fs_ctx
	mkdir "$R/d"
	expect_write_errno EISDIR "$V/d" "x"
	expect_py_errno EISDIR "open O_WRONLY" 'os.open(A[0], os.O_WRONLY)' "$V/d"
	expect_py_errno EISDIR "read of a directory" 'fd = os.open(A[0], os.O_RDONLY); os.read(fd, 10)' "$V/d"
	rd "$V/d"
	expect_eq "$ERRNO" EISDIR "cat of a directory"
}

test_fs_a_256_byte_name_is_enametoolong()
{
	fs_ctx
	local n255 n256
	n255=$(printf 'n%.0s' $(seq 255))
	n256=${n255}n
	expect_py_errno ENAMETOOLONG "create with a 256-byte name" \
		'os.close(os.open(A[0], os.O_CREAT | os.O_WRONLY))' "$V/$n256"
	expect_py_errno ENAMETOOLONG "stat of a 256-byte name" 'os.stat(A[0])' "$V/$n256"
	expect_py_errno ENAMETOOLONG "mkdir with a 256-byte name" 'os.mkdir(A[0])' "$V/$n256"
	expect_py_errno OK "create with a 255-byte name" \
		'os.close(os.open(A[0], os.O_CREAT | os.O_WRONLY))' "$V/$n255"
	[ -f "$R/$n255" ] || fail "the 255-byte name is not on the real path"
	expect_eq "$(ls "$V" | grep -c "^$n255\$")" 1 "the 255-byte name listed"
}

# The POSIX calls a program makes in a directory whose absolute path is
# past PATH_MAX (reached by relative steps, as the target allows), done
# on the real path and through fs/: the same results. Past FS_MAX_PATH
# (32 KiB) a clean ENAMETOOLONG.
test_fs_paths_past_path_max_work_as_on_the_target()
{
	fs_ctx
	mkdir "$R/direct" "$R/via"
	local prog='
import os, sys
seg = "d" * 200
os.chdir(sys.argv[1])
try:
    for i in range(int(sys.argv[2])):
        os.mkdir(seg)
        os.chdir(seg)
except OSError as e:
    sys.exit("deep: %s at %d" % (os.strerror(e.errno), len(sys.argv[1]) + 201 * i))
def t(label, f):
    try:
        v = f()
        print(label, "OK", v if v is not None else "")
    except OSError as e:
        print(label, os.strerror(e.errno))
t("create", lambda: open("f", "w").write("hello"))
t("read", lambda: open("f").read())
t("stat", lambda: (os.stat("f").st_size, oct(os.stat("f").st_mode)))
t("mkdir", lambda: os.mkdir("sub"))
t("listdir", lambda: sorted(os.listdir(".")))
t("rename", lambda: os.rename("f", "g"))
t("symlink", lambda: os.symlink("g", "s"))
t("readlink", lambda: os.readlink("s"))
t("link", lambda: os.link("g", "h"))
t("nlink", lambda: os.stat("g").st_nlink)
t("chmod", lambda: os.chmod("g", 0o600))
t("chown", lambda: os.chown("g", 1, 1))
t("utime", lambda: os.utime("g", (1000, 2000)))
t("times", lambda: int(os.stat("g").st_mtime))
t("statvfs", lambda: os.statvfs(".").f_namemax)
t("access", lambda: os.access("g", os.W_OK))
t("truncate", lambda: os.truncate("g", 2))
t("size", lambda: os.stat("g").st_size)
t("mkfifo", lambda: os.mkfifo("p"))
t("unlink", lambda: os.unlink("h"))
t("rmdir", lambda: os.rmdir("sub"))
t("rmdir-nonempty", lambda: os.rmdir(".."))
'
	python3 -c "$prog" "$R/direct" 30 >"$T/direct.out" 2>&1
	python3 -c "$prog" "$V/via" 30 >"$T/via.out" 2>&1
	diff "$T/direct.out" "$T/via.out" >"$T/diff" ||
		fail "past PATH_MAX, fs/ differs from the target (< real, > fs/): $(cat "$T/diff")"
	expect_contains "$(cat "$T/via.out")" "read OK hello" "a file 6 KB deep"
	# Past FS_MAX_PATH the daemon refuses cleanly, and keeps serving.
	mkdir "$R/far"
	local out
	out=$(python3 -c "$prog" "$V/far" 170 2>&1) && fail "170 levels deep worked: $out"
	expect_contains "$out" "deep: File name too long" "past FS_MAX_PATH"
	stat "$V/via" >/dev/null || fail "fs/ answers after the refused path"
}

test_fs_a_nobody_context_gets_eacces_on_a_root_only_directory()
{
	local a=${U}a n=${U}n
	connect "$a"
	connect "$a/$n" sudo user=nobody
	local N=$M/$a/$n/fs
	mkdir -m 0700 "$T/secret"
	echo hidden > "$T/secret/f"
	expect_eq "$(get "$N/etc/hostname")" "$(cat /etc/hostname)" "nobody reads a public file"
	expect_py_errno EACCES "nobody lists a 0700 root directory" 'os.listdir(A[0])' "$N/root"
	# Into the scratch dir: /tmp/mitofs-it.*/ is 0700 root, like secret.
	rd "$N$T/secret/f"
	expect_eq "$ERRNO" EACCES "nobody reads below a 0700 root directory"
	expect_py_errno EACCES "nobody creates in /etc" \
		'os.open(A[0], os.O_CREAT | os.O_WRONLY, 0o644)' "$N/etc/mitofs-$U"
	[ ! -e "/etc/mitofs-$U" ] || { rm -f "/etc/mitofs-$U"; fail "nobody created a file in /etc"; }
	expect_py_errno EACCES "nobody writes a root 0644 file" 'os.open(A[0], os.O_WRONLY)' "$N/etc/hostname"
	expect_py_errno EPERM "nobody chowns a root file" 'os.chown(A[0], 0, 0)' "$N/etc/hostname"
	expect_py_errno EACCES "nobody mkdirs in /" 'os.mkdir(A[0])' "$N/mitofs-$U"
	# What nobody owns, nobody may change.
	expect_py_errno OK "nobody writes in /tmp" '
fd = os.open(A[0], os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
os.write(fd, b"mine")
os.close(fd)
' "$N/tmp/mitofs-$U-nobody"
	TEARDOWN+=("rm -f '/tmp/mitofs-$U-nobody'")
	expect_eq "$(stat -c %U "/tmp/mitofs-$U-nobody")" nobody "the file nobody made is nobody's"
}

test_fs_rename_or_link_across_contexts_or_into_the_control_tree_is_exdev()
{
	local a=${U}a b=${U}b
	connect "$a"
	connect "$b"
	mkdir "$T/r"
	echo moving > "$T/r/f"
	local A=$M/$a/fs$T/r B=$M/$b/fs$T/r
	expect_py_errno EXDEV "rename between two contexts' fs/" 'os.rename(A[0], A[1])' "$A/f" "$B/g"
	expect_py_errno EXDEV "link between two contexts' fs/" 'os.link(A[0], A[1])' "$A/f" "$B/g"
	expect_py_errno EXDEV "rename from fs/ into the control tree" 'os.rename(A[0], A[1])' "$A/f" "$M/$a/f"
	expect_py_errno EXDEV "rename from the control tree into fs/" 'os.rename(A[0], A[1])' "$M/$a/info" "$A/info"
	expect_py_errno EXDEV "link from fs/ into the control tree" 'os.link(A[0], A[1])' "$A/f" "$M/$a/f"
	[ -f "$T/r/f" ] && [ ! -e "$T/r/g" ] || fail "something moved"
	# mv falls back to copy + unlink on EXDEV, and that works.
	timeout 10 mv "$A/f" "$B/g"
	expect_eq "$(cat "$T/r/g")" moving "mv across contexts (copy)"
	[ ! -e "$T/r/f" ] || fail "mv across contexts left the source"
}

test_fs_a_full_filesystem_gives_enospc_and_the_daemon_keeps_serving()
{
	fs_ctx
	mkdir "$R/small"
	mount -t tmpfs -o size=1m tmpfs "$R/small" || fail "cannot mount a tmpfs (needs root)"
	TEARDOWN+=("umount -l '$R/small'")
	local out rc=0
	out=$(timeout 20 dd if=/dev/zero of="$V/small/big" bs=64k count=32 2>&1) || rc=$?
	(( rc != 0 && rc != 124 )) || fail "dd of 2 MiB into a 1 MiB tmpfs: rc $rc: $out"
	expect_contains "$out" "No space left on device" "dd's error"
	(( $(stat -c %s "$R/small/big") <= 1048576 )) || fail "more than 1 MiB landed"
	# The error is also reported when only the close sees it.
	rm -f "$R/small/big"
	expect_py_errno ENOSPC "2 MiB in many small writes, error at a write, fsync or close" '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644)
try:
    for i in range(256):
        os.write(fd, b"z" * 8192)
    os.fsync(fd)
finally:
    os.close(fd)
' "$V/small/f2"
	rm -f "$R/small/f2"
	expect_py_errno ENOSPC "2 MiB written in one call, then close" '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644)
try:
    n = os.write(fd, b"y" * (2 << 20))
    if n < (2 << 20):
        raise OSError(errno.ENOSPC, "short write of %d" % n)
finally:
    os.close(fd)
' "$V/small/f3"
	# Still serving: room again after a removal, and the rest of fs/.
	rm -f "$V/small/f3"
	echo fits > "$V/small/ok"
	expect_eq "$(cat "$R/small/ok")" fits "a write after the disk was full"
	expect_eq "$(get "$F/etc/hostname")" "$(cat /etc/hostname)" "fs/ still answers"
	expect_eq "$(field "$(get "$M/$C/info")" state)" connected "the context"
}

# --- data ---

test_fs_64mib_round_trips_with_equal_sha256_both_ways()
{
	fs_ctx
	head -c 64M /dev/urandom > "$T/src"
	local want
	want=$(sha256sum < "$T/src")
	local t0
	t0=$(now_ms)
	timeout 30 cp "$T/src" "$V/dst"
	local tw=$(( $(now_ms) - t0 ))
	expect_eq "$(sha256sum < "$R/dst")" "$want" "64 MiB written through the mount, read on the real path"
	expect_eq "$(stat -c %s "$V/dst")" 67108864 "size through the mount"
	# Read back from a fresh copy on the real path (nothing cached).
	cp "$T/src" "$R/back"
	t0=$(now_ms)
	expect_eq "$(timeout 30 sha256sum < "$V/back")" "$want" "64 MiB written on the real path, read through the mount"
	local tr=$(( $(now_ms) - t0 ))
	echo "# 64 MiB: write ${tw} ms, read ${tr} ms"
	# Random-offset reads agree.
	expect_py_errno OK "random preads" '
import random
a = os.open(A[0], os.O_RDONLY); b = os.open(A[1], os.O_RDONLY)
r = random.Random(7)
for i in range(200):
    off = r.randrange(0, 64 << 20); n = r.randrange(1, 300000)
    assert os.pread(a, n, off) == os.pread(b, n, off), (off, n)
' "$V/back" "$T/src"
}

test_fs_parallel_writers_and_readers_each_get_their_own_bytes()
{
	fs_ctx
	local i pids=()
	for i in $(seq 8); do
		head -c 8M /dev/urandom > "$T/src$i"
		cp "$T/src$i" "$R/in$i"
	done
	for i in $(seq 8); do
		timeout 30 cp "$T/src$i" "$V/out$i" &
		pids+=($!)
		timeout 30 cp "$V/in$i" "$T/back$i" &
		pids+=($!)
		(for j in $(seq 30); do mkdir "$V/dir$i" && rmdir "$V/dir$i" || exit 1; done) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "a parallel writer, reader or mkdir/rmdir loop failed"
	done
	for i in $(seq 8); do
		cmp "$T/src$i" "$R/out$i" || fail "out$i written in parallel differs"
		cmp "$T/src$i" "$T/back$i" || fail "in$i read in parallel differs"
		[ ! -e "$R/dir$i" ] || fail "dir$i left behind"
	done
}

test_fs_a_git_repository_made_inside_fs_commits_and_logs()
{
	command -v git >/dev/null || fail "git is not installed (add git to DEPS in the Makefile)"
	fs_ctx
	local g=(git -c user.name=Mito -c user.email=mito@example.com -c init.defaultBranch=main -c safe.directory='*')
	timeout 20 "${g[@]}" init -q "$V/repo"
	local i
	for i in $(seq 20); do
		seq "$i" > "$V/repo/file$i"
	done
	mkdir "$V/repo/sub"
	echo deep > "$V/repo/sub/deep"
	(cd "$V/repo" && timeout 20 "${g[@]}" add -A && timeout 20 "${g[@]}" commit -q -m "first commit")
	echo change >> "$V/repo/file3"
	git -C "$V/repo" mv file4 file4-renamed
	(cd "$V/repo" && timeout 20 "${g[@]}" commit -q -a -m "second commit")
	expect_eq "$(timeout 20 "${g[@]}" -C "$V/repo" log --format=%s)" $'second commit\nfirst commit' "git log through the mount"
	expect_eq "$("${g[@]}" -C "$R/repo" log --format=%s)" $'second commit\nfirst commit' "git log on the real path"
	expect_eq "$("${g[@]}" -C "$R/repo" rev-parse HEAD)" "$(timeout 20 "${g[@]}" -C "$V/repo" rev-parse HEAD)" "HEAD"
	timeout 20 "${g[@]}" -C "$R/repo" fsck --strict 2>&1 || fail "git fsck on the real path"
	expect_eq "$(timeout 20 "${g[@]}" -C "$V/repo" status --porcelain)" "" "a clean tree through the mount"
	# A clone into fs/ and a gc (packs, renames, unlinks, hard links).
	timeout 20 "${g[@]}" clone -q "$R/repo" "$V/clone"
	expect_eq "$(cat "$R/clone/sub/deep")" deep "a file of the clone"
	timeout 30 "${g[@]}" -C "$V/clone" gc -q
	expect_eq "$("${g[@]}" -C "$R/clone" log --format=%s | head -n1)" "second commit" "git log of the clone after gc"
}

test_fs_a_2000_file_tar_extracts_inside_fs_as_it_does_directly()
{
	fs_ctx
	local src=$T/src d i
	mkdir "$src"
	for d in $(seq 20); do
		mkdir "$src/d$d"
		for i in $(seq 100); do
			echo "$d/$i" > "$src/d$d/f$i"
		done
	done
	# A few that are not plain: sizes, modes, links, times.
	head -c 300000 /dev/urandom > "$src/d1/random"
	chmod 700 "$src/d2/f1"
	ln -s ../d1/f1 "$src/d3/sym"
	ln "$src/d4/f1" "$src/d4/hard"
	touch -d '2005-05-05 05:05:05.5' "$src/d5/f5"
	tar -C "$src" -cf "$T/x.tar" .
	mkdir "$T/direct" "$V/x"
	tar -C "$T/direct" -xf "$T/x.tar"
	local t0
	t0=$(now_ms)
	timeout 40 tar -C "$V/x" -xf "$T/x.tar"
	echo "# 2000-file tar extracted through the mount in $(( $(now_ms) - t0 )) ms"
	diff -r --no-dereference "$T/direct" "$R/x" || fail "diff -r of the direct and the fs/ extraction (real path)"
	timeout 30 diff -r --no-dereference "$T/direct" "$V/x" || fail "diff -r through the mount"
	expect_eq "$(cd "$R/x" && find . -printf '%p %y %m %s %n %T@\n' | sort | sha256sum)" \
		"$(cd "$T/direct" && find . -printf '%p %y %m %s %n %T@\n' | sort | sha256sum)" "types, modes, sizes, links, times"
	expect_eq "$(find "$V/x" -type f | wc -l)" "$(find "$T/direct" -type f | wc -l)" "file count through the mount"
}

test_fs_proc_files_read_whole_though_they_say_size_zero()
{
	fs_ctx
	local st pid
	st=$(get "$F/proc/self/status")
	pid=$(stub_pid "$C")
	expect_eq "$(awk '$1 == "Pid:" { print $2 }' <<<"$st")" "$pid" "fs/proc/self/status is the stub's"
	expect_contains "$(get "$F/proc/cpuinfo")" "processor" "fs/proc/cpuinfo"
	expect_eq "$(get "$F/proc/cpuinfo" | grep -c '^processor')" "$(grep -c '^processor' /proc/cpuinfo)" "cpuinfo's processors"
	expect_eq "$(get "$F/proc/version")" "$(cat /proc/version)" "fs/proc/version"
	expect_eq "$(timeout 10 cat "$F/proc/$pid/cmdline" | od -An -c)" "$(od -An -c < "/proc/$pid/cmdline")" "the stub's cmdline, NULs and all"
	expect_contains "$(get "$F/proc/mounts")" "$M" "fs/proc/mounts names this mount"
	# A /proc file larger than one read, and one in /sys.
	(( $(get "$F/proc/self/maps" | wc -c) > 0 )) || fail "fs/proc/self/maps is empty"
	expect_eq "$(get "$F/proc/sys/kernel/ostype")" Linux "fs/proc/sys/kernel/ostype"
	if [ -r /sys/devices/system/cpu/online ]; then
		expect_eq "$(get "$F/sys/devices/system/cpu/online")" "$(cat /sys/devices/system/cpu/online)" "a file in fs/sys"
	fi
}

# An empty file is read whole at its open, as any small one: no bytes,
# no buffer (under make test-asan, UBSan stopped the daemon at the copy
# of nothing from nowhere).
test_fs_an_empty_file_reads_empty_and_the_daemon_stays_up()
{
	fs_ctx
	: >"$R/empty"
	printf x >"$R/one"
	expect_eq "$(timeout 10 cat "$V/empty" | wc -c)" 0 "bytes of the empty file"
	expect_eq "$(timeout 10 cat "$V/empty" "$V/one")" x "the empty file, then a 1-byte one"
	alive "$DAEMON_PID" || fail "the daemon died reading an empty file"
}

# poll(2) and select(2) on a file in fs/ answer at once, both ways, as on a
# local file (the daemon took its handle for a control file's and left a
# poll for writing waiting for ever).
test_fs_poll_on_a_file_in_fs_is_ready_to_read_and_write()
{
	fs_ctx
	printf data >"$R/p"
	expect_eq "$(timeout 10 python3 -c 'import os, select, sys
fd = os.open(sys.argv[1], os.O_RDWR)
p = select.poll()
p.register(fd, select.POLLIN | select.POLLOUT)
ev = dict(p.poll(5000)).get(fd, 0)
r, w, _ = select.select([fd], [fd], [], 5)
print(bool(ev & select.POLLIN), bool(ev & select.POLLOUT), len(r), len(w))' "$V/p")" "True True 1 1" "poll and select on fs/p"
}

# --- consistency ---

test_fs_a_write_through_the_mount_is_visible_through_it_at_once()
{
	fs_ctx
	printf abc > "$V/f"
	expect_eq "$(stat -c %s "$V/f")" 3 "size at once"
	expect_eq "$(cat "$V/f")" abc "content at once"
	printf defg >> "$V/f"
	expect_eq "$(stat -c %s "$V/f")" 7 "size after append"
	expect_eq "$(cat "$V/f")" abcdefg "content after append"
	: > "$V/f"
	expect_eq "$(stat -c %s "$V/f")" 0 "size after truncate"
	# While the writer still has it open.
	expect_py_errno OK "size and content seen by another open while writing" '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * 100000)
assert os.stat(A[0]).st_size == 100000, os.stat(A[0]).st_size
with open(A[0], "rb") as r:
    assert r.read() == b"x" * 100000
os.close(fd)
' "$V/g"
	echo new > "$V/new"
	ls "$V" | grep -qx new || fail "a new file is not listed at once"
	mkdir "$V/nd"
	ls "$V" | grep -qx nd || fail "a new dir is not listed at once"
	rm "$V/new"
	ls "$V" | grep -qx new && fail "a removed file is still listed"
	chmod 600 "$V/g"
	expect_eq "$(stat -c %a "$V/g")" 600 "mode at once"
	touch -d '2004-04-04 04:04:04.4' "$V/g"
	expect_eq "$(stat -c %y "$V/g")" "2004-04-04 04:04:04.400000000 +0000" "mtime at once"
}

opts_test_fs_a_change_on_the_real_path_shows_within_the_attr_timeout="-o attr_timeout=1"
test_fs_a_change_on_the_real_path_shows_within_the_attr_timeout()
{
	fs_ctx
	printf abc > "$R/f"
	mkdir "$R/d"
	expect_eq "$(stat -c %s "$V/f")" 3 "first size"
	expect_eq "$(cat "$V/f")" abc "first content"
	local t0
	t0=$(now_ms)
	printf 'abcdefgh' > "$R/f"
	chmod 600 "$R/f"
	echo late > "$R/d/late"
	wait_until 2 "the new size through the mount" bash -c "[ \"\$(stat -c %s '$V/f')\" = 8 ]"
	expect_eq "$(stat -c %a "$V/f")" 600 "the new mode"
	expect_eq "$(cat "$V/f")" abcdefgh "the new content"
	ls "$V/d" | grep -qx late || fail "a file made on the real path is not listed"
	# Same size, new bytes: no stale pages.
	sleep 0.1
	printf 'ABCDEFGH' > "$R/f"
	touch -d '2011-11-11 11:11:11' "$R/f"
	wait_until 2 "the new mtime through the mount" bash -c "[ \"\$(stat -c %Y '$V/f')\" = \"\$(stat -c %Y '$R/f')\" ]"
	expect_eq "$(cat "$V/f")" ABCDEFGH "rewritten content of the same size"
	# Removed and replaced by a directory on the real path.
	rm "$R/f"
	mkdir "$R/f"
	wait_until 2 "the file replaced by a directory" test -d "$V/f"
	rm -r "$R/d"
	wait_until 2 "a removed directory to go" bash -c "! test -e '$V/d'"
	echo "# changes seen after $(( $(now_ms) - t0 )) ms"
}

# --- losing the context ---

test_fs_a_context_killed_during_a_read_gives_eio_within_seconds()
{
	fs_ctx
	# A sparse file far larger than can be read in the time: the read is
	# under way when the stub dies.
	truncate -s 64G "$R/huge"
	local pid
	pid=$(stub_pid "$C")
	bg bash -c "cat '$V/huge' > /dev/null 2> '$T/cat.err'; echo \$? > '$T/cat.rc'"
	local reader=$BG_LAST
	# A second reader, blocked between calls on a descriptor opened before.
	bg python3 -c '
import os, sys, time, errno
fd = os.open(sys.argv[1], os.O_RDONLY)
open(sys.argv[2], "w").close()
off = 0
try:
    while True:
        os.pread(fd, 4096, off)
        off += 8 << 20
        time.sleep(0.05)
except OSError as e:
    open(sys.argv[3], "w").write(errno.errorcode[e.errno])
' "$V/huge" "$T/py.ready" "$T/py.err"
	wait_until 5 "the second reader to open" test -e "$T/py.ready"
	sleep 0.5
	alive "$reader" || fail "cat ended before the kill: $(cat "$T/cat.err" 2>/dev/null)"
	local t0
	t0=$(now_ms)
	kill -9 "$pid"
	wait_until 5 "cat to end after the stub was killed" test -s "$T/cat.rc"
	local ms=$(( $(now_ms) - t0 ))
	(( ms < 3000 )) || fail "cat ended $ms ms after the kill"
	expect_eq "$(cat "$T/cat.rc")" 1 "cat's status"
	expect_contains "$(cat "$T/cat.err")" "Input/output error" "cat's error"
	wait_until 5 "the second reader to fail" test -s "$T/py.err"
	expect_eq "$(cat "$T/py.err")" EIO "the second reader's error"
	# The tree of the dead context answers EIO (or ENOENT once it is
	# gone), never hangs; the daemon serves the others.
	local got
	got=$(py_errno 'os.stat(A[0])' "$V/new-lookup")
	[[ $got == EIO || $got == ENOENT ]] || fail "stat below a dead context: $got"
	got=$(py_errno 'os.listdir(A[0])' "$V")
	[[ $got == EIO || $got == ENOENT || $got == OK ]] || fail "listdir below a dead context: $got"
	local b=${U}b
	connect "$b"
	expect_eq "$(get "$M/$b/fs/etc/hostname")" "$(cat /etc/hostname)" "another context's fs/"
}

test_fs_a_write_to_a_context_that_died_fails_with_eio()
{
	fs_ctx
	local pid
	pid=$(stub_pid "$C")
	bg python3 -c '
import os, sys, time, errno
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
open(sys.argv[2], "w").close()
try:
    for i in range(100000):
        os.write(fd, b"w" * 65536)
        time.sleep(0.01)
    os.close(fd)
    open(sys.argv[3], "w").write("OK")
except OSError as e:
    open(sys.argv[3], "w").write(errno.errorcode[e.errno])
' "$V/w" "$T/w.ready" "$T/w.err"
	wait_until 5 "the writer to open" test -e "$T/w.ready"
	sleep 0.3
	kill -9 "$pid"
	wait_until 5 "the writer to fail" test -s "$T/w.err"
	expect_eq "$(cat "$T/w.err")" EIO "the writer's error"
}

# --- the same on an ssh context ---

test_fs_ssh_stat_readdir_read_write_rename_link_and_errors()
{
	fs_ssh_ctx
	printf 'twelve bytes' > "$R/file"
	touch -d '2001-02-03 04:05:06.123456789' "$R/file"
	mkdir "$R/d"
	printf x > "$R/d/with space"
	printf y > "$R/d/"$'bad\xff'
	expect_eq "$(attrs "$V/file")" "$(attrs "$R/file")" "stat over ssh"
	expect_eq "$(names_of "$V/d")" "$(names_of "$R/d")" "names over ssh"
	expect_eq "$(cd "$V/d" && timeout 10 ls -lan --time-style=full-iso)" \
		"$(cd "$R/d" && ls -lan --time-style=full-iso)" "ls -lan over ssh"
	printf 'hello\n' > "$V/w"
	printf 'more\n' >> "$V/w"
	expect_eq "$(cat "$R/w")" $'hello\nmore' "written over ssh"
	expect_eq "$(stat -c %s "$V/w")" 11 "size at once over ssh"
	mv "$V/w" "$V/d/w2"
	expect_eq "$(cat "$R/d/w2")" $'hello\nmore' "renamed over ssh"
	ln "$V/d/w2" "$V/hard"
	expect_eq "$(stat -c %h "$R/hard")" 2 "hard link over ssh"
	ln -s d/w2 "$V/sym"
	expect_eq "$(readlink "$R/sym")" d/w2 "symlink over ssh"
	chmod 640 "$V/hard"
	chown nobody "$V/hard"
	expect_eq "$(stat -c '%a %U' "$R/d/w2")" "640 nobody" "chmod, chown over ssh"
	touch -d '2010-05-06 07:08:09.987654321' "$V/hard"
	expect_eq "$(stat -c %y "$R/d/w2")" "2010-05-06 07:08:09.987654321 +0000" "utimens over ssh"
	truncate -s 3 "$V/sym"
	expect_eq "$(cat "$R/d/w2")" hel "truncate over ssh"
	mkfifo "$V/p"
	[ -p "$R/p" ] || fail "mkfifo over ssh"
	expect_py_errno EEXIST "O_EXCL over ssh" 'os.open(A[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY)' "$V/file"
	expect_py_errno ENOTEMPTY "rmdir over ssh" 'os.rmdir(A[0])' "$V/d"
	expect_py_errno ENOENT "stat of a missing file over ssh" 'os.stat(A[0])' "$V/missing"
	expect_py_errno EEXIST "RENAME_NOREPLACE over ssh" "$RENAMEAT2"'
renameat2(A[0], A[1], 1)' "$V/file" "$V/hard"
	expect_py_errno OK "fsync over ssh" '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"synced")
os.fsync(fd)
assert open(A[1], "rb").read() == b"synced"
os.close(fd)
' "$V/s" "$R/s"
	expect_eq "$(stat -f -c '%S %b %c %l' "$V")" "$(stat -f -c '%S %b %c %l' "$R")" "statfs over ssh"
	local sp
	sp=$(stub_pid "$C")
	expect_eq "$(get "$F/proc/self/status" | awk '$1 == "Pid:" { print $2 }')" "$sp" "fs/proc/self/status over ssh"
	# Across contexts: EXDEV between the ssh context and a local one.
	local b=${U}b
	connect "$b"
	expect_py_errno EXDEV "rename from ssh fs/ to local fs/" 'os.rename(A[0], A[1])' "$V/file" "$M/$b/fs$R/file2"
}

test_fs_ssh_16mib_and_a_tar_round_trip_and_the_session_dying_gives_eio()
{
	fs_ssh_ctx
	head -c 16M /dev/urandom > "$T/src"
	timeout 30 cp "$T/src" "$V/dst"
	expect_eq "$(sha256sum < "$R/dst")" "$(sha256sum < "$T/src")" "16 MiB written over ssh"
	cp "$T/src" "$R/back"
	expect_eq "$(timeout 30 sha256sum < "$V/back")" "$(sha256sum < "$T/src")" "16 MiB read over ssh"
	local d i
	mkdir "$T/tree"
	for d in $(seq 5); do
		mkdir "$T/tree/d$d"
		for i in $(seq 40); do echo "$d.$i" > "$T/tree/d$d/f$i"; done
	done
	tar -C "$T/tree" -cf "$T/t.tar" .
	mkdir "$V/x"
	timeout 30 tar -C "$V/x" -xf "$T/t.tar"
	diff -r "$T/tree" "$R/x" || fail "tar extracted over ssh differs"
	# The ssh session dies while a read is under way.
	truncate -s 64G "$R/huge"
	local pid sess
	pid=$(stub_pid "$C")
	sess=$(ps -o ppid= -p "$pid" | tr -d ' ')
	bg bash -c "cat '$V/huge' > /dev/null 2> '$T/cat.err'; echo \$? > '$T/cat.rc'"
	sleep 0.5
	alive "$BG_LAST" || fail "cat ended before the kill: $(cat "$T/cat.err" 2>/dev/null)"
	local t0
	t0=$(now_ms)
	kill -9 "$sess"
	wait_until 5 "cat to end after the session was killed" test -s "$T/cat.rc"
	(( $(now_ms) - t0 < 3000 )) || fail "cat ended $(( $(now_ms) - t0 )) ms after the kill"
	expect_contains "$(cat "$T/cat.err")" "Input/output error" "cat's error"
}

opts_test_fs_flush_in_ctl_drops_the_cached_attributes_and_entries="-o attr_timeout=3600"
test_fs_flush_in_ctl_drops_the_cached_attributes_and_entries()
{
	fs_ctx
	echo one > "$R/f"
	expect_eq "$(stat -c %s "$V/f")" 4 "size through the mount"
	echo two-longer > "$R/f"
	# Cached for an hour: the change is not seen yet...
	expect_eq "$(stat -c %s "$V/f")" 4 "cached size"
	expect_write_ok "$M/$C/ctl" flush
	# ...and is once the context's caches are dropped.
	expect_eq "$(stat -c %s "$V/f")" 11 "size after flush"
	rm "$R/f"
	[ -e "$V/f" ] || fail "the cached entry was already gone: nothing tested"
	expect_write_ok "$M/$C/ctl" flush
	[ ! -e "$V/f" ] || fail "a removed file is still seen after flush"
	expect_contains "$(snap "$M/log")" "fs caches dropped" "log"
	expect_write_errno EINVAL "$M/ctl" flush
}

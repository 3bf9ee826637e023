# pending_fs_hardlinks.sh — requirements of issue 4 (NAME/fs/) that the code
# does not meet yet: the names of a hard-linked file as one inode (identity
# by the target's (dev, ino)), and data written through one name seen at
# once through the other. Not run by run.sh (it runs t_*.sh only); run by
# hand: cp this to t_pending.sh, or source it into a t_ file, once fixed.
# Helpers (V, R, ...) come from t_fs.sh.

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
}

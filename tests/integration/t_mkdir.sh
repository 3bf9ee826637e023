# t_mkdir.sh — contexts as directories: mkdir connects an ssh_config
# alias (from the daemon, or from a context with its ssh), rmdir
# disconnects; `disconnect *` and patterns empty a level; -o
# connect=FILE and an fstab line bring a fleet up at mount.

SSHD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)

# A daemon of the test's own on $T/m2 whose ~/.ssh/config names the
# private sshd: ${U}sut (HostName, Port, User, IdentityFile and
# UserKnownHostsFile), ${U}jumped (the same sshd reached through a
# ProxyJump to ${U}sut), ${U}closed (a port where nothing listens) and
# ${U}silent (a port that accepts and never speaks, if SILENT_PORT is
# set). Its local contexts' ssh and the ProxyJump's read that file too: a
# wrapper first in PATH (OpenSSH finds ~ in the password database, not
# in $HOME). Never the real ~/.ssh. Sets P, K and M2. Extra arguments go
# to the daemon.
own_mount()
{
	K=$T/sshd
	P=$("$SSHD/sshd.sh" start "$K") || fail "sshd did not start: $(cat "$K/sshd.log" 2>/dev/null)"
	TEARDOWN+=("'$SSHD/sshd.sh' stop '$K'")
	mkdir -p "$T/home/.ssh" "$T/bin" "$T/m2"
	local cfg=$T/home/.ssh/config
	{
		printf 'Host %s\n\tHostName 127.0.0.1\n\tPort %s\n\tUser root\n' "${U}sut" "$P"
		printf '\tIdentityFile %s\n\tUserKnownHostsFile %s\n' "$K/id_ed25519" "$K/known_hosts"
		printf 'Host %s\n\tHostName 127.0.0.1\n\tPort %s\n\tProxyJump %s\n' "${U}jumped" "$P" "${U}sut"
		printf '\tIdentityFile %s\n\tUserKnownHostsFile %s\n' "$K/id_ed25519" "$K/known_hosts"
		printf 'Host %s\n\tHostName 127.0.0.1\n\tPort 1\n' "${U}closed"
		[ -z "${SILENT_PORT:-}" ] ||
			printf 'Host %s\n\tHostName 127.0.0.1\n\tPort %s\n' "${U}silent" "$SILENT_PORT"
	} >"$cfg"
	printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$cfg" >"$T/bin/ssh"
	chmod 755 "$T/bin/ssh"
	TEARDOWN+=("fusermount3 -u '$T/m2' 2>/dev/null || fusermount3 -uz '$T/m2' 2>/dev/null || :")
	HOME=$T/home PATH=$T/bin:$PATH "$MITOFS" "$@" "$T/m2" || fail "mount of $T/m2"
	M2=$T/m2
}

# mkdir DIR, failing the test on error; the time it took in ms in TOOK.
mkdir_ok()   # DIR
{
	local t0 out
	t0=$(now_ms)
	out=$(timeout 40 mkdir "$1" 2>&1) ||
		fail "mkdir ${1#"$T"/}: $out; ctl: $(cat "$(dirname "$1")/ctl" 2>&1)"
	TOOK=$(( $(now_ms) - t0 ))
}

test_mkdir_connects_an_ssh_config_alias_and_rmdir_disconnects_it()
{
	own_mount
	local a=$M2/${U}sut info pid
	mkdir_ok "$a"
	echo "# mkdir took $TOOK ms"
	info=$(get "$a/info")
	expect_eq "$(field "$info" state)" connected "state right after mkdir"
	expect_eq "$(field "$info" method)" ssh "method"
	expect_eq "$(field "$info" host)" 127.0.0.1 "HostName from the alias"
	expect_eq "$(field "$info" port)" "$P" "Port from the alias"
	expect_eq "$(field "$info" user)" root "User from the alias"
	expect_write_ok "$a/exec" 'echo "$SSH_CONNECTION" | cut -d" " -f4'
	expect_eq "$(get "$a/stdout")" "$P" "the job ran in the ssh session"
	pid=$(field "$info" pid)
	# Made again: EEXIST, as for any directory.
	local out
	out=$(mkdir "$a" 2>&1) && fail "a second mkdir succeeded"
	expect_eq "$(errno_name "$out")" EEXIST "second mkdir"
	rmdir "$a" || fail "rmdir of the context"
	[ ! -e "$a" ] || fail "$a is still there after rmdir"
	wait_until 5 "the stub $pid to exit" eval '! alive '"$pid"
	expect_contains "$(snap "$M2/log")" "disconnect requested (rmdir)" "log"
	expect_eq "$(ls "$M2" | tr '\n' ' ')" "README ctl groups log stats " "the root after rmdir"
}

test_mkdir_follows_a_proxyjump_of_the_alias()
{
	own_mount
	local a=$M2/${U}jumped
	mkdir_ok "$a"
	expect_eq "$(field "$(get "$a/info")" state)" connected "state"
	pgrep -f -- "-W .*${U}sut" >/dev/null || fail "no ssh -W through the jump host"
	expect_write_ok "$a/exec" 'echo through'
	expect_eq "$(get "$a/stdout")" through "a job through the jump"
	rmdir "$a"
}

test_mkdir_under_a_context_connects_by_that_context_s_ssh()
{
	own_mount
	local a=${U}a
	wr "$M2/ctl" "connect $a local"
	[ "$ERRNO" = OK ] || fail "connect $a: $ERRNO"
	mkdir_ok "$M2/$a/${U}sut"
	local info
	info=$(get "$M2/$a/${U}sut/info")
	expect_eq "$(field "$info" parent_path)" "$a" "parent"
	expect_eq "$(field "$info" method)" ssh "method"
	expect_write_ok "$M2/$a/${U}sut/exec" 'echo "$SSH_CONNECTION" | cut -d" " -f4'
	expect_eq "$(get "$M2/$a/${U}sut/stdout")" "$P" "a job over the stub's ssh"
	# `mkdir -p` of a path below works the same way.
	rmdir "$M2/$a/${U}sut"
	[ ! -e "$M2/$a/${U}sut" ] || fail "still there after rmdir"
	expect_eq "$(field "$(get "$M2/$a/info")" state)" connected "the parent stays"
}

test_mkdir_that_cannot_connect_fails_with_the_reason_and_leaves_nothing()
{
	own_mount
	local out
	out=$(timeout 40 mkdir "$M2/${U}closed" 2>&1) && fail "mkdir of a closed port succeeded"
	expect_contains "$out" "Connection refused" "mkdir's error"
	[ ! -e "$M2/${U}closed" ] || fail "a directory was left"
	expect_contains "$(get "$M2/ctl")" "connect ${U}closed ssh host=${U}closed: ssh: connect to 127.0.0.1 port 1" "ctl"
	# Hidden names are tools' (a desktop's .Trash-0), never a host.
	out=$(mkdir "$M2/.Trash-0" 2>&1) && fail "mkdir .Trash-0 succeeded"
	expect_eq "$(errno_name "$out")" EPERM "mkdir of a hidden name"
	# A bad name is EINVAL, with the reason in ctl.
	out=$(mkdir "$M2/a:b" 2>&1) && fail "mkdir a:b succeeded"
	expect_eq "$(errno_name "$out")" EINVAL "mkdir of a bad name"
	expect_contains "$(get "$M2/ctl")" "bad context name 'a:b'" "ctl"
	# A name with a newline or a blank is refused before it becomes a
	# ctl line: it can add no other line, no other word.
	out=$(mkdir "$M2/${U}x"$'\n'"connect ${U}y local" 2>&1) && fail "mkdir of a name with a newline succeeded"
	expect_eq "$(errno_name "$out")" EINVAL "mkdir of a name with a newline"
	out=$(mkdir "$M2/${U}x local" 2>&1) && fail "mkdir of a name with a blank succeeded"
	expect_eq "$(errno_name "$out")" EINVAL "mkdir of a name with a blank"
	expect_contains "$(get "$M2/ctl")" "mkdir ${U}x local: bad context name" "ctl"
	[ -z "$(ls "$M2" | grep "^${U}[xy]")" ] || fail "contexts were made: $(ls "$M2")"
	# Elsewhere in the tree mkdir is EPERM; rmdir of what is not a
	# context too.
	wr "$M2/ctl" "connect ${U}l local"
	out=$(mkdir "$M2/${U}l/jobs/x" 2>&1) && fail "mkdir in jobs/ succeeded"
	expect_eq "$(errno_name "$out")" EPERM "mkdir in jobs/"
	out=$(rmdir "$M2/${U}l/jobs" 2>&1) && fail "rmdir of jobs/ succeeded"
	expect_eq "$(errno_name "$out")" EPERM "rmdir of jobs/"
	out=$(rmdir "$M2/groups" 2>&1) && fail "rmdir of groups/ succeeded"
	expect_eq "$(errno_name "$out")" EPERM "rmdir of groups/"
}

# Ctrl-C on a mkdir that waits for a host: it returns at once (not a
# process in D state until the connect timeout) and the connect is
# abandoned. The host accepts TCP and never speaks.
test_mkdir_interrupted_returns_at_once_and_abandons_the_connect()
{
	SILENT_PORT=$(( 20000 + RANDOM % 30000 ))
	silent_listener "$SILENT_PORT"
	own_mount
	bg mkdir "$M2/${U}silent"
	local m=$BG_LAST t0
	# (No look into $M2 meanwhile: the kernel holds its lock for mkdir.)
	sleep 1
	alive "$m" || fail "mkdir of a silent host ended by itself"
	t0=$(now_ms)
	kill -TERM "$m"
	wait_until 2 "mkdir to end after SIGTERM" eval '! alive '"$m"
	echo "# mkdir ended $(( $(now_ms) - t0 )) ms after the signal"
	wait_until 3 "the abandoned context to go" test ! -e "$M2/${U}silent"
	expect_contains "$(snap "$M2/log")" "mkdir interrupted" "log"
	# The daemon goes on: a real host connects.
	mkdir_ok "$M2/${U}sut"
}

test_disconnect_patterns_and_star_empty_a_level()
{
	local x
	for x in a1 a2 b1; do connect "${U}$x"; done
	connect "${U}b1/${U}c1"
	connect "${U}b1/${U}c2"
	connect "${U}b1/${U}d"
	expect_write_ok "$M/${U}b1/ctl" "disconnect ${U}c*"
	expect_eq "$(ls -d "$M/${U}b1/${U}"* | sed 's|.*/||' | tr '\n' ' ')" "${U}d " "children after disconnect ${U}c*"
	expect_write_ok "$M/ctl" "disconnect ${U}a[1-2]"
	expect_eq "$(ls -d "$M/${U}"* | sed 's|.*/||' | tr '\n' ' ')" "${U}b1 " "after disconnect ${U}a[1-2]"
	# A pattern that matches nothing has nothing to do.
	expect_write_ok "$M/ctl" "disconnect ${U}zz*"
	expect_write_ok "$M/${U}b1/${U}d/ctl" "disconnect *"
	expect_write_errno EINVAL "$M/ctl" "disconnect ${U}b1/*"
	expect_write_errno EINVAL "$M/ctl" "disconnect [b-"
	expect_write_ok "$M/ctl" "disconnect *"
	expect_eq "$(ls "$M" | tr '\n' ' ')" "README ctl groups log stats " "the root after disconnect *"
	wait_until 5 "every stub to exit" eval '[ -z "$(live_pgrep -f "mitofs:$U")" ]'
	expect_write_ok "$M/ctl" "disconnect *"
}

test_connect_file_at_mount_runs_each_line_and_logs_failures()
{
	local m=$T/m3 f=$T/fleet
	mkdir "$m"
	cat >"$f" <<EOF
# a fleet of two, and two lines that fail
connect ${U}f1 local

connect ${U}f2 nosuchmethod
  connect ${U}f3 local
disconnect ${U}nothere
EOF
	TEARDOWN+=("fusermount3 -u '$m' 2>/dev/null || fusermount3 -uz '$m' 2>/dev/null || :")
	"$MITOFS" -o "connect=$f" "$m" || fail "mount with connect=$f"
	wait_until 10 "the summary line" eval 'snap "$m/log" | grep -q "connect=$f: 4 lines, 2 failed"'
	expect_eq "$(ls -d "$m/${U}"* | sed 's|.*/||' | tr '\n' ' ')" "${U}f1 ${U}f3 " "contexts"
	expect_eq "$(field "$(get "$m/${U}f3/info")" state)" connected "f3"
	local log
	log=$(snap "$m/log")
	expect_contains "$log" "unknown method 'nosuchmethod'" "the failed connect in the log"
	expect_contains "$log" "no context '${U}nothere'" "the failed disconnect in the log"
	# A file that cannot be read stops the mount, with the reason.
	local out rc=0
	mkdir "$T/m4"
	out=$(timeout 10 "$MITOFS" -o "connect=$T/missing" "$T/m4" 2>&1) || rc=$?
	(( rc == 1 )) || { fusermount3 -u "$T/m4"; fail "connect=missing: exit $rc, want 1"; }
	expect_contains "$out" "connect=$T/missing: No such file or directory" "message"
}

# mount -a with a file of fstab lines (-T): `type fuse.mitofs`, the
# fleet in connect=. mount(8) runs mount.fuse3, which runs `mitofs` by
# sh's default PATH (mount passes none): in a mount namespace of the
# test's own, /usr/local/sbin is a tmpfs holding a link to the daemon.
test_an_fstab_line_mounts_with_mount_a()
{
	local m=$T/m3 m4=$T/m4 f=$T/fleet
	mkdir "$m" "$m4"
	printf 'connect %s local\n' "${U}f1" >"$f"
	# The type fuse.mitofs, and the older form mitofs#SOURCE of type fuse.
	{
		printf '%s %s fuse.mitofs connect=%s,clone_grace=5,nosuid,nodev,noatime 0 0\n' \
			"${U}fleet" "$m" "$f"
		printf 'mitofs#%s %s fuse connect=%s,nofail 0 0\n' "${U}old" "$m4" "$f"
	} >"$T/fstab"
	M3=$m M4=$m4 U=$U MITOFS=$MITOFS FSTAB=$T/fstab timeout 40 unshare -m --propagation private \
		bash -c "$(declare -f get rd errno_name field wait_until now_ms fail expect_eq expect_contains)"'
		set -eu
		# A failure below must not leave the daemons behind the
		# namespace: their mounts are only here.
		trap '"'"'umount "$M3" 2>/dev/null || :; umount "$M4" 2>/dev/null || :'"'"' EXIT
		mount -t tmpfs tmpfs /usr/local/sbin
		ln -s "$MITOFS" /usr/local/sbin/mitofs
		mount -a -T "$FSTAB" || fail "mount -a -T $FSTAB"
		expect_eq "$(findmnt -n -o SOURCE,FSTYPE "$M3")" "${U}fleet fuse.mitofs" "findmnt"
		expect_contains "$(findmnt -n -o OPTIONS "$M3")" "noatime" "mount flags"
		wait_until 10 "${U}f1 to connect" test -d "$M3/${U}f1"
		expect_eq "$(field "$(get "$M3/${U}f1/info")" state)" connected "f1"
		expect_eq "$(findmnt -n -o SOURCE,FSTYPE "$M4")" "${U}old fuse.mitofs" "findmnt of mitofs#"
		wait_until 10 "${U}f1 to connect on the second mount" test -d "$M4/${U}f1"
		umount "$M3" || fail "umount"
		umount "$M4" || fail "umount of the second"
		if findmnt "$M3" >/dev/null; then fail "still mounted after umount"; fi
		echo mounted-and-unmounted' >"$T/ns.out" 2>&1 || fail "in the namespace: $(cat "$T/ns.out")"
	expect_contains "$(cat "$T/ns.out")" mounted-and-unmounted "the steps in the namespace"
}

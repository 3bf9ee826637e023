# t_nonroot.sh — a user who is not root mounts mitofs (through the
# setuid fusermount3, as with sshfs), connects a local and an ssh context
# and uses them; another user, and root, cannot look into that mount.
# /dev/fuse is opened to users for the test and given its mode back; the
# user, its home and its sshd are the test's own (docs/security.md).

SSHD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)

limit_test_a_user_mounts_and_uses_local_and_ssh_contexts=90

# A throw-away user with a home; sets NR (name) and NRH (home).
make_mounting_user()
{
	NR=mn${U//[^a-z0-9]/}$RANDOM
	NR=${NR:0:30}
	useradd -m -s /bin/sh "$NR" || fail "useradd $NR"
	TEARDOWN+=("pkill -9 -u '$NR'; userdel -r '$NR'")
	# A new account is locked ("!"), and sshd then refuses even a key.
	echo "$NR:pw-$U$RANDOM" | chpasswd || fail "chpasswd"
	NRH=$(getent passwd "$NR" | cut -d: -f6)
}

# COMMAND as that user, with a clean environment of its own.
as_user()   # COMMAND...
{
	setpriv --reuid="$NR" --regid="$NR" --init-groups -- \
		env -i HOME="$NRH" USER="$NR" LOGNAME="$NR" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LC_ALL=C "$@"
}

# /dev/fuse readable by every user (a distribution's usual 0666) for
# the test, its own mode back afterwards.
open_dev_fuse()
{
	local mode
	mode=$(stat -c %a /dev/fuse)
	TEARDOWN+=("chmod $mode /dev/fuse")
	chmod 666 /dev/fuse
}

test_a_user_mounts_and_uses_local_and_ssh_contexts()
{
	open_dev_fuse
	make_mounting_user
	chmod 711 "$T/.." "$T"
	local um=$T/um uid
	uid=$(id -u "$NR")
	mkdir "$um"
	chown "$NR" "$um"
	as_user "$MITOFS" "$um" || fail "the user could not mount"
	TEARDOWN+=("setpriv --reuid=$uid --regid=$uid --clear-groups fusermount3 -u '$um' || fusermount3 -uz '$um'")
	# The daemon is the user's.
	local dpid
	dpid=$(pgrep -u "$uid" -x -f -- ".*mitofs $um") || fail "no daemon of the user's"
	expect_eq "$(stat -c %u "/proc/$dpid")" "$uid" "daemon's owner"

	# A local context: its stub, its jobs and its fs/ are the user's.
	as_user sh -c "echo 'connect ${U}l local' > '$um/ctl'" || fail "connect local"
	as_user sh -c "echo 'id -u' > '$um/${U}l/exec'"
	expect_eq "$(as_user timeout 10 cat "$um/${U}l/stdout")" "$uid" "the job's uid"
	expect_eq "$(as_user timeout 10 cat "$um/${U}l/status")" "exit 0" "the job's status"
	as_user sh -c "echo hi > '$um/${U}l/fs$NRH/f'"
	expect_eq "$(stat -c %u "$NRH/f")" "$uid" "owner of a file made through fs/"
	[ ! -e "$um/${U}l/fs/root/.nonroot-probe" ] || fail "setup"
	if as_user sh -c ": > '$um/${U}l/fs/root/.nonroot-probe'" 2>/dev/null; then
		rm -f /root/.nonroot-probe
		fail "the user's context wrote into /root"
	fi

	# An ssh context to the test's sshd, logging in as the user.
	local K=$T/sshd P
	P=$("$SSHD/sshd.sh" start "$K") || fail "sshd did not start"
	TEARDOWN+=("'$SSHD/sshd.sh' stop '$K'")
	# sshd reads the keys file as the user logging in.
	chmod 711 "$K"
	chmod 644 "$K/authorized_keys"
	install -o "$NR" -m 600 "$K/id_ed25519" "$NRH/id"
	install -o "$NR" -m 644 "$K/known_hosts" "$NRH/kh"
	as_user sh -c "echo 'connect ${U}s ssh host=127.0.0.1 port=$P user=$NR identity=$NRH/id known_hosts=$NRH/kh' > '$um/ctl'" ||
		fail "connect ssh: $(as_user cat "$um/ctl")"
	as_user sh -c "echo 'id -un' > '$um/${U}s/exec'"
	expect_eq "$(as_user timeout 10 cat "$um/${U}s/stdout")" "$NR" "the ssh job's user"
	expect_eq "$(as_user timeout 10 cat "$um/${U}s/fs$NRH/f")" "hi" "a file through ssh fs/"

	# Nobody else gets in: another user, and root (no allow_other).
	local out
	out=$(setpriv --reuid=60102 --regid=60102 --clear-groups stat "$um" 2>&1) &&
		fail "another user could stat the mount: $out"
	expect_eq "$(errno_name "$out")" EACCES "another user's stat of the mount"
	out=$(setpriv --reuid=60102 --regid=60102 --clear-groups cat "$um/${U}l/info" 2>&1) &&
		fail "another user read info"
	expect_eq "$(errno_name "$out")" EACCES "another user's read of info"
	out=$(ls "$um" 2>&1) && fail "root could list the user's mount: $out"
	expect_eq "$(errno_name "$out")" EACCES "root's ls of the mount"
	# ...and a user cannot ask for allow_other without fuse.conf's consent.
	mkdir "$T/um2"
	chown "$NR" "$T/um2"
	if grep -q '^user_allow_other' /etc/fuse.conf 2>/dev/null; then
		:
	elif as_user "$MITOFS" -o allow_other "$T/um2" 2>/dev/null; then
		as_user fusermount3 -u "$T/um2"
		fail "allow_other was granted to a user without user_allow_other"
	fi
}

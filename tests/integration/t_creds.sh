# t_creds.sh — credential forwarding: through a context whose stub runs
# as root, on a mount with allow_other, each fs/ operation acts with the
# calling process's uid, gid and groups. Two unprivileged users (ids with
# no passwd entry: setpriv needs none, and the kernel checks numbers)
# run the same POSIX operations in a directory reached directly and in
# an identical one reached through the mount; every result (errno,
# owner, group, mode) must be the same. docs/security.md, "Credentials".

SSHD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)

opts_test_root_context_acts_as_each_caller_like_the_real_filesystem="-o allow_other"
opts_test_root_ssh_context_acts_as_each_caller="-o allow_other"
opts_test_jobs_of_a_forwarding_context_keep_their_own_credentials="-o allow_other"
opts_test_creds_context_keeps_the_stubs_rights="-o allow_other,creds=context"

# Users A and B, each in a group of its own and in the shared group GS.
UA=60101 UB=60102 GS=60103

# The users must reach T and M: the run's temp dir is 0700.
open_paths()
{
	chmod 711 "$T/.."
	chmod 755 "$T"
}

as()   # A|B COMMAND...
{
	local u=$UA
	[ "$1" = B ] && u=$UB
	shift
	setpriv --reuid="$u" --regid="$u" --groups="$u,$GS" -- "$@"
}

# "LABEL RESULT": OK, the errno name of COMMAND run as WHO with UMASK in
# the current directory, or FALSE (a test(1) that said no).
try()   # LABEL WHO UMASK COMMAND...
{
	local label=$1 who=$2 um=$3 out
	shift 3
	if out=$(as "$who" bash -c 'umask "$1"; shift; "$@"' _ "$um" "$@" 2>&1); then
		echo "$label OK"
	elif [ -z "$out" ]; then
		echo "$label FALSE"
	else
		echo "$label $(errno_name "$out")"
	fi
}

# Owner, group and mode of each NAME, or its errno as root sees it.
owners()   # NAME...
{
	local f
	for f in "$@"; do
		echo "stat $f $(stat -c '%u:%g %a %F' "$f" 2>&1 | sed 's/.*: //')"
	done
}

# The starting state, made by root (chown'd to the test users).
make_tree()   # DIR
{
	mkdir -p "$1"
	cd "$1"
	mkdir pub a_only shared ro
	chmod 1777 pub
	chown "$UA:$UA" a_only
	chmod 700 a_only
	echo secret > a_only/x
	chown "$UA:$UA" a_only/x
	chown "0:$GS" shared
	chmod 2775 shared
	echo root > ro/f
	chmod 644 ro/f
	cd - >/dev/null
}

# The POSIX checks, in DIR; prints one line per step.
posix_ops()   # DIR
{
	cd "$1"
	try "A mkdir pub/a1" A 022 mkdir pub/a1
	try "A create pub/a1/f" A 077 touch pub/a1/f
	try "B unlink in A's dir" B 022 rm -f pub/a1/f
	try "A create pub/af" A 000 touch pub/af
	try "B unlink A's file in a sticky dir" B 022 rm -f pub/af
	try "B rename A's file in a sticky dir" B 022 mv pub/af pub/bf
	try "B write A's 0666 file" B 022 sh -c 'echo b >> pub/af'
	try "A stat a_only/x" A 022 stat pub/a1 a_only/x
	try "B stat a_only/x (no search)" B 022 stat a_only/x
	try "B list a_only" B 022 ls a_only
	try "B read a_only/x" B 022 cat a_only/x
	try "A read a_only/x" A 022 cat a_only/x
	try "A create in setgid dir" A 002 touch shared/s
	try "A mkdir in setgid dir" A 002 mkdir shared/sd
	try "B create in root's dir" B 022 touch ro/g
	try "B write root's 0644 file" B 022 sh -c 'echo b >> ro/f'
	try "B truncate root's file" B 022 truncate -s 0 ro/f
	try "B access(W) root's file" B 022 test -w ro/f
	try "A access(W) own file" A 022 test -w pub/a1/f
	try "A chown to B" A 022 chown "$UB" pub/a1
	try "A chgrp to shared group" A 022 chgrp "$GS" pub/a1
	try "A chgrp to B's group" A 022 chgrp "$UB" pub/a1
	try "B chmod A's dir" B 022 chmod 777 pub/a1
	try "A chmod g+s with a group it is in" A 022 chmod 2755 pub/a1
	try "B hard link to root's file" B 022 ln ro/f pub/hl
	try "A symlink" A 022 ln -s ro/f pub/sl
	try "A mkfifo" A 022 mkfifo pub/fifo
	try "A rename own file" A 022 mv pub/af pub/af2
	try "B rmdir A's dir" B 022 rmdir pub/a1
	try "A utimes root's file" A 022 touch -m -d @1000 ro/f
	try "A utime-now own file" A 022 touch pub/af2
	owners pub/a1 pub/a1/f pub/af2 pub/bf shared/s shared/sd pub/sl pub/fifo pub/hl ro/g ro/f
	cd - >/dev/null
}

# Both runs side by side; fails on the first line that differs.
compare()   # DIRECT_OUT MOUNT_OUT
{
	if ! diff "$1" "$2" >"$T/diff"; then
		fail "through the mount differs from the real filesystem (< direct, > mount):
$(cat "$T/diff")"
	fi
}

test_root_context_acts_as_each_caller_like_the_real_filesystem()
{
	open_paths
	connect "${U}l"
	make_tree "$T/direct"
	make_tree "$T/via"
	posix_ops "$T/direct" >"$T/direct.out"
	posix_ops "$M/${U}l/fs$T/via" >"$T/via.out"
	compare "$T/direct.out" "$T/via.out"
	# The comparison is not vacuous: the files are the users'.
	expect_contains "$(cat "$T/via.out")" "stat pub/a1 $UA:$GS 2755 directory" "A's dir"
	expect_contains "$(cat "$T/via.out")" "stat shared/s $UA:$GS 664 regular empty file" \
		"setgid inheritance and umask"
	expect_contains "$(cat "$T/via.out")" "B unlink A's file in a sticky dir EPERM" "sticky"
}

test_root_ssh_context_acts_as_each_caller()
{
	open_paths
	local K=$T/sshd P
	P=$("$SSHD/sshd.sh" start "$K") || fail "sshd did not start"
	TEARDOWN+=("'$SSHD/sshd.sh' stop '$K'")
	connect "${U}s" ssh host=127.0.0.1 port="$P" identity="$K/id_ed25519" \
		known_hosts="$K/known_hosts"
	make_tree "$T/direct"
	make_tree "$T/via"
	posix_ops "$T/direct" >"$T/direct.out"
	posix_ops "$M/${U}s/fs$T/via" >"$T/via.out"
	compare "$T/direct.out" "$T/via.out"
	expect_contains "$(cat "$T/via.out")" "stat pub/a1/f $UA:$UA 600" "A's file"
}

# The stub goes back to its own rights for anything but an fs call: a
# job started after a user's fs calls is root with root's groups.
test_jobs_of_a_forwarding_context_keep_their_own_credentials()
{
	open_paths
	connect "${U}l"
	mkdir "$T/j"
	chmod 1777 "$T/j"
	as A touch "$M/${U}l/fs$T/j/a"
	expect_eq "$(stat -c %u "$T/j/a")" "$UA" "owner of A's file"
	local n st
	n=$(start_job "${U}l" "grep -E '^(Uid|Gid|Groups):' /proc/self/status; touch $T/j/job")
	expect_eq "$(get "$M/${U}l/jobs/$n/status" 10)" "exit 0" "job status"
	st=$(get "$M/${U}l/jobs/$n/stdout")
	expect_match "$(grep ^Uid <<<"$st")" $'^Uid:\t0\t0\t0\t0$' "job uids (fsuid last)"
	expect_match "$(grep ^Gid <<<"$st")" $'^Gid:\t0\t0\t0\t0$' "job gids"
	[[ $(grep ^Groups <<<"$st") != *"$GS"* ]] || fail "the job has A's groups: $st"
	expect_eq "$(stat -c %u:%g "$T/j/job")" "0:0" "owner of the job's file"
	# ...and A's next call acts as A again.
	as A mkdir "$M/${U}l/fs$T/j/d"
	expect_eq "$(stat -c %u "$T/j/d")" "$UA" "owner of A's dir after the job"
}

# creds=context: the stub keeps its own (root's) rights for everyone, as
# documented; the kernel still checks the modes it shows (default_permissions).
test_creds_context_keeps_the_stubs_rights()
{
	open_paths
	connect "${U}l"
	mkdir "$T/c"
	chmod 1777 "$T/c"
	as A sh -c ": > '$M/${U}l/fs$T/c/a'"
	expect_eq "$(stat -c %u "$T/c/a")" 0 "owner of A's file under creds=context"
}

# A context whose stub is not root keeps its user's rights for every
# caller: it cannot act as anyone else (here nobody, through sudo).
opts_test_a_non_root_context_keeps_its_users_rights="-o allow_other"
test_a_non_root_context_keeps_its_users_rights()
{
	open_paths
	connect "${U}l"
	connect "${U}l/${U}n" sudo user=nobody
	mkdir "$T/n"
	chmod 1777 "$T/n"
	as A sh -c ": > '$M/${U}l/${U}n/fs$T/n/a'"
	expect_eq "$(stat -c %U "$T/n/a")" nobody "owner of A's file through nobody's context"
	# Root's own call there is nobody's too.
	local out
	out=$(: 2>&1 >"$M/${U}l/${U}n/fs/root/.mitofs-probe") && {
		rm -f /root/.mitofs-probe
		fail "nobody's context wrote into /root"
	}
	expect_eq "$(errno_name "$out")" EACCES "root's write into /root through nobody's context"
}

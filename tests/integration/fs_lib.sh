# fs_lib.sh — what the fs/ test files share (sourced by t_fs*.sh): a
# context with a real scratch directory and the same directory through
# the mount, a private sshd, and python errno probes.

SSHD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)

# --- set-up the tests share, torn down at exit ---

# (lib.sh runs TEARDOWN, last first, when a test ends.)

# A context (local by default) and a real directory to work in; sets
# C (the context's path under the mount), F (its fs/), R (the real
# directory, empty) and V (R through the mount). V itself is not looked
# up here: a test that compares attributes prepares R first, so that
# nothing it compares was cached before a change made on the real path.
fs_ctx()   # [METHOD [k=v...]]
{
	C=${U}l
	connect "$C" "$@"
	F=$M/$C/fs
	R=$T/r
	mkdir -p "$R"
	V=$F$R
	[ -d "$F/tmp" ] || fail "no /tmp through $C/fs"
}

# A private sshd on loopback (sets P, K), then an ssh context to it as
# root on this machine: its "/" is ours, so R and V are as for local.
fs_ssh_ctx()
{
	K=$T/sshd
	P=$("$SSHD/sshd.sh" start "$K") || fail "sshd did not start: $(cat "$K/sshd.log" 2>/dev/null)"
	TEARDOWN+=("'$SSHD/sshd.sh' stop '$K'")
	fs_ctx ssh host=127.0.0.1 port="$P" identity="$K/id_ed25519" known_hosts="$K/known_hosts"
	expect_eq "$(field "$(get "$M/$C/info")" method)" ssh "method"
}

# Runs python statements with os, sys, errno, stat, ctypes imported and
# the arguments in A; prints OK, or the errno name of the OSError that
# ended them. Bounded by 20 s (prints TIMEOUT).
py_errno()   # CODE [ARGS...]
{
	local code=$1 out rc=0
	shift
	out=$(timeout -k 1 20 python3 -c "
import os, sys, errno, stat, ctypes
A = [os.fsencode(x) for x in sys.argv[1:]]
try:
$(sed 's/^/    /' <<<"$code")
    print('OK')
except OSError as e:
    print(errno.errorcode.get(e.errno, 'errno %d' % e.errno))
" "$@" 2>&1) || rc=$?
	(( rc == 124 || rc == 137 )) && out=TIMEOUT
	printf '%s\n' "$out"
}

expect_py_errno()   # WANT WHAT CODE [ARGS...]
{
	local want=$1 what=$2 got
	shift 2
	got=$(py_errno "$@")
	[ "$got" = "$want" ] || fail "$what: got '$got', want $want"
}

# 0 when the file system of FILE takes user xattrs; otherwise says SKIP
# (or fails, when the reason is not "not supported") and returns 1.
user_xattrs_or_skip()   # FILE
{
	local why
	if why=$(python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.probe", b"1")' "$1" 2>&1); then
		python3 -c 'import os, sys; os.removexattr(sys.argv[1], "user.probe")' "$1"
		return 0
	fi
	[[ $why == *"Operation not supported"* ]] || fail "setxattr on the real path: ${why##*$'\n'}"
	echo "SKIP: the filesystem of $1 has no user xattrs"
	return 1
}

# lib.sh — what every integration test body runs inside: assertions,
# timed reads, errno checks, context and job helpers.
#
# Not run directly. run.sh executes `bash lib.sh FILE TEST` under
# `timeout`, with these in the environment:
#   M       the fresh mount (already mounted by run.sh)
#   U       a prefix unique to this test run: name every context "${U}x",
#           so that `pgrep -f mitofs:$U` finds exactly this test's stubs
#   T       a scratch directory (not in the mount), removed afterwards
#   MITOFS  the daemon binary
#   DAEMON_PID  the daemon's pid (also its session id: stubs and their
#           jobs are in that session)
# A test is a function test_NAME in a t_*.sh file. It fails by calling
# fail (or by any command failing: errexit + an ERR trap that names the
# line); it passes by returning. Background processes it starts with bg
# are killed when it ends, pass or fail.

# --- failing ---

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

_on_err()
{
	local rc=$1 line=$2 cmd=$3
	# A subshell that failed by calling fail has said why already.
	[ "$cmd" = "exit 1" ] && exit 1
	fail "line $line: '$cmd' exited $rc"
}

# --- assertions ---

expect_eq()   # GOT WANT WHAT
{
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

expect_match()   # GOT ERE WHAT
{
	[[ $1 =~ $2 ]] || fail "$3: '$1' does not match /$2/"
}

expect_contains()   # TEXT NEEDLE WHAT
{
	local shown=$1
	(( ${#shown} <= 400 )) || shown="${shown:0:200} [...] ${shown: -200}"
	[[ $1 == *"$2"* ]] || fail "$3: '$2' not found in: $shown"
}

# Field KEY of an info-like "key: value" text.
field()   # TEXT KEY
{
	local line
	while IFS= read -r line; do
		if [[ $line == "$2: "* ]]; then
			printf '%s\n' "${line#"$2: "}"
			return 0
		fi
	done <<<"$1"
	return 1
}

# --- time ---

# pgrep for processes still running. An exited stub whose parent died
# (the daemon killed) stays a zombie until init reaps it, and pgrep -f
# matches a zombie by its comm, which a stub sets to mitofs:NAME too.
live_pgrep() { pgrep -r R,S,D,T,t,I "$@"; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Polls COMMAND every 50 ms for up to SECS seconds; fails with WHAT.
wait_until()   # SECS WHAT COMMAND...
{
	local secs=$1 what=$2
	shift 2
	local end=$(( $(now_ms) + secs * 1000 ))
	until "$@"; do
		if (( $(now_ms) > end )); then
			fail "timed out after ${secs}s waiting for: $what"
		fi
		sleep 0.05
	done
}

# --- errno of a failed write, open or read ---

# The errno name for the text of a strerror (the part after the last ": ").
errno_name()
{
	local msg=${1##*: }
	msg=${msg%$'\n'}
	case $msg in
	"Invalid argument") echo EINVAL ;;
	"No such file or directory") echo ENOENT ;;
	"File exists") echo EEXIST ;;
	"Input/output error") echo EIO ;;
	"Permission denied") echo EACCES ;;
	"Operation not permitted") echo EPERM ;;
	"Device or resource busy") echo EBUSY ;;
	"No such process") echo ESRCH ;;
	"Broken pipe") echo EPIPE ;;
	"Interrupted system call") echo EINTR ;;
	"No data available") echo ENODATA ;;
	"Is a directory") echo EISDIR ;;
	"Not a directory") echo ENOTDIR ;;
	"Transport endpoint is not connected") echo ENOTCONN ;;
	"Resource temporarily unavailable") echo EAGAIN ;;
	"Connection refused") echo ECONNREFUSED ;;
	*) echo "?($msg)" ;;
	esac
}

# Writes TEXT and a newline to FILE in one write(2) (bash's own echo and
# printf write a multi-line text line by line; cat writes it whole); sets
# ERRNO to OK or the errno name, ERRTEXT to the message. Never fails itself.
wr()   # FILE TEXT
{
	local out tmp=$T/.wr.$BASHPID
	printf '%s\n' "$2" >"$tmp"
	out=$( { cat "$tmp" >"$1"; } 2>&1 ) && ERRNO=OK || ERRNO=$(errno_name "$out")
	ERRTEXT=$out
	rm -f "$tmp"
}

expect_write_errno()   # ERRNO FILE TEXT
{
	wr "$2" "$3"
	[ "$ERRNO" = "$1" ] || fail "write '$3' > ${2#"$M"/}: got $ERRNO, want $1 ($ERRTEXT)"
}

expect_write_ok()   # FILE TEXT
{
	expect_write_errno OK "$1" "$2"
}

# Reads FILE (cat, bounded by SECS, default 10); sets OUT, ERRNO (OK, the
# errno name, or TIMEOUT), and never fails itself.
rd()   # FILE [SECS]
{
	local err=$T/.rd.err rc=0
	OUT=$(timeout -k 1 "${2:-10}" cat "$1" 2>"$err") || rc=$?
	if (( rc == 0 )); then
		ERRNO=OK
	elif (( rc == 124 || rc == 137 )); then
		ERRNO=TIMEOUT
	else
		ERRNO=$(errno_name "$(head -n1 "$err")")
	fi
}

# Reads FILE, failing unless it reads whole within SECS (default 10).
get()   # FILE [SECS]
{
	rd "$@"
	[ "$ERRNO" = OK ] || fail "read ${1#"$M"/}: $ERRNO"
	printf '%s\n' "$OUT"
}

# What a file that follows (a log) holds now, without waiting for more:
# its size is what was written so far, so read exactly that much.
snap()   # FILE
{
	local size
	size=$(stat -c %s "$1")
	timeout 5 head -c "$size" "$1"
}

# --- contexts and jobs ---

# Connects NAME (a full path below the mount, e.g. "${U}a/${U}b") by METHOD
# (default local), failing the test on error.
connect()   # PATH [METHOD [k=v...]]
{
	local path=$1 method=${2:-local}
	shift $(( $# > 1 ? 2 : 1 ))
	local parent=$M
	[[ $path == */* ]] && parent=$M/${path%/*}
	wr "$parent/ctl" "connect ${path##*/} $method${*:+ $*}"
	[ "$ERRNO" = OK ] || fail "connect $path: $ERRNO ($ERRTEXT); ctl says: $(cat "$parent/ctl" 2>&1)"
	[ -d "$M/$path" ] || fail "connect $path: no directory after a successful connect"
}

# The pid of the stub of context PATH, from its info.
stub_pid()   # PATH
{
	local info
	info=$(get "$M/$1/info")
	field "$info" pid || fail "no pid in $1/info"
}

# Creates a job under context PATH and prints its number.
new_job()   # PATH
{
	local n
	n=$(timeout 10 cat "$M/$1/jobs/new") || fail "read $1/jobs/new failed"
	[[ $n =~ ^[0-9]+$ ]] || fail "jobs/new gave '$n'"
	echo "$n"
}

# Creates and starts a job running CMD under PATH; prints its number.
start_job()   # PATH CMD
{
	local n
	n=$(new_job "$1")
	wr "$M/$1/jobs/$n/cmd" "$2"
	[ "$ERRNO" = OK ] || fail "cmd '$2' on $1: $ERRNO ($ERRTEXT)"
	echo "$n"
}

# True while a process exists and is not a zombie.
alive()   # PID
{
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $st != Z* ]]
}

# Background processes of the test: started with bg, killed at the end.
BG_PIDS=()
bg()   # COMMAND...
{
	"$@" &
	BG_PIDS+=($!)
	BG_LAST=$!
}

# A TCP listener on 127.0.0.1:PORT that accepts and never speaks (a
# host whose link went silent), in the background; returns once it
# listens.
silent_listener()   # PORT
{
	bg python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held = []
while True:
    c, _ = s.accept(); held.append(c)' "$1"
	wait_until 10 "the silent listener on port $1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1"
}

# PID and all its descendants, children first.
descendants()   # PID
{
	local c
	# ps exits 1 when PID has no children: not an error here (under
	# errtrace it would fire the test's ERR trap).
	for c in $(ps -o pid= --ppid "$1" || true); do
		descendants "$c"
	done
	echo "$1"
}

# Commands a test queues to undo what it set up (a private sshd, users,
# network namespaces, extra mounts): run last first when the test ends,
# pass or fail.
TEARDOWN=()

_cleanup()
{
	local rc=$? p pids=() i
	trap - ERR
	set +e
	for (( i = ${#TEARDOWN[@]} - 1; i >= 0; i-- )); do
		eval "${TEARDOWN[i]}" >/dev/null 2>&1
	done
	for p in "${BG_PIDS[@]}"; do
		pids+=($(descendants "$p"))
	done
	[ ${#pids[@]} = 0 ] || kill -9 "${pids[@]}" 2>/dev/null
	wait 2>/dev/null
	exit "$rc"
}

# --- entry point (run.sh runs: bash lib.sh FILE TEST) ---

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -eEu
	export LC_ALL=C
	: "${M:?}" "${U:?}" "${T:?}" "${DAEMON_PID:?}"
	# shellcheck source=/dev/null
	source "$1"
	trap 'rc=$?; [ "${_IN_ERR:-}" ] || { _IN_ERR=1; _on_err "$rc" "$LINENO" "$BASH_COMMAND"; }' ERR
	trap _cleanup EXIT
	cd "$T"
	"$2"
fi

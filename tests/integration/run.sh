#!/usr/bin/env bash
# run.sh — the integration suite: every test_* function of every
# tests/integration/t_*.sh, each in its own fresh mount.
#
#   MITOFS=/abs/path/build/mitofs tests/integration/run.sh [REGEX]
#
# REGEX (optional) selects tests by name; TIMES=1 prints each test's time. For each test: a temp dir, a
# mount by the real daemon (daemonized, as a user runs it), the test body
# under `timeout`, then an unmount (fusermount3 -u, -uz as a last resort),
# a wait for the daemon to exit and a check that nothing of that mount is
# left: no process in the daemon's session (stubs, their jobs) and none
# whose command line names this test's contexts or temp dir (the mount,
# the scratch dir and whatever helpers a test started there).
# A test file may set opts_<test>="-o ..." for that test's mount.
# Prints "ok NAME" or "FAIL NAME: reason" plus the captured output, then
# "N passed, N failed"; exits 1 if any failed.
# Needs bash, coreutils, procps and fuse3 (python3 only for the tests
# of poll and of interrupted reads).
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
TEST_TIMEOUT=${TEST_TIMEOUT:-60}
FILTER=${1:-}

if [ -z "${MITOFS:-}" ] || [ ! -x "$MITOFS" ]; then
	echo "run.sh: set MITOFS to the absolute path of build/mitofs" >&2
	exit 2
fi
case $MITOFS in /*) ;; *) MITOFS=$PWD/$MITOFS ;; esac
export MITOFS

passed=0
failed=0
start=$SECONDS
CUR_MNT=

# Interrupted: leave no mount behind.
on_signal()
{
	trap - INT TERM
	if [ -n "$CUR_MNT" ]; then
		fusermount3 -u "$CUR_MNT" 2>/dev/null || fusermount3 -uz "$CUR_MNT" 2>/dev/null
	fi
	echo "interrupted: $passed passed, $failed failed so far" >&2
	exit 130
}
trap on_signal INT TERM

# S with the characters special in an ERE escaped.
ere_quote()   # S
{
	printf '%s' "$1" | sed 's/[][\\.^$*+?(){}|]/\\&/g'
}

is_mounted()   # DIR
{
	local dev mnt rest
	while read -r dev mnt rest; do
		[ "$mnt" = "$1" ] && return 0
	done </proc/self/mounts
	return 1
}

# Pids (not zombies) in session SID, or whose command line matches ERE.
leftovers()   # SID ERE
{
	local pid sid stat args
	while read -r pid sid stat args; do
		[[ $stat == Z* ]] && continue
		[ "$pid" = "$$" ] && continue
		if [ "$sid" = "$1" ] || [[ $args =~ $2 ]]; then
			echo "$pid $stat $args"
		fi
	done < <(ps -e -o pid=,sid=,stat=,args=)
}

unmount()   # DIR: 0 if it is no longer mounted
{
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		is_mounted "$1" || return 0
		fusermount3 -u "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "unmount: fusermount3 -u $1 kept failing; lazy unmount" >&2
	fusermount3 -uz "$1"
	return 1
}

# The text of the reason a test failed, from its captured output.
reason_of()   # OUTFILE RC
{
	local r
	r=$(grep -m1 '^FAIL: ' "$1" | cut -c7-)
	if (( $2 == 124 || $2 == 137 )); then
		echo "timed out after ${TEST_TIMEOUT}s${r:+ ($r)}"
	elif [ -n "$r" ]; then
		echo "$r"
	else
		echo "exit $2"
	fi
}

run_one()   # FILE TEST
{
	local file=$1 name=$2
	local tmp mnt u out opts dpid rc=0 problems=() t0 t1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/mitofs-it.XXXXXX")
	mnt=$tmp/m
	u=u${tmp##*.}-
	out=$tmp/out
	mkdir "$mnt" "$tmp/scratch"
	: >"$out"
	CUR_MNT=$mnt
	opts=$(bash -c 'source "$1" >/dev/null 2>&1; v=opts_$2; echo "${!v:-}"' _ "$file" "$name")
	# A test may ask for more time: limit_NAME=SECONDS in its file.
	local limit
	limit=$(bash -c 'source "$1" >/dev/null 2>&1; v=limit_$2; echo "${!v:-}"' _ "$file" "$name")
	limit=${limit:-$TEST_TIMEOUT}
	t0=$(date +%s%N)

	# A daemon built with sanitizers reports to files here: once it has
	# daemonized its stderr is /dev/null.
	local san=$tmp/san
	# shellcheck disable=SC2086
	if ! ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$san \
	     UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$san \
	     timeout 30 "$MITOFS" $opts "$mnt" >>"$out" 2>&1; then
		problems+=("mount failed")
	fi
	dpid=$(pgrep -o -x -f -- "$(ere_quote "$MITOFS")( .*)? $(ere_quote "$mnt")")
	if [ -z "$dpid" ] && [ ${#problems[@]} = 0 ]; then
		problems+=("no daemon process found after mounting")
	fi

	if [ ${#problems[@]} = 0 ]; then
		(cd "$tmp/scratch" && M=$mnt U=$u T=$tmp/scratch DAEMON_PID=$dpid \
			timeout -k 5 "$limit" bash "$HERE/lib.sh" "$file" "$name") \
			</dev/null >>"$out" 2>&1 || rc=$?
		(( rc == 0 )) || problems+=("$(reason_of "$out" "$rc")")
	fi

	if ! unmount "$mnt" >>"$out" 2>&1; then
		problems+=("mount was busy: lazy unmount needed")
	fi
	# The daemon exits on unmount, after its stubs (it waits up to 3 s).
	local i
	for (( i = 0; i < 100; i++ )); do
		[ -n "$dpid" ] && [ -d "/proc/$dpid" ] && [[ $(ps -o stat= -p "$dpid") != Z* ]] || break
		sleep 0.05
	done
	local left
	local pat="mitofs:$u|$(ere_quote "$tmp")/"
	left=$(leftovers "${dpid:-none}" "$pat")
	if [ -n "$left" ]; then
		sleep 1 # the stubs' grace for their children: give it once more
		left=$(leftovers "${dpid:-none}" "$pat")
	fi
	if [ -n "$left" ]; then
		problems+=("processes left after unmount: $(echo "$left" | cut -c1-80 | paste -sd';')")
		# Where each one waits, thread by thread, for the next reader.
		echo "$left" | while read -r pid rest; do
			for t in /proc/"$pid"/task/*; do
				echo "# left: $pid thread ${t##*/} $(cat "$t/comm" 2>/dev/null) waits in $(cat "$t/wchan" 2>/dev/null)"
			done
		done >>"$out"
		echo "$left" | while read -r pid rest; do kill -9 "$pid" 2>/dev/null; done
	fi
	# A sanitizer opens its log file to report: an empty one (seen once,
	# a process that exited as the file was made) holds no report.
	local reports=()
	mapfile -t reports < <(find "$tmp" -maxdepth 1 -name 'san*' -size +0 2>/dev/null)
	if [ ${#reports[@]} -gt 0 ]; then
		problems+=("sanitizer report: $(grep -h -m1 -E 'ERROR|runtime error' "${reports[@]}" | head -n1)")
		cat "${reports[@]}" >>"$out"
	elif compgen -G "$san*" >/dev/null; then
		echo "# $name: empty sanitizer log file(s): $(cd "$tmp" && echo san*)"
	fi
	t1=$(date +%s%N)

	local ms=$(( (t1 - t0) / 1000000 ))
	(( ms < 10000 )) && [ -z "${TIMES:-}" ] || echo "# $name took $ms ms"
	if [ ${#problems[@]} = 0 ]; then
		echo "ok $name"
		passed=$(( passed + 1 ))
	else
		local why
		why=$(printf '%s; ' "${problems[@]}")
		echo "FAIL $name: ${why%; }"
		sed 's/^/    | /' "$out"
		failed=$(( failed + 1 ))
	fi
	# Never across a file system: a mount left under $tmp (a test's own)
	# would otherwise take rm into a context's fs/, which is a real "/".
	if ! is_mounted "$mnt"; then
		rm -rf --one-file-system "$tmp"
	fi
	CUR_MNT=
}

for file in "$HERE"/t_*.sh; do
	[ -e "$file" ] || continue
	for name in $(grep -oE '^test_[A-Za-z0-9_]+ *\(\)' "$file" | tr -d '() '); do
		if [ -n "$FILTER" ] && ! [[ $name =~ $FILTER ]]; then
			continue
		fi
		run_one "$file" "$name"
	done
done

echo "# wall time $(( SECONDS - start ))s"
echo "$passed passed, $failed failed"
(( failed == 0 ))

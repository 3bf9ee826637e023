#!/usr/bin/env bash
# fanout.sh — fan-out with nothing but echo, cat, & and wait.
#
#   examples/fanout.sh MOUNTPOINT [N] [COMMAND]
#
# On a mounted mitofs (`mitofs MOUNTPOINT`), connects N local contexts in
# parallel (fanout-PID-1 .. fanout-PID-N; default N=5), runs COMMAND on
# every one of them at the same time (default: print the context's pid and
# host, then sleep a second), waits for all, prints each one's status and
# first line of output, and disconnects them again (KEEP=1 keeps them).
#
# COMMAND may have several lines: everything written on one open of
# `exec` is one script, however the writer cuts it into write(2) calls,
# and it starts when the file is closed (see docs/filesystem.md,
# "Writing commands").
# Exit status: 0 if every context connected and every command exited 0.
set -u

M=${1:?usage: fanout.sh MOUNTPOINT [N] [COMMAND]}
N=${2:-5}
CMD=${3:-'echo "pid $$ on $(hostname)"; sleep 1'}
[ -w "$M/ctl" ] || { echo "fanout.sh: $M is not a mitofs mount" >&2; exit 2; }

prefix=fanout-$$
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rc=0

# 1. Connect all contexts in parallel: each write returns once its context
#    answers (or fails with the reason, which ctl keeps).
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
pids=()
for i in $(seq 1 "$N"); do
	echo "connect $prefix-$i local" > "$M/ctl" &
	pids+=($!)
done
up=()
for i in $(seq 1 "$N"); do
	if wait "${pids[$((i - 1))]}"; then
		up+=("$prefix-$i")
	else
		echo "$prefix-$i: connect failed: $(cat "$M/ctl")" >&2
		rc=1
	fi
done
t1=$(ms)
echo "connected ${#up[@]} of $N contexts in $((t1 - t0)) ms"

# 2. Run the command everywhere at once; each worker waits for its
#    status (a blocking read) and keeps the result in $out.
for c in "${up[@]}"; do
	{
		if echo "$CMD" > "$M/$c/exec"; then
			cat "$M/$c/status" > "$out/$c.status" 2>&1
			head -n 1 "$M/$c/stdout" > "$out/$c.out"
		else
			echo "exec failed: $(cat "$M/$c/ctl")" > "$out/$c.status"
		fi
	} &
done
wait
t2=$(ms)

# 3. One line per context.
for c in "${up[@]}"; do
	st=$(cat "$out/$c.status")
	printf '%-16s %-10s %s\n' "$c" "$st" "$(cat "$out/$c.out" 2>/dev/null)"
	[ "$st" = "exit 0" ] || rc=1
done
echo "ran on ${#up[@]} contexts in $((t2 - t1)) ms"

# 4. Clean up (in parallel too).
if [ "${KEEP:-0}" != 1 ]; then
	for c in "${up[@]}"; do
		echo "disconnect $c" > "$M/ctl" &
	done
	wait
fi
exit $rc

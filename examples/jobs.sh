#!/usr/bin/env bash
# jobs.sh — concurrent jobs through the Plan 9 style clone file.
#
#   examples/jobs.sh MOUNTPOINT [CONTEXT]
#
# On a mounted mitofs, uses CONTEXT (a path under MOUNTPOINT, connected
# already) or connects a local context jobs-PID for the run. Then:
#   1. clones a job (cat jobs/new), starts `sort | uniq -c | sort -rn` with
#      cmd, streams its stdin in one redirection (closing it is EOF), and
#      reads stdout and status;
#   2. runs a multi-line script the safe way: cmd `sh -s`, the script on
#      stdin (no line-by-line writes, no 128 KiB argument limit);
#   3. starts `sleep 60`, gives it a 1 s timeout through jobs/N/ctl and
#      reads the status it dies with;
#   4. removes the job directories (rmdir) and, if it made it, the context.
# Exit status: 0 if every step saw what it expected.
set -u

M=${1:?usage: jobs.sh MOUNTPOINT [CONTEXT]}
[ -w "$M/ctl" ] || { echo "jobs.sh: $M is not a mitofs mount" >&2; exit 2; }
C=${2:-}
made=
if [ -z "$C" ]; then
	C=jobs-$$
	echo "connect $C local" > "$M/ctl" || { echo "connect: $(cat "$M/ctl")" >&2; exit 1; }
	made=1
fi
D=$M/$C
rc=0
check() {   # WHAT GOT WANT
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		printf 'FAIL: %s: got %q, want %q\n' "$1" "$2" "$3"
		rc=1
	fi
}

# 1. A filter fed through stdin.
j=$(cat "$D/jobs/new")
echo "job $j: sort | uniq -c | sort -rn"
echo 'sort | uniq -c | sort -rn' > "$D/jobs/$j/cmd"
# One open for the whole stream: the close at the end is the job's EOF.
{
	for w in pear apple pear fig pear apple; do
		echo "$w"
	done
} > "$D/jobs/$j/stdin"
cat "$D/jobs/$j/stdout"
check "job $j status" "$(cat "$D/jobs/$j/status")" "exit 0"
check "job $j top line" "$(head -n 1 "$D/jobs/$j/stdout" | tr -s ' ')" " 3 pear"

# 2. A script through `sh -s`.
k=$(cat "$D/jobs/new")
echo "job $k: sh -s, the script on stdin"
echo 'sh -s' > "$D/jobs/$k/cmd"
cat > "$D/jobs/$k/stdin" <<'EOF'
n=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	n=$((n + i))
done
echo "sum=$n on $(hostname)"
echo "to stderr" >&2
exit 4
EOF
cat "$D/jobs/$k/stdout"
check "job $k stderr" "$(cat "$D/jobs/$k/stderr")" "to stderr"
check "job $k status" "$(cat "$D/jobs/$k/status")" "exit 4"

# 3. A timeout from jobs/N/ctl.
t=$(cat "$D/jobs/new")
echo "job $t: sleep 60 with a 1 s timeout"
echo 'sleep 60' > "$D/jobs/$t/cmd"
echo 'timeout 1' > "$D/jobs/$t/ctl"
start=$SECONDS
check "job $t status" "$(cat "$D/jobs/$t/status")" "signal KILL"
echo "status came after $((SECONDS - start)) s"
echo kill > "$D/jobs/$t/ctl" 2>/dev/null || echo "kill after the end: $(cat "$D/jobs/$t/ctl")"

# 4. Clean up.
ls "$D/jobs"
rmdir "$D/jobs/$j" "$D/jobs/$k" "$D/jobs/$t"
[ -n "$made" ] && echo "disconnect $C" > "$M/ctl"
exit $rc

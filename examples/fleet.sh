#!/usr/bin/env bash
# fleet.sh — a fleet as a directory: connect a host list, run one command
# everywhere, fold identical outputs, push a program and run it.
#
#   examples/fleet.sh MOUNTPOINT [HOSTLIST]
#
# HOSTLIST has one context per line, as a root ctl takes them:
#     web1 ssh host=web1.example.org
#     web2 ssh host=web2.example.org user=deploy
# (blank lines and # comments are skipped). Without one, the fleet is four
# local contexts (fleet-PID-1 .. -4): the script runs anywhere.
# Everything happens through files of the mount (docs/filesystem.md,
# "Groups" and "Push"); KEEP=1 leaves the contexts and the group.
# Exit status: 0 when every member ran both commands with exit 0.
set -u

M=${1:?usage: fleet.sh MOUNTPOINT [HOSTLIST]}
LIST=${2:-}
[ -w "$M/ctl" ] || { echo "fleet.sh: $M is not a mitofs mount" >&2; exit 2; }
tag=fleet-$$
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Connect the whole list in one write: its connect lines come up
#    together, and the write fails (reason in ctl) if one of them failed.
if [ -n "$LIST" ]; then
	grep -Ev '^[[:space:]]*(#|$)' "$LIST" >"$work/lines"
else
	for i in 1 2 3 4; do echo "connect $tag-$i local"; done >"$work/lines"
fi
if [ -n "$LIST" ]; then sed -i 's/^/connect /' "$work/lines"; fi
names=$(awk '{print $2}' "$work/lines")
cat "$work/lines" >"$M/ctl" || echo "some contexts did not connect: $(cat "$M/ctl")" >&2

# 2. A group of them: its members are lines of context paths or patterns.
g=$M/groups/$tag
mkdir "$g"
printf '%s\n' $names >"$g/members"
echo "members: $(tr '\n' ' ' <"$g/members")"

# 3. One write runs the command on every member; stdout gathers every
#    line as "NAME: line"; folded groups members whose output is the same.
echo 'uname -sr; id -un' >"$g/exec"
echo "--- gathered"
cat "$g/stdout"
echo "--- folded"
cat "$g/folded"

# 4. Push a program (it crosses each link once) and run it everywhere.
cat >"$work/report" <<'EOF'
#!/bin/sh
echo "$(hostname) up $(cut -d' ' -f1 /proc/uptime)s load $(cut -d' ' -f1 /proc/loadavg)"
EOF
dst=/tmp/mitofs-fleet-report-$$
echo "push $work/report $dst mode=755" >"$g/ctl" || echo "push: $(cat "$g/ctl")" >&2
echo "$dst" >"$g/exec"
echo "--- the pushed program"
cat "$g/stdout"

# 5. One status line per member: "NAME exit N", "signal", "lost", "failed".
echo "--- status"
cat "$g/status" | tee "$work/status"
rc=0
grep -qv ' exit 0$' "$work/status" && rc=1
echo "rm -f $dst" >"$g/exec" && cat "$g/status" >/dev/null

if [ -z "${KEEP:-}" ]; then
	rmdir "$g"
	for n in $names; do echo "disconnect $n"; done >"$work/bye"
	cat "$work/bye" >"$M/ctl"
fi
exit $rc

#!/usr/bin/env bash
# A short tour of mitofs on ./mnt with a local context (no SSH server
# needed): run by `make demo`. Leaves the mount up so you can explore;
# `fusermount3 -u mnt` ends it.
set -eu
cd "$(dirname "$0")/.."
M=${MNT:-mnt}
mkdir -p "$M"
if mountpoint -q "$M"; then
	fusermount3 -u "$M" || fusermount3 -uz "$M"
fi
"${MITOFS:-./build/mitofs}" "$M"

run() { printf '\n$ %s\n' "$*"; eval "$@"; }

run "ls $M"
run "echo 'connect box local' > $M/ctl"
run "ls $M/box"
run "grep -E '^(state|pid|hostname|arch):' $M/box/info"
run "echo 'uname -sm; id -un' > $M/box/exec"
run "cat $M/box/stdout"
run "cat $M/box/status"
run "echo 'connect inner local' > $M/box/ctl"
run "echo 'echo hello from \$PPID; exit 3' > $M/box/inner/exec"
run "cat $M/box/inner/stdout $M/box/inner/status"
run "j=\$(cat $M/box/jobs/new); echo \"job \$j\""
run "echo 'for i in 1 2 3; do echo tick \$i; sleep 0.2; done' > $M/box/jobs/\$j/cmd"
run "cat $M/box/jobs/\$j/stdout"
run "head -n 2 $M/box/fs/usr/lib/os-release  # box's whole filesystem"
run "echo written through fs/ > $M/box/fs/tmp/mitofs-demo && cat /tmp/mitofs-demo && rm $M/box/fs/tmp/mitofs-demo"
run "echo 'bogus verb' > $M/ctl || cat $M/ctl"
run "tail -n 4 $M/log"
printf '\nThe mount stays on %s; explore it, then: fusermount3 -u %s\n' "$M" "$M"

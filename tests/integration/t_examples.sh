# t_examples.sh — the scripts of examples/ run as their comments say, so
# that they cannot drift from the code.

EX=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples" && pwd)
SSHD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)

test_examples_fleet_runs_on_its_own_local_fleet()
{
	"$EX/fleet.sh" "$M" >"$T/out" 2>"$T/err" || fail "fleet.sh: exit $?: $(cat "$T/err")"
	expect_eq "$(grep -c ' exit 0$' "$T/out")" 4 "status lines"
	expect_contains "$(cat "$T/out")" "up " "the pushed program's output"
	# folded: one block naming all four (the same kernel and user).
	expect_eq "$(grep -c '^fleet-[0-9]*-1,fleet-[0-9]*-2,fleet-[0-9]*-3,fleet-[0-9]*-4$' "$T/out")" 1 "folded"
	# It cleans up after itself: no context, no group.
	expect_eq "$(ls "$M" | tr '\n' ' ')" "README ctl groups log stats " "the root after"
	expect_eq "$(ls "$M/groups")" "" "groups/ after"
}

test_examples_fleet_takes_a_host_list_of_ssh_hosts()
{
	local k=$T/sshd p
	p=$("$SSHD/sshd.sh" start "$k") || fail "sshd did not start"
	TEARDOWN+=("'$SSHD/sshd.sh' stop '$k'")
	local opts="ssh host=127.0.0.1 port=$p identity=$k/id_ed25519 known_hosts=$k/known_hosts"
	printf '# two hosts (one sshd)\n%s %s\n\n%s %s\n' "${U}h1" "$opts" "${U}h2" "$opts" >"$T/hosts"
	"$EX/fleet.sh" "$M" "$T/hosts" >"$T/out" 2>"$T/err" || fail "fleet.sh: exit $?: $(cat "$T/err")"
	expect_contains "$(cat "$T/out")" "${U}h1 exit 0" "h1"
	expect_contains "$(cat "$T/out")" "${U}h2 exit 0" "h2"
	expect_contains "$(cat "$T/out")" "${U}h1,${U}h2" "folded"
}

test_examples_demo_runs_the_tour_of_make_demo()
{
	local d=$T/demo
	TEARDOWN+=("fusermount3 -u '$d' 2>/dev/null || true")
	MNT=$d MITOFS=$MITOFS timeout 60 "$EX/demo.sh" >"$T/out" 2>"$T/err" ||
		fail "demo.sh: exit $?: $(cat "$T/err")"
	# Its one error is the bad verb it shows on purpose.
	expect_match "$(cat "$T/err")" "^[^[:cntrl:]]*demo\.sh: line [0-9]+: echo: write error: Invalid argument$" \
		"demo.sh's stderr"
	local out
	out=$(cat "$T/out")
	expect_contains "$out" "state: connected" "box's info"
	expect_contains "$out" "hello from " "the nested context's output"
	expect_contains "$out" "exit 3" "its status"
	expect_contains "$out" "tick 3" "the job's output"
	expect_contains "$out" "written through fs/" "a file written through fs/"
	expect_contains "$out" "unknown verb 'bogus'" "the bad verb's reason"
	mountpoint -q "$d" || fail "demo.sh did not leave its mount up"
	fusermount3 -u "$d" || fail "unmount of the demo's mount"
}

test_examples_fanout_runs_a_multi_line_command_on_every_context()
{
	local cmd
	# Several lines: one open of exec is one script, whatever its writes.
	cmd=$'x=$(echo multi)\necho "$x line"'
	timeout 60 "$EX/fanout.sh" "$M" 3 "$cmd" >"$T/out" 2>"$T/err" ||
		fail "fanout.sh: exit $?: $(cat "$T/err") $(cat "$T/out")"
	expect_eq "$(grep -c 'exit 0 *multi line$' "$T/out")" 3 "three contexts ran both lines"
	expect_contains "$(cat "$T/out")" "connected 3 of 3 contexts" "connects"
	expect_eq "$(ls "$M" | tr '\n' ' ')" "README ctl groups log stats " "the root after"
}

test_examples_jobs_feeds_a_job_through_stdin_and_times_one_out()
{
	timeout 60 "$EX/jobs.sh" "$M" >"$T/out" 2>"$T/err" ||
		fail "jobs.sh: exit $?: $(cat "$T/err") $(cat "$T/out")"
	grep -q '^FAIL' "$T/out" && fail "jobs.sh: $(grep '^FAIL' "$T/out")"
	(( $(grep -c '^ok: ' "$T/out") >= 3 )) || fail "jobs.sh checked too little: $(cat "$T/out")"
	expect_eq "$(ls "$M" | tr '\n' ' ')" "README ctl groups log stats " "the root after"
}

# Every example script of examples/ has a test here.
test_examples_every_script_has_a_test()
{
	local f name
	for f in "$EX"/*.sh; do
		name=$(basename "$f" .sh)
		grep -q "^test_examples_${name}_" "${BASH_SOURCE[0]}" || fail "examples/$name.sh has no test"
	done
}

# README's 60-second tour, run as written (mitofs is the binary under
# test, /tmp/m a directory of the test's own): each command's output must
# be what the README shows, numbers (pids, ids, times) and the hostname
# aside, and whitespace (ls prints a column here, one name per line in a
# pipe) aside.
test_readme_tour_runs_as_written_and_prints_what_it_shows()
{
	local readme
	readme=$(cd "$EX/.." && pwd)/README.md
	TEARDOWN+=("fusermount3 -u '$T/tour' 2>/dev/null || true")
	timeout 60 python3 - "$readme" "$MITOFS" "$T/tour" <<'EOF' || fail "the README tour differs"
import re, subprocess, sys
readme, mitofs, mnt = sys.argv[1:]
text = open(readme).read()
tour = text.split("## A 60-second tour", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
steps = []  # (command, expected output lines)
for line in tour.splitlines():
    if line.startswith("# "):
        cmd = re.sub(r"\s{2,}# .*$", "", line[2:]).strip()
        cmd = cmd.replace("/tmp/m", mnt)
        cmd = re.sub(r"(^|&& )mitofs ", lambda m: m.group(1) + mitofs + " ", cmd)
        steps.append((cmd, []))
    else:
        steps[-1][1].append(line)
assert len(steps) > 10, f"only {len(steps)} commands found in the tour"
script = "".join(f"{c}\necho '@@step {i}'\n" for i, (c, _) in enumerate(steps))
out = subprocess.run(["bash", "-c", script + "exit 0"], stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True, timeout=50).stdout
outs = re.split(r"^@@step \d+\n", out, flags=re.M)
bad = 0
def norm(lines):
    s = " ".join(" ".join(lines).split())
    return re.sub(r"bash: line \d+: ", "bash: ", s)
for i, (cmd, want) in enumerate(steps):
    got = norm(outs[i].splitlines()) if i < len(outs) else "<no output: the script stopped>"
    pat = re.escape(norm(want))
    pat = re.sub(r"\d+", r"\\d+", pat)
    pat = re.sub(r"hostname:\\ \S+", r"hostname:\\ \\S+", pat)
    if not re.fullmatch(pat, got):
        bad += 1
        print(f"step {i}: {cmd}\n  README: {norm(want)!r}\n  got:    {got!r}")
print(f"{len(steps)} commands, {bad} differ")
sys.exit(1 if bad else 0)
EOF
	mountpoint -q "$T/tour" && fail "the tour's last command did not unmount"
	return 0
}

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

# fault_lib.sh — what the fault tests share (sourced by t_fault*.sh): a
# private sshd on loopback, and a target host of the test's own in a
# network namespace whose link can be cut and whose packets can be
# dropped, with its own sshd.
#
# The namespace, its veth pair and its /30 are named after the test run
# (random), so that runs of other checkouts on this machine never meet.

SSHD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)

# A private sshd on loopback; sets P (port) and K (its directory).
fault_sshd()
{
	K=$T/sshd
	P=$("$SSHD/sshd.sh" start "$K") || fail "sshd did not start: $(cat "$K/sshd.log" 2>/dev/null)"
	TEARDOWN+=("'$SSHD/sshd.sh' stop '$K'")
}

# A host in a network namespace, reachable from here over a veth pair,
# with a private sshd (SSHD_EXTRA applies). Sets NS (the namespace),
# HOST (its address), HK (its sshd directory), HP (its port), VETH (our
# end of the link).
fault_host()
{
	command -v iptables >/dev/null || fail "iptables is not installed (make deps installs it)"
	local r=$(( RANDOM % 60 + 4 )) s=$(( RANDOM % 64 * 4 ))
	NS=mitofs-f-$$-$RANDOM
	VETH=mf${NS##*-}h
	HOST=10.253.$r.$(( s + 2 ))
	ip netns add "$NS" || fail "ip netns add $NS"
	TEARDOWN+=("ip netns pids '$NS' | xargs -r kill -9; ip netns del '$NS'")
	ip link add "$VETH" type veth peer name "${VETH%h}t" || fail "veth"
	TEARDOWN+=("ip link del '$VETH'")
	ip link set "${VETH%h}t" netns "$NS"
	ip addr add "10.253.$r.$(( s + 1 ))/30" dev "$VETH"
	# Whatever happens to the link, nothing for this /30 may leave by
	# the default route: the address is the test's alone.
	ip route add blackhole "10.253.$r.$s/30" metric 4000 || fail "blackhole route"
	TEARDOWN+=("ip route del blackhole '10.253.$r.$s/30' metric 4000")
	ip link set "$VETH" up
	ip -n "$NS" addr add "$HOST/30" dev "${VETH%h}t"
	ip -n "$NS" link set "${VETH%h}t" up
	ip -n "$NS" link set lo up
	HK=$T/host
	HP=$(ip netns exec "$NS" "$SSHD/sshd.sh" start "$HK" "$HOST") ||
		fail "sshd in $NS did not start: $(cat "$HK/sshd.log" 2>/dev/null)"
	TEARDOWN+=("ip netns exec '$NS' '$SSHD/sshd.sh' stop '$HK'")
}

# The ssh options for that host.
fault_host_opts() { echo "host=$HOST port=$HP identity=$HK/id_ed25519 known_hosts=$HK/known_hosts"; }

# Every packet into the host is dropped (nothing answers, nothing is
# refused: a silent drop), or let through again.
drop_packets() { ip netns exec "$NS" iptables -I INPUT -j DROP; }
pass_packets() { ip netns exec "$NS" iptables -D INPUT -j DROP; }
# The link goes down (the host's end: ours loses its carrier), or up.
cut_link() { ip -n "$NS" link set "${VETH%h}t" down; }
mend_link() { ip -n "$NS" link set "${VETH%h}t" up; }

# What of ours runs on the host: every process in its namespace but its
# sshd and sshd's session processes ("pid args", one a line).
host_ours()
{
	local pid
	for pid in $(ip netns pids "$NS"); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ] && continue
		[ -e "/proc/$pid" ] || continue
		echo "$pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)"
	done
	return 0
}

no_host_process() { [ -z "$(host_ours)" ]; }

# True when no process's command line matches ERE (call it directly, not
# through bash -c, whose own command line would match).
none_match()   # ERE
{
	! live_pgrep -f -- "$1" >/dev/null
}

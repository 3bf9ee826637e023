#!/usr/bin/env bash
# Two extra hosts for the chain tests, as network namespaces: B is
# reachable from here, C only from B. Each runs a private sshd (tests/
# sshd/sshd.sh) with the keys under DIR; root's own network is untouched
# but for one veth pair.
#
#   tests/sshd/netns.sh up DIR      prints "B_ADDR C_ADDR"
#   tests/sshd/netns.sh down DIR
#
#   here (10.251.1.1) --veth-- B (10.251.1.2 | 10.251.2.1) --veth-- C (10.251.2.2)
set -eu
cmd=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
B=mitofs-b-$$ C=mitofs-c-$$

case $cmd in
up)
	mkdir -p "$dir"
	# Left over by a run that was killed: same addresses, so away with it
	# (runs are sequential; these names are only ever ours).
	for ns in $(ip netns list | grep -o '^mitofs-[bc]-[0-9]*'); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	for l in $(ip -o link | grep -o 'mitofs-b-[0-9]*h'); do
		ip link del "$l" 2>/dev/null || true
	done
	B=mitofs-b-${RANDOM} C=mitofs-c-${RANDOM}
	echo "$B $C" > "$dir/netns"
	ip netns add "$B"
	ip netns add "$C"
	ip link add "${B}h" type veth peer name "${B}b"
	ip link set "${B}b" netns "$B"
	ip addr add 10.251.1.1/24 dev "${B}h"
	ip link set "${B}h" up
	# C must be unreachable from here, and nothing for 10.251/16 may leave
	# by the default route: these addresses are the test's alone.
	ip route replace unreachable 10.251.0.0/16
	ip -n "$B" addr add 10.251.1.2/24 dev "${B}b"
	ip -n "$B" link set "${B}b" up
	ip -n "$B" link set lo up
	ip -n "$B" link add "${C}b" type veth peer name "${C}c"
	ip -n "$B" link set "${C}c" netns "$C"
	ip -n "$B" addr add 10.251.2.1/24 dev "${C}b"
	ip -n "$B" link set "${C}b" up
	ip -n "$C" addr add 10.251.2.2/24 dev "${C}c"
	ip -n "$C" link set "${C}c" up
	ip -n "$C" link set lo up
	# The same keys everywhere (one filesystem): what differs is who
	# can reach whom.
	ip netns exec "$B" "$here/sshd.sh" start "$dir/b" 10.251.1.2 >/dev/null
	cp "$dir/b/id_ed25519" "$dir/b/id_ed25519.pub" "$dir/b/host_ed25519" \
	   "$dir/b/host_ed25519.pub" "$dir/" 2>/dev/null || true
	mkdir -p "$dir/c"
	cp "$dir/b/id_ed25519" "$dir/b/id_ed25519.pub" "$dir/c/"
	ip netns exec "$C" "$here/sshd.sh" start "$dir/c" 10.251.2.2 >/dev/null
	echo "10.251.1.2 10.251.2.2"
	;;
down)
	if [ -f "$dir/netns" ]; then
		read -r B C < "$dir/netns"
		ip netns exec "$B" "$here/sshd.sh" stop "$dir/b" 2>/dev/null || true
		ip netns exec "$C" "$here/sshd.sh" stop "$dir/c" 2>/dev/null || true
		ip link del "${B}h" 2>/dev/null || true
		ip route del unreachable 10.251.0.0/16 2>/dev/null || true
		ip netns del "$B" 2>/dev/null || true
		ip netns del "$C" 2>/dev/null || true
		rm -f "$dir/netns"
	fi
	;;
*)
	echo "usage: $0 up|down DIR" >&2
	exit 2
	;;
esac

# t_fault.sh — faults that must never hang the mount or leave a process
# behind: a ProxyJump / ProxyCommand session ended, a link cut or its
# packets dropped (while idle, while output streams, while an fs/ read
# runs, during a reconnect), the daemon SIGKILLed. Each test states its
# time bound and fails on a hang. Hosts are network namespaces of the
# test's own (fault_lib.sh); keepalives are short to keep the suite fast.

# shellcheck source=fault_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

# A daemon of the test's own on $T/mp, whose ~/.ssh/config is $T/home's
# and whose PATH starts with $T/bin, where an `ssh` wrapper points the
# real client at that config too (ssh reads the config of the user's
# home from the password database, not $HOME). Sets PM (the mount).
proxy_mount()   # CONFIG-TEXT
{
	PM=$T/mp
	mkdir -p "$T/home/.ssh" "$T/bin" "$PM"
	printf '%s\n' "$1" > "$T/home/.ssh/config"
	printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$T/home/.ssh/config" > "$T/bin/ssh"
	chmod 755 "$T/bin/ssh"
	HOME=$T/home PATH=$T/bin:$PATH "$MITOFS" "$PM" || fail "mount $PM"
	TEARDOWN+=("fusermount3 -u '$PM' || fusermount3 -uz '$PM'")
}

# Unmounts PM within SECS and waits (same bound) for its daemon to exit.
unmount_within()   # SECS
{
	local pid t0
	pid=$(pgrep -o -f -- "$MITOFS $PM\$") || fail "no daemon for $PM"
	t0=$(now_ms)
	timeout "$1" fusermount3 -u "$PM" || fail "fusermount3 -u took more than $1 s"
	wait_until "$1" "the daemon of $PM to exit" bash -c "! kill -0 $pid 2>/dev/null"
	echo "# unmount and exit: $(( $(now_ms) - t0 )) ms"
}

# The ProxyJump freeze (issue 13, part 0): libssh's `ssh -W` child kept
# the daemon's blocked SIGTERM, and ssh_free waited for it on the loop.
# Bound: disconnect within 2 s, unmount within 2 s, no proxy left.
test_ssh_proxyjump_disconnect_and_unmount_each_within_2s()
{
	fault_sshd
	proxy_mount "Host ${U}jump
	HostName 127.0.0.1
	Port $P
	User root
	IdentityFile $K/id_ed25519
	UserKnownHostsFile $K/known_hosts
Host ${U}target
	HostName 127.0.0.1
	Port $P
	User root
	ProxyJump ${U}jump"
	local a=${U}bj t0 proxy
	expect_write_ok "$PM/ctl" "connect $a ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	expect_write_ok "$PM/$a/exec" 'echo "$SSH_CONNECTION" | cut -d" " -f1'
	expect_eq "$(get "$PM/$a/stdout")" 127.0.0.1 "a job through the jump"
	proxy=$(pgrep -f -- "-W \[127.0.0.1\]:$P ${U}jump") || fail "no ssh -W process"
	expect_match "$(grep '^SigBlk' "/proc/${proxy%%$'\n'*}/status")" '0000000000000000$' "the proxy's blocked signals"
	t0=$(now_ms)
	timeout 2 bash -c "printf 'disconnect %s\n' '$a' > '$PM/ctl'" || fail "disconnect took more than 2 s"
	echo "# disconnect: $(( $(now_ms) - t0 )) ms"
	wait_until 2 "the ssh -W process to exit" none_match "-W \[127.0.0.1\]:$P ${U}jump"
	expect_write_ok "$PM/ctl" "connect ${a}2 ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	unmount_within 2
	none_match "-W \[127.0.0.1\]:$P ${U}jump" || fail "an ssh -W process outlived the mount"
}

# A ProxyCommand that ignores SIGTERM and outlives its socket: ended
# with SIGKILL after a short grace. It starts with default signal
# dispositions and none blocked (as seen by a grep that dash, which
# changes neither, starts first). Bound: disconnect and unmount within 2 s
# each, no proxy left.
test_ssh_proxycommand_that_ignores_sigterm_is_ended_within_2s()
{
	fault_sshd
	cat > "$T/proxy" <<EOF
#!/bin/bash
trap '' TERM
/usr/bin/ssh -F "$T/home/.ssh/config" -W "\$1:\$2" ${U}jump
exec -a ${U}proxysleep sleep 30
EOF
	chmod 755 "$T/proxy"
	proxy_mount "Host ${U}jump
	HostName 127.0.0.1
	Port $P
	User root
	IdentityFile $K/id_ed25519
	UserKnownHostsFile $K/known_hosts
Host ${U}target
	HostName 127.0.0.1
	Port $P
	User root
	ProxyCommand /bin/sh -c \"grep -E '^Sig(Blk|Ign)' /proc/self/status > $T/proxy.sig; exec $T/proxy %h %p\""
	local a=${U}pc t0 pid
	expect_write_ok "$PM/ctl" "connect $a ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	expect_write_ok "$PM/$a/exec" 'echo via-proxy'
	expect_eq "$(get "$PM/$a/stdout")" via-proxy "a job through the ProxyCommand"
	pid=$(pgrep -f -- "^/bin/bash $T/proxy ") || fail "no proxy process"
	expect_eq "$(cat "$T/proxy.sig")" $'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000' \
		"the proxy's blocked and ignored signals"
	t0=$(now_ms)
	timeout 2 bash -c "printf 'disconnect %s\n' '$a' > '$PM/ctl'" || fail "disconnect took more than 2 s"
	wait_until 2 "the proxy to be ended" none_match "$T/proxy |${U}proxysleep"
	echo "# disconnect, proxy gone: $(( $(now_ms) - t0 )) ms"
	# Unmount with one running: ended too.
	expect_write_ok "$PM/ctl" "connect ${a}2 ssh host=${U}target identity=$K/id_ed25519 known_hosts=$K/known_hosts"
	pgrep -f -- "^/bin/bash $T/proxy " >/dev/null || fail "no second proxy"
	unmount_within 2
	wait_until 1 "the second proxy to be ended" none_match "$T/proxy |${U}proxysleep"
}

# --- a host whose packets are dropped or whose link is cut ---

# Connects ${U}h to the namespace host (keepalive 1 s) with a job
# running, and ${U}h/${U}n (a stub it spawned, keepalive inherited) with
# a job too. Sets A and N (their paths).
host_with_jobs()
{
	fault_host
	A=${U}h N=${U}h/${U}n
	connect "$A" ssh $(fault_host_opts) keepalive=1
	connect "$N" local
	start_job "$A" 'sleep 300' >/dev/null
	start_job "$N" 'sleep 300' >/dev/null
	[ -n "$(host_ours)" ] || fail "no stub or job seen on the host"
}

# Loss is seen within two keepalive intervals plus a second of the drop,
# and the reason gives the real time; then, once the stubs' own window
# (two intervals) and their grace (1 s) have passed, nothing of ours
# runs on the host. Bound: 3 s to see the loss, 4 s for the host to be
# clean (keepalive 1 s).
test_silent_drop_while_idle_is_seen_within_3s_and_leaves_nothing_on_the_host()
{
	host_with_jobs
	local t0 info
	t0=$(now_ms)
	drop_packets
	wait_until 4 "the context to be taken for lost" \
		bash -c "grep -q '^state: disconnected' '$M/$A/info'"
	local took=$(( $(now_ms) - t0 ))
	echo "# loss seen after $took ms"
	(( took <= 3000 )) || fail "loss seen after $took ms (bound: 2 intervals + 1 s = 3000)"
	info=$(get "$M/$A/info")
	expect_match "$(field "$info" why)" 'keepalive: no answer for 2\.[0-9] s' "why"
	expect_eq "$(field "$(get "$M/$N/info")" state)" disconnected "the nested context's state"
	expect_write_ok "$M/ctl" "disconnect $A"
	wait_until $(( (t0 + 4000 - $(now_ms)) / 1000 + 1 )) "the host to have nothing of ours" no_host_process
	echo "# host clean after $(( $(now_ms) - t0 )) ms"
	(( $(now_ms) - t0 <= 4000 )) || fail "the host was clean only after $(( $(now_ms) - t0 )) ms: $(host_ours)"
}

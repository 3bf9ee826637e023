#!/usr/bin/env bash
# A private sshd for the tests: its own host keys, a user key, a
# known_hosts file and a random loopback port, all under DIR. Never the
# machine's own sshd, keys or known_hosts.
#
#   tests/sshd/sshd.sh start DIR [ADDR]   prints the port; files in DIR:
#       id_ed25519(.pub)  the user key, authorized for root
#       known_hosts       the host key for [ADDR]:PORT
#       ssh_config        Host "sut" -> ADDR:PORT with that key
#   tests/sshd/sshd.sh stop DIR
# SSHD_EXTRA (optional): more sshd_config lines, e.g. "SetEnv PATH=...".
set -eu
cmd=$1 dir=$2 addr=${3:-127.0.0.1}

case $cmd in
start)
	# Started by `ip netns exec`, this runs in a mount namespace of its
	# own, made for it, holding copies of every mount that existed then:
	# a FUSE mount copied here stays alive (and its daemon with it) after
	# its owner unmounts it, for as long as this sshd runs. Such copies
	# are dropped here; never in the namespace of whoever called us.
	if [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ]; then
		umount -a -l -t fuse,fuse.mitofs,fuse.sshfs,fuseblk 2>/dev/null || true
	fi
	mkdir -p "$dir" /run/sshd
	chmod 700 "$dir"
	[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
	[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519"
	cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
	chmod 600 "$dir/authorized_keys"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port=$(( 20000 + RANDOM % 30000 ))
		cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress $addr
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 200:30:300
MaxSessions 100
LogLevel ERROR
Subsystem sftp internal-sftp
${SSHD_EXTRA:-}
CONF
		rm -f "$dir/sshd.pid"
		/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" || continue
		for i in $(seq 50); do
			[ -s "$dir/sshd.pid" ] && break
			sleep 0.05
		done
		if [ -s "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; then
			hostpart=$addr
			[ "$port" = 22 ] || hostpart="[$addr]:$port"
			echo "$hostpart $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" > "$dir/known_hosts"
			cat > "$dir/ssh_config" <<CONF
Host sut
	HostName $addr
	Port $port
	User root
	IdentityFile $dir/id_ed25519
	UserKnownHostsFile $dir/known_hosts
CONF
			echo "$port" > "$dir/port"
			echo "$port"
			exit 0
		fi
	done
	echo "sshd.sh: could not start sshd (see $dir/sshd.log)" >&2
	exit 1
	;;
stop)
	if [ -s "$dir/sshd.pid" ]; then
		kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
	fi
	rm -f "$dir/sshd.pid"
	;;
*)
	echo "usage: $0 start|stop DIR [ADDR]" >&2
	exit 2
	;;
esac

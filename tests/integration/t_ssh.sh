# t_ssh.sh — ssh contexts through a private sshd, host keys, passwords,
# sudo/su through a stub, chains across network namespaces, and losing
# a hop. Every sshd, user and namespace is the test's own and is removed
# when it ends (tests/sshd/).

SSHD=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)

# --- set-up the tests share, torn down at exit ---

# (lib.sh runs TEARDOWN, last first, when a test ends.)

# errno names lib.sh does not know
ssh_errno()
{
	case ${ERRTEXT##*: } in
	"Connection refused") echo ECONNREFUSED ;;
	"Connection timed out") echo ETIMEDOUT ;;
	*) echo "$ERRNO" ;;
	esac
}

# A private sshd on loopback; sets P (port) and K (its directory).
start_sshd()
{
	K=$T/sshd
	P=$("$SSHD/sshd.sh" start "$K") || fail "sshd did not start: $(cat "$K/sshd.log" 2>/dev/null)"
	TEARDOWN+=("'$SSHD/sshd.sh' stop '$K'")
}

# The ssh options for that sshd, with its key and its known_hosts.
sut() { echo "host=127.0.0.1 port=$P identity=$K/id_ed25519 known_hosts=$K/known_hosts"; }

# A throw-away user with a password; sets NEWUSER.
make_user()   # PASSWORD
{
	NEWUSER=mt${U//[^a-z0-9]/}$RANDOM
	NEWUSER=${NEWUSER:0:30}
	useradd -m -s /bin/sh "$NEWUSER" || fail "useradd $NEWUSER"
	TEARDOWN+=("pkill -9 -u '$NEWUSER'; userdel -r '$NEWUSER'")
	echo "$NEWUSER:$1" | chpasswd || fail "chpasswd"
}

# A 0600 file holding TEXT; prints its path.
secret()   # NAME TEXT
{
	printf '%s\n' "$2" > "$T/$1"
	chmod 600 "$T/$1"
	echo "$T/$1"
}

fingerprint() { ssh-keygen -lf "$1" | awk '{print $2}'; }

# --- ssh from the daemon (libssh) ---

test_ssh_context_runs_commands_and_shows_host_port_user_hostkey()
{
	start_sshd
	local a=${U}s info
	connect "$a" ssh $(sut)
	info=$(get "$M/$a/info")
	expect_eq "$(field "$info" method)" ssh "method"
	expect_eq "$(field "$info" state)" connected "state"
	expect_eq "$(field "$info" host)" 127.0.0.1 "host"
	expect_eq "$(field "$info" port)" "$P" "port"
	expect_eq "$(field "$info" user)" root "user"
	expect_eq "$(field "$info" hostkey)" "$(fingerprint "$K/host_ed25519.pub")" "hostkey"
	expect_match "$(field "$info" rtt_us)" '^[0-9]+$' "rtt_us"
	expect_match "$(field "$info" bytes_in)" '^[1-9][0-9]*$' "bytes_in"
	expect_write_ok "$M/$a/exec" 'echo "$SSH_CONNECTION" | cut -d" " -f4; exit 4'
	expect_eq "$(get "$M/$a/stdout")" "$P" "the job ran inside the ssh session"
	expect_eq "$(get "$M/$a/status")" "exit 4" "status"
	# The stub is the child of sshd's session, named after the context.
	local pid
	pid=$(stub_pid "$a")
	expect_eq "$(ps -o args= -p "$pid")" "mitofs:$a" "stub args"
}

test_ssh_unknown_host_key_is_refused_naming_its_fingerprint()
{
	start_sshd
	local a=${U}u fp
	: > "$T/empty_known_hosts"
	fp=$(fingerprint "$K/host_ed25519.pub")
	expect_write_errno EACCES "$M/ctl" "connect $a ssh host=127.0.0.1 port=$P identity=$K/id_ed25519 known_hosts=$T/empty_known_hosts"
	local why
	why=$(get "$M/ctl")
	expect_contains "$why" "unknown host key" "ctl"
	expect_contains "$why" "$fp" "ctl names the fingerprint"
	expect_contains "$(snap "$M/log")" "$fp" "log names the fingerprint"
	[ ! -e "$M/$a" ] || fail "a refused context left a directory"
	[ ! -s "$T/empty_known_hosts" ] || fail "enforce recorded a key"
}

test_ssh_changed_host_key_is_refused_even_with_accept_new()
{
	start_sshd
	local a=${U}c
	ssh-keygen -q -t ed25519 -N '' -f "$T/other_host_key"
	echo "[127.0.0.1]:$P $(cut -d' ' -f1,2 "$T/other_host_key.pub")" > "$T/kh"
	local mode
	for mode in enforce accept-new; do
		expect_write_errno EACCES "$M/ctl" "connect $a ssh host=127.0.0.1 port=$P identity=$K/id_ed25519 known_hosts=$T/kh check_host_keys=$mode"
		expect_contains "$(get "$M/ctl")" "CHANGED" "ctl ($mode)"
	done
	expect_contains "$(get "$M/ctl")" "$(fingerprint "$K/host_ed25519.pub")" "the new key's fingerprint"
}

test_ssh_accept_new_records_an_unknown_key_then_enforce_accepts_it()
{
	start_sshd
	local a=${U}n b=${U}m
	connect "$a" ssh host=127.0.0.1 port="$P" identity="$K/id_ed25519" known_hosts="$T/kh" check_host_keys=accept-new
	grep -q "$(cut -d' ' -f2 "$K/host_ed25519.pub")" "$T/kh" || fail "the key was not recorded: $(cat "$T/kh")"
	# A key taken on trust leaves a trace: which, for what, where.
	expect_contains "$(snap "$M/$a/log")" \
		"accept-new: recorded the host key of 127.0.0.1 port $P ($(fingerprint "$K/host_ed25519.pub")) in $T/kh" \
		"the log"
	connect "$b" ssh host=127.0.0.1 port="$P" identity="$K/id_ed25519" known_hosts="$T/kh"
	[[ $(snap "$M/$b/log") != *recorded* ]] || fail "a known key was logged as recorded"
}

# An account whose login shell refuses (nologin): the reason is what the
# target printed, not only sshd's complaint about the home directory.
test_ssh_to_an_account_that_may_not_log_in_says_what_the_target_said()
{
	expect_eq "$(getent passwd nobody | cut -d: -f7)" /usr/sbin/nologin "nobody's shell"
	# sshd reads a user's keys as that user: nobody's are in a directory
	# nobody can read (the test's own are not).
	local pub
	pub=$(mktemp -d /tmp/mitofs-nobody.XXXXXX)
	TEARDOWN+=("rm -rf '$pub'")
	mkdir -p "$T/sshd"
	ssh-keygen -q -t ed25519 -N '' -f "$T/sshd/id_ed25519"
	cp "$T/sshd/id_ed25519.pub" "$pub/keys"
	chmod 755 "$pub"
	chmod 644 "$pub/keys"
	SSHD_EXTRA="Match User nobody
	AuthorizedKeysFile $pub/keys" start_sshd
	expect_write_errno EIO "$M/ctl" "connect ${U}n ssh $(sut) user=nobody"
	expect_contains "$(get "$M/ctl")" "This account is currently not available." "ctl"
	[ ! -e "$M/${U}n" ] || fail "a failed connect left its directory"
}

test_ssh_ignore_connects_and_logs_a_warning()
{
	start_sshd
	local a=${U}i
	: > "$T/kh"
	connect "$a" ssh host=127.0.0.1 port="$P" identity="$K/id_ed25519" known_hosts="$T/kh" check_host_keys=ignore
	expect_contains "$(snap "$M/log")" "check_host_keys=ignore" "warning in log"
}

test_ssh_config_alias_user_port_and_identity_come_from_ssh_config()
{
	start_sshd
	# A daemon of our own whose HOME has the alias: never the real ~/.ssh.
	mkdir -p "$T/home/.ssh" "$T/m2"
	cp "$K/ssh_config" "$T/home/.ssh/config"
	HOME=$T/home "$MITOFS" "$T/m2" || fail "second mount"
	TEARDOWN+=("fusermount3 -u '$T/m2' || fusermount3 -uz '$T/m2'")
	local a=${U}alias
	wr "$T/m2/ctl" "connect $a ssh host=sut"
	[ "$ERRNO" = OK ] || fail "connect by alias: $ERRNO; ctl: $(cat "$T/m2/ctl")"
	local info
	info=$(cat "$T/m2/$a/info")
	expect_eq "$(field "$info" port)" "$P" "port from the config"
	expect_eq "$(field "$info" host)" 127.0.0.1 "HostName from the config"
	expect_eq "$(field "$info" user)" root "User from the config"
	echo "disconnect $a" > "$T/m2/ctl"
}

test_ssh_password_from_a_file_and_a_wrong_one()
{
	start_sshd
	make_user "pw-$U-ok"
	local good bad a=${U}p b=${U}q
	good=$(secret good "pw-$U-ok")
	bad=$(secret bad "pw-$U-wrong")
	# Keys are offered first and fail (not authorised for this user).
	connect "$a" ssh host=127.0.0.1 port="$P" user="$NEWUSER" known_hosts="$K/known_hosts" password_file="$good"
	expect_eq "$(field "$(get "$M/$a/info")" uid)" "$(id -u "$NEWUSER")" "uid"
	expect_write_errno EACCES "$M/ctl" "connect $b ssh host=127.0.0.1 port=$P user=$NEWUSER known_hosts=$K/known_hosts password_file=$bad"
	expect_contains "$(get "$M/ctl")" "authentication failed" "ctl"
	# A password file others can read is refused before anything is sent.
	chmod 644 "$good"
	expect_write_errno EACCES "$M/ctl" "connect $b ssh host=127.0.0.1 port=$P user=$NEWUSER known_hosts=$K/known_hosts password_file=$good"
	expect_contains "$(get "$M/ctl")" "chmod 600" "ctl"
	# And never a password on a ctl line.
	expect_write_errno EINVAL "$M/ctl" "connect $b ssh host=127.0.0.1 port=$P password=x"
}

test_ssh_reconnect_finds_the_cached_stub_and_sends_under_1k()
{
	start_sshd
	make_user "pw-$U"
	local pw a=${U}r
	pw=$(secret pw "pw-$U")
	connect "$a" ssh host=127.0.0.1 port="$P" user="$NEWUSER" known_hosts="$K/known_hosts" password_file="$pw"
	local first again
	first=$(field "$(get "$M/$a/info")" bytes_out)
	(( first > 50000 )) || fail "the first connect to a fresh account sent only $first bytes (no upload?)"
	expect_write_ok "$M/$a/ctl" reconnect
	again=$(field "$(get "$M/$a/info")" bytes_out)
	(( again <= 1024 )) || fail "reconnect sent $again bytes"
	ls "/home/$NEWUSER/.cache/mitofs/" | grep -q '^stub-' || fail "no cached stub in the user's cache"
	expect_eq "$(stat -c %a "/home/$NEWUSER/.cache/mitofs")" 700 "cache directory mode"
}

# sshd gives the stub pipes of 64 KiB; the stub asks for 1 MiB, so a
# 1 MiB fs reply goes out in one write instead of sixteen sleeps and
# wake-ups of the stub and sshd.
test_ssh_stub_pipes_to_sshd_hold_a_whole_1m_reply()
{
	start_sshd
	local a=${U}p pid fd sz
	connect "$a" ssh $(sut)
	pid=$(stub_pid "$a")
	for fd in 0 1; do
		sz=$(python3 -c 'import fcntl, os, sys
f = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
print(fcntl.fcntl(f, 1032))' "/proc/$pid/fd/$fd")   # F_GETPIPE_SZ
		expect_eq "$sz" 1048576 "pipe size of the stub's fd $fd"
	done
	# Still the channel: a 1 MiB file reads back whole.
	head -c 1048576 /dev/urandom > "$T/one"
	expect_eq "$(timeout 20 cksum < "$M/$a/fs$T/one")" "$(cksum < "$T/one")" "1 MiB through the pipes"
}

test_ssh_target_without_a_stub_for_its_arch_gets_a_clear_error()
{
	SSHD_EXTRA="PermitUserEnvironment yes" start_sshd
	make_user "pw-$U"
	local pw a=${U}x h=/home/$NEWUSER
	pw=$(secret pw "pw-$U")
	# That user's sessions see a uname that names another machine.
	mkdir -p "$h/.ssh" "$h/fakebin"
	printf '#!/bin/sh\necho sparc64\n' > "$h/fakebin/uname"
	chmod 755 "$h/fakebin" "$h/fakebin/uname"
	echo "PATH=$h/fakebin:/usr/bin:/bin" > "$h/.ssh/environment"
	# A fresh account: nothing cached, so the stage must check and upload.
	expect_write_errno EIO "$M/ctl" "connect $a ssh host=127.0.0.1 port=$P user=$NEWUSER known_hosts=$K/known_hosts password_file=$pw"
	expect_contains "$(get "$M/ctl")" "unsupported arch sparc64 (have: x86_64, aarch64)" "ctl"
}

# A stub that breaks the protocol right after its hello (a corrupt or
# hostile target): the daemon drops that context with the reason, and
# every other context keeps working. The bad stub is put where the first
# stage finds a cached one.
test_ssh_a_stub_that_sends_bad_frames_is_dropped_and_the_rest_keeps_working()
{
	start_sshd
	make_user "pw-$U"
	local pw l=${U}l a=${U}g bad f why i
	local c=/home/$NEWUSER/.cache/mitofs
	pw=$(secret pw "pw-$U")
	connect "$l"
	local ssh="ssh host=127.0.0.1 port=$P user=$NEWUSER known_hosts=$K/known_hosts password_file=$pw"
	expect_write_ok "$M/ctl" "connect $a $ssh"
	wr "$M/ctl" "disconnect $a"
	f=$(ls "$c"/stub-* 2>/dev/null)
	[ -f "$f" ] || fail "no cached stub in $c: $(ls -la "$c" 2>&1)"
	# 1: a header with a bad magic; 2: a compressed payload that is not
	# deflate; 3: a header announcing more than FRAME_MAX_LEN.
	for bad in 'XX\000\000' 'MI\000\001' 'MI\000\000'; do
		i=$((${i:-0} + 1))
		case $i in
		1) why="bad frame header" ;;
		2) why="bad zlib payload" ;;
		3) why="frame too large" ;;
		esac
		local tail='\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\010notzlib!'
		((i == 3)) && tail='\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\177\377\377\377'
		# (A rename, not a write: the last one may still be running.)
		printf '#!/bin/sh\nprintf "MITOFS\\000\\001%s%s"\nexec sleep 30\n' "$bad" "$tail" > "$f.new"
		chmod 755 "$f.new" && mv -f "$f.new" "$f"
		expect_write_errno EIO "$M/ctl" "connect $a$i $ssh"
		expect_contains "$(get "$M/ctl")" "$why" "ctl after bad frame $i"
		[ ! -d "$M/$a$i" ] || expect_eq "$(field "$(get "$M/$a$i/info")" state)" disconnected "state $i"
		# The rest answers.
		expect_write_ok "$M/$l/exec" "echo still-here-$i"
		expect_eq "$(get "$M/$l/stdout")" "still-here-$i" "local context after bad frame $i"
	done
}

# Ciphers: OpenSSH's set, AES-GCM first where the CPU has AES and
# carry-less multiply instructions (both ends spend far less CPU on it);
# a Ciphers line in the daemon's ~/.ssh/config wins.
test_ssh_cipher_is_aes_gcm_on_aes_cpus_and_a_ciphers_line_in_ssh_config_wins()
{
	start_sshd
	local want=chacha20-poly1305@openssh.com
	if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
		want=aes128-gcm@openssh.com
	fi
	# Daemons of their own, with a HOME of their own: an empty one, and
	# one whose ssh config names another cipher. (The system's
	# /etc/ssh/ssh_config applies to both.)
	local n h m
	for n in 1 2; do
		h=$T/home$n m=$T/m$n
		mkdir -p "$h/.ssh" "$m"
		((n == 2)) && printf 'Host *\n  Ciphers aes256-ctr\n' > "$h/.ssh/config"
		HOME=$h "$MITOFS" "$m" || fail "mount $m"
		TEARDOWN+=("fusermount3 -u '$m' || fusermount3 -uz '$m'")
		expect_write_ok "$m/ctl" "connect ${U}c$n ssh $(sut)"
	done
	if grep -sqiE '^[[:space:]]*Ciphers[[:space:]]' /etc/ssh/ssh_config /etc/ssh/ssh_config.d/*; then
		echo "SKIP (default cipher): /etc/ssh/ssh_config sets Ciphers"
	else
		expect_eq "$(field "$(get "$T/m1/${U}c1/info")" cipher)" "$want" "cipher by default"
	fi
	expect_eq "$(field "$(get "$T/m2/${U}c2/info")" cipher)" aes256-ctr "cipher from ~/.ssh/config"
	expect_write_ok "$T/m2/${U}c2/exec" "echo over-ctr"
	expect_eq "$(get "$T/m2/${U}c2/stdout")" over-ctr "a call over it"
}

test_ssh_keepalive_disconnects_a_peer_that_stopped_answering()
{
	start_sshd
	local a=${U}k pid
	connect "$a" ssh $(sut) keepalive=1
	pid=$(stub_pid "$a")
	expect_write_ok "$M/$a/exec" 'sleep 60'
	kill -STOP "$pid"
	TEARDOWN+=("kill -9 $pid")
	local t0
	t0=$(now_ms)
	rd "$M/$a/status" 10
	expect_eq "$ERRNO" EIO "status of a job on a frozen peer"
	(( $(now_ms) - t0 < 5000 )) || fail "took $(( $(now_ms) - t0 )) ms"
	local info
	info=$(get "$M/$a/info")
	expect_eq "$(field "$info" state)" disconnected "state"
	expect_contains "$(field "$info" why)" keepalive "why"
}

test_killing_the_ssh_session_wakes_readers_within_1s()
{
	start_sshd
	local a=${U}d pid sess
	connect "$a" ssh $(sut)
	pid=$(stub_pid "$a")
	sess=$(ps -o ppid= -p "$pid" | tr -d ' ')
	[[ $(ps -o args= -p "$sess") == sshd* ]] || fail "the stub's parent is not sshd: $(ps -o args= -p "$sess")"
	expect_write_ok "$M/$a/exec" 'echo started; sleep 60'
	bg sh -c 'cat "$1" >"$2.out" 2>"$2.err"' _ "$M/$a/stdout" "$T/reader"
	local reader=$BG_LAST t0
	sleep 0.2
	t0=$(now_ms)
	kill -9 "$sess"
	rd "$M/$a/status" 5
	expect_eq "$ERRNO" EIO "status"
	wait_until 1 "the stdout reader to end" bash -c "! kill -0 $reader 2>/dev/null"
	(( $(now_ms) - t0 <= 1000 )) || fail "readers woke after $(( $(now_ms) - t0 )) ms"
	expect_eq "$(cat "$T/reader.out")" started "what the stdout reader got"
	expect_contains "$(cat "$T/reader.err")" "Input/output error" "then its error"
	expect_eq "$(field "$(get "$M/$a/info")" state)" disconnected "state"
	wait_until 5 "the remote stub to exit" bash -c "! kill -0 $pid 2>/dev/null"
}

test_twenty_ssh_contexts_connect_in_parallel()
{
	start_sshd
	local i pids=()
	for i in $(seq 20); do
		( printf '%s\n' "connect ${U}p$i ssh $(sut)" > "$M/ctl" ) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "a parallel connect failed: $(cat "$M/ctl")"
	done
	for i in $(seq 20); do
		expect_eq "$(field "$(get "$M/${U}p$i/info")" state)" connected "${U}p$i"
	done
}

# --- through a stub: sudo, su, the host's ssh client, chains ---

test_sudo_to_nobody_runs_as_nobody()
{
	local a=${U}a n=${U}n
	connect "$a"
	connect "$a/$n" sudo user=nobody
	expect_eq "$(field "$(get "$M/$a/$n/info")" uid)" "$(id -u nobody)" "uid"
	expect_write_ok "$M/$a/$n/exec" 'id -un'
	expect_eq "$(get "$M/$a/$n/stdout")" nobody "id -un"
}

test_sudo_and_su_with_passwords_and_a_refused_one()
{
	make_user "pw-$U-1"
	local u1=$NEWUSER
	make_user "pw-$U-2"
	local u2=$NEWUSER
	echo "$u1 ALL=(ALL:ALL) ALL" > "/etc/sudoers.d/mitofs-$u1"
	chmod 440 "/etc/sudoers.d/mitofs-$u1"
	TEARDOWN+=("rm -f '/etc/sudoers.d/mitofs-$u1'")
	local p1 p2 bad
	p1=$(secret p1 "pw-$U-1")
	p2=$(secret p2 "pw-$U-2")
	bad=$(secret bad "not-the-password")
	local a=${U}a m=${U}m r=${U}r s=${U}s x=${U}x
	connect "$a"
	connect "$a/$m" su user="$u1"          # root needs no password
	expect_eq "$(field "$(get "$M/$a/$m/info")" uid)" "$(id -u "$u1")" "su uid"
	connect "$a/$m/$r" sudo password_file="$p1"
	expect_eq "$(field "$(get "$M/$a/$m/$r/info")" uid)" 0 "sudo uid"
	connect "$a/$m/$s" su user="$u2" password_file="$p2"
	expect_eq "$(field "$(get "$M/$a/$m/$s/info")" uid)" "$(id -u "$u2")" "su with password"
	# A refused password fails at once, not at the timeout.
	local t0
	t0=$(now_ms)
	expect_write_errno EACCES "$M/$a/$m/ctl" "connect $x sudo password_file=$bad"
	(( $(now_ms) - t0 < 8000 )) || fail "a refused password took $(( $(now_ms) - t0 )) ms"
	expect_contains "$(get "$M/$a/$m/ctl")" "authentication failed" "ctl"
	expect_write_errno EACCES "$M/$a/$m/ctl" "connect $x su user=$u2"
	expect_contains "$(get "$M/$a/$m/ctl")" "password is needed" "ctl"
	# The password never appears in any command line.
	local all
	all=$(ps -eo args=)
	[[ $all != *"pw-$U-"* ]] || fail "a password is visible in ps"
}

# Sets B_DIR, and the B and C hosts: B reachable from here, C only from B.
netns_up()
{
	B_DIR=$T/hosts
	"$SSHD/netns.sh" up "$B_DIR" >/dev/null || fail "network namespaces did not come up"
	TEARDOWN+=("'$SSHD/netns.sh' down '$B_DIR'")
}

test_chain_a_b_c_routes_through_b_to_a_host_only_b_reaches()
{
	netns_up
	local b=${U}b c=${U}c
	if timeout 2 bash -c "exec 3<>/dev/tcp/10.251.2.2/$(cat "$B_DIR/c/port")" 2>/dev/null; then
		fail "C is reachable from here: the test would prove nothing"
	fi
	connect "$b" ssh host=10.251.1.2 port="$(cat "$B_DIR/b/port")" identity="$B_DIR/b/id_ed25519" known_hosts="$B_DIR/b/known_hosts"
	connect "$b/$c" ssh host=10.251.2.2 port="$(cat "$B_DIR/c/port")" identity="$B_DIR/c/id_ed25519" known_hosts="$B_DIR/c/known_hosts"
	expect_write_ok "$M/$b/$c/exec" 'ip -4 -o addr show | grep -o "10\.251\.[0-9.]*"'
	expect_eq "$(get "$M/$b/$c/stdout")" 10.251.2.2 "C's address, seen from C"
	local ib ic
	ib=$(get "$M/$b/info")
	ic=$(get "$M/$b/$c/info")
	expect_eq "$(field "$ic" parent)" "$(field "$ib" id)" "C's parent is B"
	# Lose the middle hop: everything below it wakes within a second.
	expect_write_ok "$M/$b/$c/exec" 'sleep 60'
	bg cat "$M/$b/$c/stdout"
	local reader=$BG_LAST t0
	sleep 0.2
	t0=$(now_ms)
	kill -9 "$(field "$ib" pid)"
	rd "$M/$b/$c/status" 5
	expect_eq "$ERRNO" EIO "status below the lost hop"
	wait_until 1 "the reader below the lost hop to end" bash -c "! kill -0 $reader 2>/dev/null"
	(( $(now_ms) - t0 <= 1000 )) || fail "took $(( $(now_ms) - t0 )) ms"
	expect_eq "$(field "$(get "$M/$b/$c/info")" state)" disconnected "C's state"
	wait_until 5 "C's stub to exit" bash -c "! kill -0 $(field "$ic" pid) 2>/dev/null"
}

test_doas_with_and_without_a_password()
{
	command -v doas >/dev/null || fail "doas is not installed (make deps installs opendoas)"
	make_user "pw-$U-d"
	local u1=$NEWUSER p1 bad
	p1=$(secret p1 "pw-$U-d")
	bad=$(secret bad "wrong")
	# Our own doas.conf for the test, the machine's (if any) put back after.
	if [ -e /etc/doas.conf ]; then
		cp -p /etc/doas.conf "$T/doas.conf.saved"
		TEARDOWN+=("cp -p '$T/doas.conf.saved' /etc/doas.conf")
	else
		TEARDOWN+=("rm -f /etc/doas.conf")
	fi
	printf 'permit nopass root as nobody\npermit %s as root\n' "$u1" > /etc/doas.conf
	chmod 600 /etc/doas.conf
	local a=${U}a n=${U}n m=${U}m r=${U}r x=${U}x
	connect "$a"
	connect "$a/$n" doas user=nobody
	expect_eq "$(field "$(get "$M/$a/$n/info")" uid)" "$(id -u nobody)" "doas to nobody"
	connect "$a/$m" su user="$u1"
	connect "$a/$m/$r" doas password_file="$p1"
	expect_eq "$(field "$(get "$M/$a/$m/$r/info")" uid)" 0 "doas with a password"
	expect_write_errno EACCES "$M/$a/$m/ctl" "connect $x doas password_file=$bad"
	expect_contains "$(get "$M/$a/$m/ctl")" "authentication failed" "ctl"
}

# t_fs_lock.sh — file locks in NAME/fs/ are the target's: flock(2) and
# fcntl/lockf locks taken through the mount exclude processes on the
# target (here the real path R, for a local context and an ssh one to this
# machine) and each other, waits end when the holder lets go, an
# interrupted wait leaves nothing behind, close releases, and the daemon
# keeps serving while a lock waits. Control files refuse locks (ENOLCK).

# fs_ctx, fs_ssh_ctx (C, F, R, V) come from t_fs.sh; its tests are not
# run from here (run.sh lists the test_ functions of this file only).
# shellcheck source=t_fs.sh
source "$(dirname "${BASH_SOURCE[0]}")/t_fs.sh"

PY=/usr/bin/python3

# A lock helper: lk.py MODE PATH KIND [ARGS], KIND flock or lockf.
#   hold PATH KIND READY RELEASE  lock (waiting), touch READY, keep the
#                                 lock until RELEASE exists
#   try PATH KIND                 non-blocking exclusive lock: got / busy
#   wait PATH KIND SECS           waiting lock, interrupted after SECS by
#                                 a signal whose handler raises: got /
#                                 interrupted
#   getlk PATH                    F_GETLK for a write lock: "TYPE PID"
#   closefork PATH REAL           lockf, fork a child that keeps the fd,
#                                 close ours: "try" on REAL after it
lk_helper()
{
	cat >"$T/lk.py" <<'EOF'
import fcntl, os, signal, struct, subprocess, sys, time
mode, path = sys.argv[1], sys.argv[2]
kind = sys.argv[3] if len(sys.argv) > 3 else 'lockf'
def lock(fd, nb):
    if kind == 'flock':
        fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if nb else 0))
    else:
        fcntl.lockf(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if nb else 0))
fd = os.open(path, os.O_RDWR)
if mode == 'hold':
    lock(fd, False)
    open(sys.argv[4], 'w').close()
    while not os.path.exists(sys.argv[5]):
        time.sleep(0.02)
elif mode == 'try':
    try:
        lock(fd, True)
        print('got')
    except OSError as e:
        print('busy' if e.errno in (11, 13) else 'error %d' % e.errno)
elif mode == 'wait':
    def on_alarm(*a):
        raise TimeoutError()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(sys.argv[4]))
    try:
        lock(fd, False)
        print('got')
    except TimeoutError:
        print('interrupted')
elif mode == 'getlk':
    r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))
    t, w, s, l, p = struct.unpack('hhqqi', r)
    print({fcntl.F_UNLCK: 'unlck', fcntl.F_RDLCK: 'rdlck', fcntl.F_WRLCK: 'wrlck'}[t], p)
elif mode == 'closefork':
    fcntl.lockf(fd, fcntl.LOCK_EX)
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    os.close(fd)
    r = subprocess.run([sys.executable, __file__, 'try', sys.argv[3]], capture_output=True, text=True)
    print(r.stdout.strip())
    os.kill(pid, 9)
    os.wait()
EOF
}

# Starts a holder of FILE's lock (KIND) in the background and waits until
# it has it; release with `touch $T/release.N`. Sets HN (N).
HN=0
hold()   # FILE KIND
{
	HN=$(( HN + 1 ))
	bg timeout 40 "$PY" "$T/lk.py" hold "$1" "$2" "$T/ready.$HN" "$T/release.$HN"
	wait_until 10 "holder $HN of $1 ($2)" test -e "$T/ready.$HN"
}

release()   # N
{
	touch "$T/release.$1"
}

try_lock()   # FILE KIND
{
	timeout 10 "$PY" "$T/lk.py" try "$1" "$2"
}

# True when a non-blocking exclusive lock (KIND) on FILE is had now.
lock_free()   # FILE KIND
{
	[ "$(try_lock "$1" "$2")" = got ]
}

lock_ctx()   # [METHOD...]
{
	fs_ctx "$@"
	lk_helper
	printf 'data\n' >"$R/f"
}

# Both kinds, both ways between V (through the mount) and R.
excludes_both_ways()
{
	local kind
	for kind in flock lockf; do
		expect_eq "$(try_lock "$R/f" "$kind")" got "$kind on R, nobody holding"
		hold "$V/f" "$kind"
		expect_eq "$(try_lock "$R/f" "$kind")" busy "$kind on R while V holds"
		release "$HN"
		wait_until 10 "$kind on R after V released" lock_free "$R/f" "$kind"
		hold "$R/f" "$kind"
		expect_eq "$(try_lock "$V/f" "$kind")" busy "$kind on V while R holds"
		release "$HN"
		wait_until 10 "$kind on V after R released" lock_free "$V/f" "$kind"
	done
}

test_fs_lock_flock_and_lockf_through_the_mount_exclude_the_real_path_and_back()
{
	lock_ctx
	excludes_both_ways
	# flock(1) itself, as a shell script uses it
	bg flock "$V/f" sh -c "touch '$T/in'; while [ ! -e '$T/out' ]; do sleep 0.02; done"
	wait_until 10 "flock(1) through the mount" test -e "$T/in"
	if flock -n "$R/f" true; then fail "flock -n on R succeeded while flock(1) on V held"; fi
	touch "$T/out"
	wait_until 10 "flock -n on R after flock(1) on V ended" flock -n "$R/f" true
}

test_fs_lock_two_processes_through_the_mount_exclude_each_other()
{
	lock_ctx
	local kind
	for kind in flock lockf; do
		hold "$V/f" "$kind"
		expect_eq "$(try_lock "$V/f" "$kind")" busy "$kind on V while another opener of V holds"
		release "$HN"
		wait_until 10 "$kind on V after release" lock_free "$V/f" "$kind"
	done
	# shared flocks share, through the mount and with the real path
	bg flock -s "$V/f" sh -c "touch '$T/s1'; sleep 30"
	wait_until 10 "a shared flock on V" test -e "$T/s1"
	flock -s -n "$V/f" true || fail "a second shared flock on V was refused"
	flock -s -n "$R/f" true || fail "a shared flock on R was refused"
	if flock -x -n "$V/f" true; then fail "an exclusive flock on V beside a shared one"; fi
}

test_fs_lock_a_blocking_lock_waits_and_gets_it_when_the_holder_releases()
{
	lock_ctx
	local kind out t0 t1
	for kind in flock lockf; do
		hold "$R/f" "$kind"
		t0=$(now_ms)
		# the waiter holds it for a moment, so R can see it did
		bg sh -c "'$PY' '$T/lk.py' hold '$V/f' $kind '$T/w.$kind' '$T/w.$kind.done'"
		sleep 0.5
		[ ! -e "$T/w.$kind" ] || fail "$kind on V did not wait for R's lock"
		release "$HN"
		wait_until 10 "$kind on V after R released" test -e "$T/w.$kind"
		t1=$(now_ms)
		(( t1 - t0 < 3000 )) || fail "$kind: the wait took $(( t1 - t0 )) ms"
		expect_eq "$(try_lock "$R/f" "$kind")" busy "$kind on R while the waiter holds"
		touch "$T/w.$kind.done"
		wait_until 10 "$kind on R after the waiter ended" lock_free "$R/f" "$kind"
	done
	# flock(1)'s own blocking mode
	hold "$R/f" flock
	bg sh -c "flock '$V/f' touch '$T/fl.got'"
	sleep 0.3
	[ ! -e "$T/fl.got" ] || fail "flock(1) on V did not wait"
	release "$HN"
	wait_until 10 "flock(1) on V after release" test -e "$T/fl.got"
}

test_fs_lock_an_interrupted_wait_leaves_no_lock_behind()
{
	lock_ctx
	local kind rc=0 waiter
	# flock -w 1: its timer interrupts the wait
	hold "$R/f" flock
	flock -w 1 "$V/f" true || rc=$?
	expect_eq "$rc" 1 "flock -w 1 on V while R holds (exit status)"
	release "$HN"
	sleep 0.3 # past the stub's retry interval, had the wait gone on
	expect_eq "$(try_lock "$R/f" flock)" got "flock on R after a timed-out wait on V"
	# a signal handler that raises (python's lockf would retry on EINTR)
	for kind in flock lockf; do
		hold "$R/f" "$kind"
		expect_eq "$(timeout 10 "$PY" "$T/lk.py" wait "$V/f" "$kind" 0.5)" interrupted \
			"$kind on V interrupted by a signal"
		release "$HN"
		sleep 0.3
		expect_eq "$(try_lock "$R/f" "$kind")" got "$kind on R after an interrupted wait on V"
	done
	# a waiter killed outright, with the file still open by a sibling
	hold "$R/f" lockf
	exec 8<"$V/f"
	bg "$PY" "$T/lk.py" wait "$V/f" lockf 100
	waiter=$BG_LAST
	sleep 0.3
	kill -9 "$waiter"
	wait "$waiter" 2>/dev/null || true
	release "$HN"
	sleep 0.3
	expect_eq "$(try_lock "$R/f" lockf)" got "lockf on R after a killed waiter on V"
	exec 8<&-
}

test_fs_lock_closing_the_file_releases_the_lock()
{
	lock_ctx
	# flock: the open file's last close
	exec 7<"$V/f"
	flock -x -n 7 || fail "flock on fd 7 (V) refused"
	expect_eq "$(try_lock "$R/f" flock)" busy "flock on R while fd 7 on V holds"
	exec 7<&-
	wait_until 10 "flock on R after fd 7 closed" lock_free "$R/f" flock
	# POSIX: any close by the owner, though a child still has the file open
	expect_eq "$(timeout 20 "$PY" "$T/lk.py" closefork "$V/f" "$R/f")" got \
		"lockf on R after the owner closed V (a child keeps it open)"
	# and the holder's exit
	hold "$V/f" lockf
	release "$HN"
	wait_until 10 "lockf on R after V's holder exited" lock_free "$R/f" lockf
}

test_fs_lock_the_daemon_keeps_serving_while_a_lock_waits()
{
	lock_ctx
	hold "$R/f" lockf
	bg "$PY" "$T/lk.py" hold "$V/f" lockf "$T/got" "$T/done"
	sleep 0.3
	printf 'other\n' >"$V/g"
	expect_eq "$(cat "$R/g")" other "a write through the mount while a lock waits"
	expect_eq "$(cat "$V/g")" other "a read through the mount while a lock waits"
	ls "$V" >/dev/null
	expect_eq "$(try_lock "$V/g" lockf)" got "a lock on another file while one waits"
	get "$M/$C/info" >/dev/null
	[ ! -e "$T/got" ] || fail "the waiting lock was granted while R held it"
	release "$HN"
	wait_until 10 "the waiting lock after release" test -e "$T/got"
	touch "$T/done"
}

test_fs_lock_getlk_shows_the_conflicting_lock()
{
	lock_ctx
	expect_eq "$(timeout 10 "$PY" "$T/lk.py" getlk "$V/f")" "unlck 0" "F_GETLK on V, no lock"
	hold "$R/f" lockf
	local pid
	pid=$(pgrep -f -- "^$PY $T/lk.py hold $R/f ")
	expect_eq "$(timeout 10 "$PY" "$T/lk.py" getlk "$V/f")" "wrlck $pid" \
		"F_GETLK on V: R's holder, by its pid on the target"
	release "$HN"
	# a lock taken through the mount is an OFD lock on the target: no pid
	hold "$V/f" lockf
	expect_eq "$(timeout 10 "$PY" "$T/lk.py" getlk "$V/f")" "wrlck 0" "F_GETLK on V: V's holder"
	expect_eq "$(timeout 10 "$PY" "$T/lk.py" getlk "$R/f")" "wrlck -1" "F_GETLK on R: V's holder"
}

test_fs_lock_control_files_refuse_locks_with_enolck()
{
	local out rc=0
	out=$(flock -n "$M/README" true 2>&1) || rc=$?
	(( rc != 0 )) || fail "flock on README succeeded"
	expect_contains "$out" "No locks available" "flock on README"
	expect_eq "$(timeout 10 "$PY" -c "
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB); print('got')
except OSError as e:
    print(e.errno)
t = struct.unpack('hhqqi', fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack('hhqqi', fcntl.F_RDLCK, 0, 0, 0, 0)))[0]
print(t == fcntl.F_UNLCK)
fcntl.lockf(fd, fcntl.LOCK_UN)
" "$M/README" | paste -sd' ')" "37 True" "lockf (ENOLCK), F_GETLK (F_UNLCK) and unlock on README"
	# directories keep the kernel's own locks
	flock -n "$M" true || fail "flock on the mount's root directory"
}

test_fs_lock_over_ssh_exclude_the_real_path_and_back()
{
	fs_ssh_ctx
	lk_helper
	printf 'data\n' >"$R/f"
	excludes_both_ways
	hold "$R/f" flock
	expect_eq "$(timeout 10 "$PY" "$T/lk.py" wait "$V/f" flock 0.5)" interrupted \
		"flock on V (ssh) interrupted"
	release "$HN"
	sleep 0.3
	expect_eq "$(try_lock "$R/f" flock)" got "flock on R after an interrupted wait over ssh"
}

# A file opened read-only (read whole at open) is opened again by name
# at its first lock: if the name is another file's by then, the lock is
# refused (ENOLCK) rather than taken on the wrong file.
test_fs_lock_on_a_file_replaced_since_its_open_is_refused()
{
	fs_ctx
	echo old > "$R/f"
	echo new > "$R/g"
	expect_py_errno ENOLCK "flock after the name was replaced" '
import fcntl
fd = os.open(A[0], os.O_RDONLY)
os.rename(A[1], A[2])
fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
' "$V/f" "$R/g" "$R/f"
	expect_py_errno OK "the new file is not locked" '
import fcntl
fd = os.open(A[0], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
' "$R/f"
	expect_py_errno OK "a lock on a file still under its name" '
import fcntl
fd = os.open(A[0], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
os.close(fd)
' "$V/f"
}

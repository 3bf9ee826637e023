# t_methods.sh — the methods of the table beyond local and ssh, for real:
# a chroot whose only program is Debian's busybox-static (no /usr, no
# procps), the same rootfs with busybox-static:arm64 under qemu-user
# (binfmt_misc, registered here when missing), setns into a process made
# by unshare, sudo straight from the daemon, and docker, podman, buildah,
# kubectl, lxc, lxd and machinectl through stand-in binaries given with
# their *_path= option: each records its argv and runs the command in the
# busybox chroot, as Mitogen's tests do with stub scripts. No container
# engine is needed. Needs root (chroot, setns, mount), the busybox builds
# that `make integration` fetches next to the daemon, and qemu-user-static.

BB_DIR=$(dirname "$MITOFS")/busybox

# A root of busybox alone for DEB_ARCH (amd64, arm64): its applets as links
# in /bin, /dev/null, /proc mounted (unmounted when the test ends), a
# writable /tmp and root's /etc/passwd line. Prints nothing.
make_rootfs()   # DIR DEB_ARCH
{
	local dir=$1 bb=$BB_DIR/$2/busybox a
	[ -x "$bb" ] || fail "no $bb (make integration fetches it)"
	mkdir -p "$dir"/bin "$dir"/dev "$dir"/proc "$dir"/tmp "$dir"/etc "$dir"/root
	cp "$bb" "$dir/bin/busybox"
	# The amd64 build lists the applets (the same version and config).
	for a in $("$BB_DIR/amd64/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"
	done
	mknod -m 666 "$dir/dev/null" c 1 3
	chmod 1777 "$dir/tmp"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
	echo 'nobody:x:65534:65534:nobody:/tmp:/bin/sh' >>"$dir/etc/passwd"
	mount -t proc proc "$dir/proc"
	TEARDOWN+=("umount -l '$dir/proc'")
}

# Runs aarch64 programs through qemu-user: binfmt_misc mounted and the
# qemu-aarch64 entry of qemu-user-static registered (with F: the chroot
# needs no qemu of its own), both undone at the end if done here.
need_qemu_aarch64()
{
	local b=/proc/sys/fs/binfmt_misc
	if [ ! -e "$b/register" ]; then
		mount -t binfmt_misc binfmt_misc "$b" || fail "cannot mount binfmt_misc"
		TEARDOWN+=("umount '$b'")
	fi
	if [ ! -e "$b/qemu-aarch64" ]; then
		[ -r /usr/lib/binfmt.d/qemu-aarch64.conf ] || fail "qemu-user-static is not installed"
		cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$b/register"
		TEARDOWN+=("echo -1 > '$b/qemu-aarch64'")
	fi
}

# Runs CMD as the last job of context PATH; prints its stdout, fails
# unless it exits 0.
run_in()   # PATH CMD
{
	expect_write_ok "$M/$1/exec" "$2"
	local st
	st=$(get "$M/$1/status" 20)
	[ "$st" = "exit 0" ] || fail "$1: '$2': $st; stderr: $(get "$M/$1/stderr")"
	get "$M/$1/stdout" 20
}

# exec, a job with stdin, fs/ read and write, info's arch, and a local
# context under it: what a busybox-only target must serve.
check_busybox_target()   # PATH ROOTDIR ARCH
{
	local path=$1 root=$2 arch=$3 out n
	expect_eq "$(field "$(get "$M/$path/info")" arch)" "$arch" "$path info arch"
	out=$(run_in "$path" 'uname -m; [ -e /usr ] || echo no-usr; echo $0')
	expect_eq "$out" "$arch"$'\n'"no-usr"$'\n'"sh" "$path: uname, /usr, the shell"
	n=$(start_job "$path" 'read x; echo "got $x"')
	echo hello >"$M/$path/jobs/$n/stdin"
	expect_eq "$(get "$M/$path/jobs/$n/stdout")" "got hello" "$path: a job's stdin"
	expect_eq "$(get "$M/$path/jobs/$n/status")" "exit 0" "$path: the job's status"
	echo "written through fs/" >"$M/$path/fs/tmp/f"
	expect_eq "$(cat "$root/tmp/f")" "written through fs/" "$path: a write to fs/ lands in the root"
	expect_eq "$(cat "$M/$path/fs/etc/passwd" | head -n1)" "root:x:0:0:root:/root:/bin/sh" \
		"$path: fs/ reads the target's files"
	connect "$path/${U}in" local
	expect_eq "$(run_in "$path/${U}in" 'uname -m')" "$arch" "$path/${U}in: a nested context"
}

test_busybox_chroot_serves_exec_jobs_fs_and_a_nested_context()
{
	make_rootfs "$T/r" amd64
	connect "${U}bb" chroot "path=$T/r"
	check_busybox_target "${U}bb" "$T/r" x86_64
	# The stub was cached in root's home of the target: a reconnect
	# skips the upload and works the same.
	ls "$T/r/root/.cache/mitofs/" | grep -q '^stub-' || fail "no stub cached on the target"
	expect_write_ok "$M/${U}bb/ctl" reconnect
	expect_eq "$(run_in "${U}bb" 'echo again')" again "after a reconnect"
}

test_aarch64_busybox_chroot_under_qemu()
{
	need_qemu_aarch64
	make_rootfs "$T/r64" arm64
	connect "${U}arm" chroot "path=$T/r64"
	check_busybox_target "${U}arm" "$T/r64" aarch64
	# The aarch64 stub was uploaded, not the x86_64 one.
	local f
	f=$(ls "$T/r64/root/.cache/mitofs/"stub-*)
	head -c 20 "$f" | od -An -tx1 | tr -d ' \n' | grep -q '^7f454c46020101.*b700$' ||
		fail "the cached stub is not an aarch64 ELF"
	# Under qemu-user too, ps names the stub by its context.
	local pid
	pid=$(field "$(get "$M/${U}arm/info")" pid)
	echo "# ps: $(ps -o args= -p "$pid")"
	expect_match "$(ps -o args= -p "$pid")" "mitofs:${U}arm\$" "args of the emulated stub"
}

test_chroot_as_a_user_and_through_a_parent()
{
	make_rootfs "$T/r" amd64
	connect "${U}p" local
	connect "${U}p/${U}c" chroot "path=$T/r" user=nobody
	expect_eq "$(run_in "${U}p/${U}c" 'id -u; echo $HOME')" $'65534\n/tmp' "chroot user=nobody"
	expect_write_errno EIO "$M/${U}p/ctl" "connect ${U}bad chroot path=$T/nonesuch"
	expect_contains "$(cat "$M/${U}p/ctl")" "chroot $T/nonesuch: No such file or directory" \
		"the reason of a chroot that fails"
	expect_write_errno EINVAL "$M/ctl" "connect ${U}rel chroot path=relative"
	[ ! -e "$M/${U}rel" ] || fail "a refused connect left a directory"
}

test_sudo_straight_from_the_daemon()
{
	connect "${U}s" sudo
	expect_eq "$(run_in "${U}s" 'id -u')" 0 "sudo from the daemon"
	connect "${U}n" sudo user=nobody
	expect_eq "$(run_in "${U}n" 'id -u')" 65534 "sudo user=nobody from the daemon"
	# The root ctl refuses a password on the line, as a context's does.
	expect_write_errno EINVAL "$M/ctl" "connect ${U}x sudo password=secret"
	expect_contains "$(cat "$M/ctl")" "password_file=" "where passwords go"
}

# A process in namespaces of its own: uts (its own hostname), net (only
# lo), mount and pid. Sets NS_PID to its pid as we see it.
start_namespaced()
{
	bg unshare --uts --net --mount --pid --fork sh -c "hostname ${U}ns; exec sleep 300"
	local u=$BG_LAST
	wait_until 5 "the process inside the namespaces" pgrep -P "$u" >/dev/null
	NS_PID=$(pgrep -P "$u")
	wait_until 5 "its hostname" test "$(nsenter -t "$NS_PID" -u hostname)" = "${U}ns"
}

test_setns_enters_every_namespace_of_a_process()
{
	start_namespaced
	connect "${U}ns" setns "pid=$NS_PID"
	expect_eq "$(run_in "${U}ns" hostname)" "${U}ns" "the namespace's hostname"
	local devs
	devs=$(run_in "${U}ns" "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
	expect_eq "$devs" lo "network devices inside"
	# A new pid namespace: the stub is a small pid there (sleep is 1).
	local pid
	pid=$(field "$(get "$M/${U}ns/info")" pid)
	(( pid < 50 )) || fail "the stub's pid $pid is not the namespace's"
	# Through a parent context, and by a container's name through its
	# tool (a stand-in docker answering inspect with that pid).
	connect "${U}p" local
	connect "${U}p/${U}ns2" setns "pid=$NS_PID"
	expect_eq "$(run_in "${U}p/${U}ns2" hostname)" "${U}ns" "setns through a parent"
	make_standin docker
	connect "${U}byname" setns container=box kind=docker "docker_path=$T/bin/docker"
	expect_eq "$(run_in "${U}byname" hostname)" "${U}ns" "setns container= kind=docker"
	connect "${U}mc" machinectl container=box "machinectl_path=$T/bin/docker"
	expect_eq "$(run_in "${U}mc" hostname)" "${U}ns" "machinectl"
	expect_contains "$(cat "$T/argv.docker")" $'show\n--property=Leader\n--value\nbox' \
		"how machinectl is asked for the leader"
	# No such process, no such container: the reason, no directory.
	expect_write_errno EIO "$M/ctl" "connect ${U}gone setns pid=4194000"
	expect_contains "$(cat "$M/ctl")" "process 4194000: no such process" "setns to no process"
	expect_write_errno EIO "$M/ctl" \
		"connect ${U}gone setns container=nope kind=docker docker_path=$T/bin/docker"
	expect_contains "$(cat "$M/ctl")" "docker container nope: Error: No such container: nope" \
		"setns to no container"
	[ ! -e "$M/${U}gone" ] || fail "a failed connect left a directory"
}

# A stand-in for a container tool in $T/bin/NAME: records its argv in
# $T/argv.NAME, one per line; `inspect`/`show` (the leader lookups) print
# NS_PID; otherwise, when the container "box" (or pod "pod1") is among its
# arguments, runs the last one (the first stage) with /bin/sh -c in the
# busybox root $T/r, else says there is no such container. STANDIN_HANG=1
# makes it hang instead.
make_standin()   # NAME
{
	mkdir -p "$T/bin"
	cat >"$T/bin/$1" <<EOF
#!/bin/bash
printf '%s\n' "\$@" >"$T/argv.$1"
[ -e "$T/hang" ] && exec -a "${U}hang" sleep 30
case \$1 in inspect|show)
	if [ "\${!#}" = box ]; then echo "${NS_PID:-0}"; exit 0; fi
	echo "Error: No such container: \${!#}" >&2; exit 1;;
esac
for a in "\$@"; do
	case \$a in box|pod1) exec chroot "$T/r" /bin/sh -c "\${!#}";; esac
done
names=\$(printf '%s ' "\$@" | sed 's| /bin/sh -c .*||' | awk '{print \$NF}')
echo "Error: No such container: \$names" >&2
exit 1
EOF
	chmod 755 "$T/bin/$1"
}

# Connects PATH by METHOD through its stand-in and checks that it works
# end to end and that the tool got ARGV (its arguments up to /bin/sh).
check_standin()   # PATH METHOD TOOL ARGV OPTS...
{
	local path=$1 method=$2 tool=$3 want=$4
	shift 4
	connect "$path" "$method" "$@"
	expect_eq "$(run_in "$path" 'echo hi; [ -e /usr ] || echo busybox-root')" \
		$'hi\nbusybox-root' "$method: runs in the container"
	expect_eq "$(head -c 5 "$M/$path/fs/etc/passwd")" "root:" "$method: fs/"
	local got
	got=$(sed '/^\/bin\/sh$/,$d' "$T/argv.$tool" | paste -sd' ')
	expect_eq "$got" "$want" "$method: the tool's arguments"
	expect_eq "$(sed -n '/^\/bin\/sh$/,$p' "$T/argv.$tool" | head -n2 | paste -sd' ')" \
		"/bin/sh -c" "$method: the command is the first stage"
}

test_container_tools_through_stand_ins()
{
	make_rootfs "$T/r" amd64
	local t
	for t in docker podman buildah kubectl lxc-attach lxc; do
		make_standin "$t"
	done
	check_standin "${U}d" docker docker "exec -i --user=app box" \
		container=box user=app "docker_path=$T/bin/docker"
	check_standin "${U}pm" podman podman "exec -i box" container=box "podman_path=$T/bin/podman"
	check_standin "${U}b" buildah buildah "run -- box" container=box "buildah_path=$T/bin/buildah"
	check_standin "${U}k" kubectl kubectl "--context=test exec -i pod1 -c app --" \
		pod=pod1 container=app kubectl_args=--context=test "kubectl_path=$T/bin/kubectl"
	check_standin "${U}l" lxc lxc-attach "--clear-env --name box --" \
		container=box "lxc_attach_path=$T/bin/lxc-attach"
	check_standin "${U}x" lxd lxc "exec --mode=noninteractive box --" \
		container=box "lxc_path=$T/bin/lxc"
	# The same through a parent context: its stub runs the tool.
	connect "${U}p" local
	check_standin "${U}p/${U}d" docker docker "exec -i box" container=box "docker_path=$T/bin/docker"
	check_standin "${U}p/${U}k" kubectl kubectl "exec -i pod1 --" pod=pod1 "kubectl_path=$T/bin/kubectl"
}

no_process()   # ERE
{
	! live_pgrep -f "$1" >/dev/null
}

test_missing_tool_container_and_timeout_leave_nothing()
{
	make_rootfs "$T/r" amd64
	make_standin docker
	expect_write_errno ENOENT "$M/ctl" "connect ${U}a docker container=box docker_path=$T/nonesuch"
	expect_contains "$(cat "$M/ctl")" "$T/nonesuch: command not found (install it, or give docker_path=)" \
		"a missing tool"
	expect_write_errno EIO "$M/ctl" "connect ${U}a docker container=nope docker_path=$T/bin/docker"
	expect_contains "$(cat "$M/ctl")" "No such container: nope" "a missing container"
	connect "${U}p" local
	expect_write_errno EIO "$M/${U}p/ctl" "connect ${U}a podman container=nope podman_path=$T/bin/docker"
	expect_contains "$(cat "$M/${U}p/ctl")" "No such container: nope" "a missing container, nested"
	# A tool that hangs: the connect ends at timeout= and the tool is gone.
	touch "$T/hang"
	local t0 t1
	t0=$(now_ms)
	wr "$M/ctl" "connect ${U}a docker container=box timeout=1 docker_path=$T/bin/docker"
	t1=$(now_ms)
	expect_contains "$ERRTEXT" "Connection timed out" "a tool that hangs"
	(( t1 - t0 < 5000 )) || fail "the timeout took $(( t1 - t0 )) ms"
	expect_contains "$(cat "$M/ctl")" "no hello within 1000 ms" "the reason of the timeout"
	wr "$M/${U}p/ctl" "connect ${U}a docker container=box timeout=1 docker_path=$T/bin/docker"
	expect_contains "$ERRTEXT" "Connection timed out" "a tool that hangs, nested"
	wait_until 5 "the hung tools to be killed" no_process "${U}hang"
	[ ! -e "$M/${U}a" ] && [ ! -e "$M/${U}p/${U}a" ] || fail "a failed connect left a directory"
}

test_podman_runs_a_real_container_where_it_can()
{
	if ! command -v podman >/dev/null; then
		echo "# skip: podman is not installed (the stand-in test covers the method)"
		return 0
	fi
	local ctr=${U}ctr
	if ! podman run -d --name "$ctr" --rm docker.io/library/busybox sleep 60 >/dev/null 2>"$T/err"; then
		echo "# skip: podman cannot run a container here: $(head -n1 "$T/err")"
		return 0
	fi
	TEARDOWN+=("podman rm -f '$ctr'")
	connect "${U}pm" podman "container=$ctr"
	expect_eq "$(run_in "${U}pm" 'echo inside')" inside "a real podman container"
}

# An absolute symlink under fs/ is resolved by the local kernel, as with
# sshfs (docs/filesystem.md says so): the same absolute path exists in
# the chroot and here, with different contents; a relative one stays in
# fs/.
test_absolute_symlinks_under_fs_resolve_on_the_local_machine()
{
	make_rootfs "$T/r" amd64
	mkdir -p "$T/r$T"
	echo inside >"$T/r$T/mark"
	echo local >"$T/mark"
	ln -s "$T/mark" "$T/r/tmp/abs"
	ln -s "..$T/mark" "$T/r/tmp/rel"
	connect "${U}bb" chroot "path=$T/r"
	expect_eq "$(readlink "$M/${U}bb/fs/tmp/abs")" "$T/mark" "the link as the target stores it"
	expect_eq "$(cat "$M/${U}bb/fs/tmp/abs")" local "read through the absolute link"
	expect_eq "$(realpath "$M/${U}bb/fs/tmp/abs")" "$T/mark" "realpath of it"
	expect_eq "$(cat "$M/${U}bb/fs/tmp/rel")" inside "read through the relative link"
	expect_eq "$(cat "$M/${U}bb/fs$(readlink "$M/${U}bb/fs/tmp/abs")")" inside "fs/ + the link's target"
}

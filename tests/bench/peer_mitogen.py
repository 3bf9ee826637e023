#!/usr/bin/python3
"""The Mitogen side of tests/bench/run.sh.

    /usr/bin/python3 peer_mitogen.py ROW N [LOOP]

One Broker/Router per process, created before any clock starts, so
interpreter start-up and Mitogen's own import are never timed.  Prints one
"KEY VALUE" line per sample on stdout (times in microseconds, sizes in KiB,
bytes as bytes); run.sh takes the medians.

Rows (the same numbering as run.sh):
  r1  router.local() + context.call(os.getpid), then the context is shut down
  r2  context.call(subprocess.check_call, ['true']) on one live context,
      LOOP calls per sample, the sample is the mean of the loop
  r3  VmRSS of the child python after router.local() + call(os.getpid)
  r4  50 router.local() from 50 threads at once (wall time)
  r5  context.call(subprocess.check_output, ['head', '-c', 64 MiB, '/dev/zero'])
  r6  router.ssh() + context.call(os.getpid), then the context is shut down
  r7  context.call(subprocess.check_call, ['true']) on one live ssh context,
      LOOP calls per sample, the sample is the mean of the loop
  r8  one router.ssh() alone (r8.peer_one), then 20 router.ssh() from 20
      threads at once (r8.peer, wall time)

The ssh rows read the bench's private sshd from the environment:
BENCH_SSH_PORT, and BENCH_SSH_KEYS (the directory tests/sshd/sshd.sh
filled: id_ed25519, known_hosts).  Mitogen 0.3.3 has no known_hosts_file=
option, so the known_hosts file goes to its ssh client in ssh_args, with
-F none so that no ssh_config of this machine applies (as for OpenSSH).
"""
import os
import subprocess
import sys
import threading
import time

import mitogen.master

BIG = 64 << 20


def now_us():
    return time.perf_counter_ns() // 1000


def emit(key, value):
    sys.stdout.write('%s %s\n' % (key, value))
    sys.stdout.flush()


def vmrss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise RuntimeError('no VmRSS for pid %d' % pid)


def ssh_kwargs():
    keys = os.environ['BENCH_SSH_KEYS']
    return dict(hostname='127.0.0.1', port=int(os.environ['BENCH_SSH_PORT']),
                username='root', identity_file=os.path.join(keys, 'id_ed25519'),
                check_host_keys='enforce', python_path='/usr/bin/python3',
                ssh_args=['-F', 'none', '-o',
                          'UserKnownHostsFile=' + os.path.join(keys, 'known_hosts')])


def row1(router, n):
    ctx = router.local()                                # untimed warm-up
    ctx.call(os.getpid)
    ctx.shutdown(wait=True)
    for _ in range(n):
        t0 = now_us()
        ctx = router.local()
        ctx.call(os.getpid)
        t1 = now_us()
        emit('r1.peer', t1 - t0)
        ctx.shutdown(wait=True)


def row2(router, n, loop):
    ctx = router.local()
    ctx.call(subprocess.check_call, ['true'])          # warm-up
    for _ in range(n):
        t0 = now_us()
        for _ in range(loop):
            ctx.call(subprocess.check_call, ['true'])
        t1 = now_us()
        emit('r2.peer', (t1 - t0) / loop)
    ctx.shutdown(wait=True)


def row3(router, n):
    for _ in range(n):
        ctx = router.local()
        pid = ctx.call(os.getpid)
        emit('r3.peer', vmrss_kib(pid))
        ctx.shutdown(wait=True)


def row4(router, n, count=50):
    for _ in range(n):
        got, errs = [], []

        def up():
            try:
                got.append(router.local())
            except Exception as e:                      # noqa: BLE001
                errs.append(e)

        threads = [threading.Thread(target=up) for _ in range(count)]
        t0 = now_us()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t1 = now_us()
        if errs or len(got) != count:
            raise RuntimeError('%d of %d contexts up: %r' % (len(got), count, errs[:1]))
        emit('r4.peer', t1 - t0)
        for ctx in got:
            ctx.shutdown(wait=True)


def row5(router, n):
    ctx = router.local()
    argv = ['head', '-c', str(BIG), '/dev/zero']
    ctx.call(subprocess.check_output, ['true'])         # warm-up
    for _ in range(n):
        t0 = now_us()
        data = ctx.call(subprocess.check_output, argv)
        t1 = now_us()
        if len(data) != BIG:
            raise RuntimeError('got %d bytes, want %d' % (len(data), BIG))
        emit('r5.peer', t1 - t0)
        emit('r5.peer_bytes', len(data))
        del data
    ctx.shutdown(wait=True)


def row6(router, n):
    kw = ssh_kwargs()
    ctx = router.ssh(**kw)                              # untimed warm-up
    ctx.call(os.getpid)
    ctx.shutdown(wait=True)
    for _ in range(n):
        t0 = now_us()
        ctx = router.ssh(**kw)
        ctx.call(os.getpid)
        t1 = now_us()
        emit('r6.peer', t1 - t0)
        ctx.shutdown(wait=True)


def row7(router, n, loop):
    ctx = router.ssh(**ssh_kwargs())
    ctx.call(subprocess.check_call, ['true'])          # warm-up
    for _ in range(n):
        t0 = now_us()
        for _ in range(loop):
            ctx.call(subprocess.check_call, ['true'])
        t1 = now_us()
        emit('r7.peer', (t1 - t0) / loop)
    ctx.shutdown(wait=True)


def row8(router, n, count=20):
    kw = ssh_kwargs()
    ctx = router.ssh(**kw)                              # untimed warm-up
    ctx.call(os.getpid)
    ctx.shutdown(wait=True)
    for _ in range(n):
        t0 = now_us()
        ctx = router.ssh(**kw)
        t1 = now_us()
        emit('r8.peer_one', t1 - t0)
        ctx.shutdown(wait=True)
        got, errs = [], []

        def up():
            try:
                got.append(router.ssh(**kw))
            except Exception as e:                      # noqa: BLE001
                errs.append(e)

        threads = [threading.Thread(target=up) for _ in range(count)]
        t0 = now_us()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t1 = now_us()
        if errs or len(got) != count:
            raise RuntimeError('%d of %d contexts up: %r' % (len(got), count, errs[:1]))
        emit('r8.peer', t1 - t0)
        for ctx in got:
            ctx.shutdown(wait=True)


def main():
    row, n = sys.argv[1], int(sys.argv[2])
    loop = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    emit('pid', os.getpid())
    broker = mitogen.master.Broker()
    router = mitogen.master.Router(broker)
    try:
        if row == 'r1':
            row1(router, n)
        elif row == 'r2':
            row2(router, n, loop)
        elif row == 'r3':
            row3(router, n)
        elif row == 'r4':
            row4(router, n)
        elif row == 'r5':
            row5(router, n)
        elif row == 'r6':
            row6(router, n)
        elif row == 'r7':
            row7(router, n, loop)
        elif row == 'r8':
            row8(router, n)
        else:
            raise SystemExit('unknown row %r' % row)
    finally:
        broker.shutdown()
        broker.join()


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""The Mitogen side of tests/bench/fleet.sh's row G1.

    /usr/bin/python3 peer_fleet.py PARENTS CHILDREN N

Builds a tree of PARENTS local contexts with CHILDREN local contexts each
(router.local(via=parent)), untimed; then N samples of each of: call_async(
subprocess.check_output, ['hostname']) on every child — the `hostname`
program run on each, as mitofs runs it — and call_async(
socket.gethostname), the same answer without a program; every answer is
gathered through one mitogen.select.Select, Mitogen's own way to run one
thing on a fleet. Prints "g1.peer US" (the program) and "g1.peer_inproc
US" per sample, and "g1.peer_setup US" for the tree.
"""
import socket
import subprocess
import sys
import time

import mitogen.master
import mitogen.select


def now_us():
    return time.perf_counter_ns() // 1000


def main():
    parents, children, n = (int(a) for a in sys.argv[1:4])
    broker = mitogen.master.Broker()
    router = mitogen.master.Router(broker)
    try:
        t0 = now_us()
        tops = [router.local() for _ in range(parents)]
        leaves = [router.local(via=p) for p in tops for _ in range(children)]
        print('g1.peer_setup %d' % (now_us() - t0), flush=True)
        rows = (('g1.peer', subprocess.check_output, (['hostname'],)),
                ('g1.peer_inproc', socket.gethostname, ()))
        for name, fn, args in rows:  # untimed: each function's first call
            for m in mitogen.select.Select([c.call_async(fn, *args) for c in leaves]):
                m.unpickle()
        for _ in range(n):
            for name, fn, args in rows:
                t0 = now_us()
                recvs = [c.call_async(fn, *args) for c in leaves]
                names = [m.unpickle() for m in mitogen.select.Select(recvs)]
                dt = now_us() - t0
                if len(names) != len(leaves):
                    raise RuntimeError('got %d answers of %d' % (len(names), len(leaves)))
                print('%s %d' % (name, dt), flush=True)
    finally:
        broker.shutdown()
        broker.join()


if __name__ == '__main__':
    main()

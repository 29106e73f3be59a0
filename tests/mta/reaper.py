"""Run a daemon as this process's child; on SIGTERM stop it and everything it started.

    python reaper.py COMMAND [ARG...]

The MTA fixtures start each daemon through this script and stop it by sending this
process SIGTERM and waiting for it. It is a child subreaper (prctl
PR_SET_CHILD_SUBREAPER), so every process the daemon forks stays its descendant even
after a double fork or setsid; on SIGTERM it sends the daemon SIGTERM, gives it a few
seconds to shut down its own children, then ends whatever is left (SIGTERM, SIGKILL)
and reaps it all before exiting. If the test process dies, the kernel sends this
process SIGTERM (PR_SET_PDEATHSIG): nothing is left running either way.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE = 5.0  # seconds the daemon has to stop by itself


class Stop(Exception):
    pass


def on_signal(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Stop


def descendants() -> list[int]:
    """Every live process below this one (orphans of the daemon are our children)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                stat = file.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] != b"Z":
            parents[int(entry)] = int(fields[1])
    below: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - below
        below |= frontier
    return sorted(below)


def reap(deadline: float) -> bool:
    """Reap children until none is left (True) or the deadline passes (False)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if os.getppid() == 1:  # the test process is already gone
        return 1
    status = 0
    daemon = 0
    try:
        daemon = os.fork()
        if daemon == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # should we die first
            try:
                os.execvp(sys.argv[1], sys.argv[1:])
            finally:
                os._exit(127)
        while True:  # until the daemon ends by itself, or we are told to stop it
            pid, code = os.waitpid(-1, 0)
            if pid == daemon:
                status = os.waitstatus_to_exitcode(code)
                break
    except Stop:
        status = 1
        if daemon > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        while daemon > 0 and time.monotonic() < deadline:
            try:
                pid, code = os.waitpid(daemon, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                break
            time.sleep(0.02)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in descendants():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if reap(time.monotonic() + (1.0 if sig == signal.SIGTERM else 5.0)):
            break
    return status


if __name__ == "__main__":
    sys.exit(main())

"""One timed run: a process to its exit (wall time, peak RSS), or a program in a pty
until it shows its prompt.

Wall time is the harness's own clock around the process (perf_counter, spawn to
exit). Peak RSS is what `/usr/bin/time -v` reports ("Maximum resident set size"),
when it is installed; it wraps the process, so both sides of a pair pay its
~1 ms. Standard output and error go to files, read only to check the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TIME = Path("/usr/bin/time")
ANSI = re.compile(rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]"  # CSI: colours, cursor, modes
                  rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: the window title
                  rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
CURSOR_QUERY = b"\x1b[6n"  # prompt_toolkit asks where the cursor is; a terminal answers
CURSOR_ANSWER = b"\x1b[1;1R"
WINDOW = (40, 120)  # rows, columns of the pty


class Failed(Exception):
    """A run that did not do what it was asked: why, in one line."""


@dataclass(frozen=True)
class Command:
    """A process to run: argv, standard input (a file, or nothing), and a byte string
    its standard output must hold (for tools whose exit status does not tell)."""

    argv: tuple[str, ...]
    stdin: Path | None = None
    expect: bytes | None = None


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mb: float | None = None


def rss_available() -> bool:
    return os.access(TIME, os.X_OK)


def run(command: Command, env: dict[str, str], work: Path, timeout: float) -> Sample:
    """Run to exit; Failed unless it exited 0 with the expected output."""
    out, err, usage = work / "run.out", work / "run.err", work / "run.time"
    prefix = (str(TIME), "-v", "-o", str(usage)) if rss_available() else ()
    with open(command.stdin or os.devnull, "rb") as source, out.open("wb") as stdout, \
            err.open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen([*prefix, *command.argv], stdin=source, stdout=stdout,
                                   stderr=stderr, env=env, start_new_session=True)
        code = _wait(process, timeout)
        seconds = time.perf_counter() - start
    if code != 0:
        raise Failed(f"exit status {code}: {_last_line(err) or _last_line(out)}")
    if command.expect is not None and command.expect not in out.read_bytes():
        raise Failed(f"no {command.expect.decode()!r} in its output: {_last_line(out)}")
    return Sample(seconds, _peak_rss(usage) if prefix else None)


def _wait(process: subprocess.Popen[bytes], timeout: float) -> int:
    """Its exit status. A blocking wait: Popen.wait(timeout) polls with sleeps of up to
    50 ms, which would round every time measured up to its next poll."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        code = process.wait()
    finally:
        timer.cancel()
    if expired.is_set():
        raise Failed(f"still running after {timeout:.0f} s")
    return code


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    return lines[-1].decode(errors="replace")[:200] if lines else ""


def _peak_rss(usage: Path) -> float | None:
    found = re.search(rb"Maximum resident set size \(kbytes\): (\d+)", usage.read_bytes())
    return int(found[1]) / 1024 if found else None


def run_in_pty(argv: tuple[str, ...], env: dict[str, str], ready: re.Pattern[bytes],
               timeout: float) -> Sample:
    """Seconds from spawn until the screen (escape sequences removed) matches `ready`;
    then Ctrl-D, and the program's own way out."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *WINDOW, 0, 0))
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                               start_new_session=True)
    os.close(slave)
    try:
        screen = _read_until(master, ready, start + timeout)
        seconds = time.perf_counter() - start
        if screen is not None:
            raise Failed(f"no prompt within {timeout:.0f} s; the screen ended with "
                         f"{screen[-160:].decode(errors='replace')!r}")
        os.write(master, b"\x04")
        _drain(master, process, time.monotonic() + 10)
    finally:
        if process.poll() is None:
            _kill_group(process)
        os.close(master)
    return Sample(seconds)


def _read_until(master: int, ready: re.Pattern[bytes], deadline: float) -> bytes | None:
    """None once `ready` matches; what was shown, if the deadline came first."""
    shown = b""
    while time.perf_counter() < deadline:
        if not select.select([master], [], [], 0.05)[0]:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the program exited and closed the pty
            break
        if not chunk:
            break
        if CURSOR_QUERY in chunk:
            os.write(master, CURSOR_ANSWER)
        shown += chunk
        if ready.search(ANSI.sub(b"", shown)):
            return None
    return ANSI.sub(b"", shown)


def _drain(master: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    """Read what the program still writes until it exits (a full pty would stop it)."""
    while process.poll() is None and time.monotonic() < deadline:
        if select.select([master], [], [], 0.05)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                break
    if process.poll() is None:
        _kill_group(process)

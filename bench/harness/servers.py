"""The servers the tasks talk to, each its own process on loopback.

- practice: `smtpshell --serve --port 0`, the practice server as users run it
  (STARTTLS with its own CA, AUTH demo/demo, its implicit-TLS port unused here, 32 MB
  limit, keeps what it receives in memory);
- sink: harness/sink.py (STARTTLS and implicit TLS, any AUTH, no limit, keeps
  nothing), for implicit TLS and the large messages;
- mta:NAME: a real MTA from tests/mta (harness/mta.py), where it is prepared.

A starter returns a `Server` or raises `Unavailable` with one line saying why.
Adding a kind of server is one starter function and one entry in STARTERS.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .flows import Account
from .install import Target

HERE = Path(__file__).resolve().parent
START_DEADLINE = 60.0
PRACTICE_ACCOUNT = Account("demo", "demo", "a@bench.example", "b@bench.example")
RECEIVED = re.compile(rb"^received", re.M)  # one line per message the server accepted


class Unavailable(Exception):
    """This server cannot run here: why, in one line."""


@dataclass
class Server:
    name: str  # as the table shows it
    host: str
    port: int  # plaintext, offering STARTTLS
    tls_port: int | None  # implicit TLS, as on 465, if it listens so
    cafile: Path
    account: Account
    process: subprocess.Popen[bytes]
    log: Path | None = None  # its output, where each accepted message is a line
    cleanup: list[Path] = field(default_factory=list)

    def accepted(self) -> int | None:
        """Messages accepted so far, if this server says."""
        return len(RECEIVED.findall(self.log.read_bytes())) if self.log else None

    def stop(self) -> None:
        _stop(self.process)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """mta.py stops its daemon when its input ends; the others on SIGTERM."""
    if process.stdin:
        process.stdin.close()
    else:
        process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for(log: Path, pattern: re.Pattern[bytes], process: subprocess.Popen[bytes],
              what: str) -> re.Match[bytes]:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        found = pattern.search(log.read_bytes())
        if found:
            return found
        if process.poll() is not None:
            raise Unavailable(f"{what} exited with status {process.returncode}: "
                              f"{log.read_bytes()[-300:].decode(errors='replace').strip()}")
        time.sleep(0.02)
    process.kill()
    raise Unavailable(f"{what} said nothing within {START_DEADLINE:.0f} s")


def _spawn(argv: list[str], log: Path, env: dict[str, str],
           stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=env)


PRACTICE_LINE = re.compile(rb"Practice server on ([^\s:]+):(\d+) \(STARTTLS\) and [^\s:]+:(\d+)"
                           rb".*?its CA is (\S+)")


def start_practice(target: Target, work: Path, env: dict[str, str]) -> Server:
    log = work / "practice.log"
    process = _spawn([str(target.smtpshell), "--serve", "--port", "0"], log, env)
    found = _wait_for(log, PRACTICE_LINE, process, "smtpshell --serve")
    return Server("practice", found[1].decode(), int(found[2]), int(found[3]),
                  Path(found[4].decode()), PRACTICE_ACCOUNT, process, log, [])


def start_sink(target: Target, work: Path, env: dict[str, str]) -> Server:
    log, cafile = work / "sink.log", work / "sink-ca.pem"
    process = _spawn([str(target.python), str(HERE / "sink.py"), str(cafile)], log, env)
    found = _wait_for(log, re.compile(rb"^\{.*\}$", re.M), process, "the bench sink")
    ports = json.loads(found[0])
    return Server("sink", "127.0.0.1", ports["port"], ports["tls_port"], cafile,
                  PRACTICE_ACCOUNT, process, log)


def start_mta(target: Target, work: Path, env: dict[str, str], name: str = "exim") -> Server:
    """A real MTA from tests/mta (prepared by scripts/prepare-mtas), through harness/mta.py."""
    log = work / f"{name}.log"
    process = _spawn([str(target.python), str(HERE / "mta.py"), name], log, env,
                     stdin=subprocess.PIPE)
    found = _wait_for(log, re.compile(rb"^\{.*\}$", re.M), process, f"tests/mta {name}")
    facts = json.loads(found[0])
    if "skip" in facts:
        _stop(process)
        raise Unavailable(facts["skip"])
    account = Account(facts["user"], facts["password"], facts["sender"], facts["recipient"])
    return Server(facts["name"], facts["host"], facts["port"], facts["tls_port"],
                  Path(facts["cafile"]), account, process)


Starter = Callable[[Target, Path, dict[str, str]], Server]
# "mta:NAME" roles start tests/mta's daemon NAME with start_mta
STARTERS: dict[str, Starter] = {"practice": start_practice, "sink": start_sink}

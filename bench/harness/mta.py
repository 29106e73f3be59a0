"""A real MTA from tests/mta for the harness, run until standard input closes.

    python mta.py exim|postfix|opensmtpd    # an interpreter with smtpshell's dependencies

Prints one JSON line: where it listens and who to be, or {"skip": "why"} when the
daemon cannot run here (scripts/prepare-mtas not run, not root, tests/mta missing or
changed). The fixtures in tests/mta write the daemon's configuration and run it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parents[2]


def find(name: str) -> tuple[Any, Any]:
    """tests/mta's daemon class called `name`; SystemExit with a skip line if none."""
    sys.path.insert(0, str(REPO))
    try:
        from tests.mta import daemons
    except Exception as err:  # absent or broken while it is being written
        skip(f"tests/mta cannot be imported ({type(err).__name__}: {err})")
    for value in vars(daemons).values():
        if isinstance(value, type) and issubclass(value, daemons.Mta) and value.name == name:
            return daemons, value
    skip(f"tests/mta has no daemon named {name}")


def skip(reason: str) -> NoReturn:
    print(json.dumps({"skip": reason}), flush=True)
    sys.exit(0)


def main(name: str) -> None:
    daemons, kind = find(name)
    mta = kind()
    reason = mta.unavailable()
    if reason:
        skip(reason)
    try:
        mta.start()
    except Exception as err:
        skip(f"{mta.title} did not start ({type(err).__name__}: "
             f"{str(err).splitlines()[0] if str(err) else ''})")
    try:
        print(json.dumps({
            "name": f"{mta.name} {mta.version}", "host": daemons.LOOPBACK, "port": mta.port,
            "tls_port": mta.tls_port, "cafile": str(mta.root / "ca.pem"),
            "user": daemons.USER, "password": daemons.PASSWORD, "sender": daemons.SENDER,
            "recipient": daemons.INBOX}), flush=True)
        sys.stdin.read()
    finally:
        mta.stop()
        mta.remove()


if __name__ == "__main__":
    main(sys.argv[1])

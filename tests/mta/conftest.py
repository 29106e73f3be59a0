"""Real MTAs for tests/mta: Postfix, Exim and OpenSMTPD, each started once per session.

`mta` is parametrized by daemon, so `pytest tests/mta -v` shows every case per MTA;
pytest runs one daemon's cases together and stops it before the next one starts.
A daemon that cannot be had here (not prepared by scripts/prepare-mtas, not root, a
library missing) skips its cases with a one-line reason; one that is prepared but
does not start is an error, with its log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .daemons import Exim, Mta, OpenSmtpd, Postfix

MTAS: dict[str, type[Mta]] = {cls.name: cls for cls in (Postfix, Exim, OpenSmtpd)}


@pytest.fixture(scope="session", params=list(MTAS))
def mta(request: pytest.FixtureRequest) -> Iterator[Mta]:
    daemon = MTAS[request.param]()
    reason = daemon.unavailable()
    if reason is not None:
        pytest.skip(reason)
    try:
        daemon.start()
    except BaseException:
        daemon.stop()
        daemon.remove()
        raise
    try:
        yield daemon
    finally:
        daemon.stop()
        daemon.remove()

"""What the real MTAs said, used without a daemon: completion from their EHLO replies and
the explanation of their refusals.

tests/data/ holds, per MTA (Debian 12's Postfix 3.7, Exim 4.96, OpenSMTPD 6.8, as the
fixtures in daemons.py configure them): greeting-NAME.txt, ehlo-NAME-plain.txt (before
STARTTLS), ehlo-NAME-tls.txt (after it; none for OpenSMTPD, whose TLS fails) and
rcpt-unknown-NAME.txt (RCPT TO an address it does not know). test_mta.py checks them
against the running daemons; SMTPSHELL_RECORD_MTA=1 records them anew.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smtpshell.completer import suggest
from smtpshell.helpers import builtin_helpers
from smtpshell.machine import ClientMachine, Stage
from smtpshell.protocol import Capabilities, Reply, ReplyParser
from smtpshell.render import explain_line, plain
from smtpshell.session import SessionState, TlsInfo

DATA = Path(__file__).resolve().parent.parent / "data"
HELPERS = builtin_helpers()
TLS = TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "localhost", True)
MTAS = ["postfix", "exim", "opensmtpd"]
WITH_TLS = ["postfix", "exim"]
LOOPBACK = "127.0.0.1"


def reply(name: str) -> Reply:
    [parsed] = ReplyParser().feed((DATA / name).read_bytes())
    return parsed


def state(mta: str, tls: bool) -> SessionState:
    ehlo = reply(f"ehlo-{mta}-{'tls' if tls else 'plain'}.txt")
    machine = ClientMachine(stage=Stage.READY, capabilities=Capabilities.from_ehlo(ehlo))
    session = SessionState(machine=machine)
    session.observe_connected(LOOPBACK, 587, TLS if tls else None)
    return session


def texts(typed: str, session: SessionState) -> list[str]:
    return [s.text for s in suggest(typed, session, HELPERS)]


@pytest.mark.parametrize("mta", MTAS)
def test_every_recording_is_one_whole_reply(mta: str) -> None:
    assert reply(f"greeting-{mta}.txt").code == 220
    assert reply(f"ehlo-{mta}-plain.txt").code == 250
    assert reply(f"rcpt-unknown-{mta}.txt").code == 550
    if mta in WITH_TLS:
        assert reply(f"ehlo-{mta}-tls.txt").code == 250


@pytest.mark.parametrize("mta", MTAS)
def test_before_tls_starttls_is_offered_and_auth_is_not(mta: str) -> None:
    verbs = [s.display for s in suggest("", state(mta, tls=False), HELPERS)]
    assert "STARTTLS" in verbs and "AUTH" not in verbs


@pytest.mark.parametrize("mta", WITH_TLS)
def test_after_tls_auth_completes_the_mechanisms_offered(mta: str) -> None:
    after = state(mta, tls=True)
    verbs = [s.display for s in suggest("", after, HELPERS)]
    assert "AUTH" in verbs and "STARTTLS" not in verbs
    assert texts("AUTH ", after) == ["PLAIN", "LOGIN"]
    assert texts("auth p", after) == ["plain"]


def test_postfix_says_auth_twice_and_the_mechanisms_come_once() -> None:
    """broken_sasl_auth_clients adds the pre-RFC 4954 'AUTH=PLAIN LOGIN' line."""
    raw = (DATA / "ehlo-postfix-tls.txt").read_bytes()
    assert b"250-AUTH PLAIN LOGIN\r\n" in raw and b"250-AUTH=PLAIN LOGIN\r\n" in raw
    assert Capabilities.from_ehlo(reply("ehlo-postfix-tls.txt")).auth_mechanisms == \
        ("PLAIN", "LOGIN")


@pytest.mark.parametrize(("mta", "offered", "absent"), [
    pytest.param("postfix", ["BODY=", "RET=", "ENVID=", "SIZE=", "SMTPUTF8"], [], id="postfix"),
    pytest.param("exim", ["BODY=", "SIZE=", "SMTPUTF8"], ["RET=", "ENVID="], id="exim"),  # no DSN
    pytest.param("opensmtpd", ["BODY=", "RET=", "ENVID=", "SIZE="], ["SMTPUTF8"], id="opensmtpd"),
])
def test_mail_parameters_follow_what_each_server_offers(mta: str, offered: list[str],
                                                        absent: list[str]) -> None:
    found = texts("MAIL FROM:<a@example.com> ", state(mta, tls=False))
    assert set(offered) <= set(found) and not set(absent) & set(found), found
    rcpt = texts("RCPT TO:<b@example.com> ", state(mta, tls=False))
    assert ("NOTIFY=" in rcpt) == ("RET=" in offered)  # both come with DSN


@pytest.mark.parametrize(("mta", "said"), [
    pytest.param("postfix", "5.1.1: the recipient mailbox does not exist", id="postfix"),
    # "550 Unrouteable address": no enhanced code (Exim does not offer them)
    pytest.param("exim", "550: refused: no such mailbox", id="exim"),
    # "550 Invalid recipient: <…>": none either, though it offers ENHANCEDSTATUSCODES
    pytest.param("opensmtpd", "550: refused: no such mailbox", id="opensmtpd"),
])
def test_each_refusal_of_an_unknown_user_is_explained(mta: str, said: str) -> None:
    refusal = reply(f"rcpt-unknown-{mta}.txt")
    line = plain(explain_line(refusal))
    assert said in line, line
    assert line.lstrip().startswith("↳ 550: refused")

"""The same end-to-end cases against every real MTA (Postfix, Exim, OpenSMTPD).

Each case drives smtpshell as users do: its CLI as a subprocess in script mode
(lines on stdin, or --script), and the Engine in-process where a case needs to look
at replies one by one. Messages are read back from the MTA's maildir.

The delivery cases connect with --starttls and the test CA where the MTA's TLS works;
where it does not (OpenSMTPD 6.8 under OpenSSL 3, see daemons.OpenSmtpd), they connect
plain, and the cases that are about TLS or AUTH skip with that reason.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import os
import re
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from support import STEP, RecordingUI, run

from smtpshell.commands import Engine
from smtpshell.completer import suggest
from smtpshell.config import Settings, Target, TlsMode, TlsOptions
from smtpshell.helpers import builtin_helpers, make_engine
from smtpshell.machine import ClientMachine, Stage
from smtpshell.protocol import Capabilities, ReplyParser
from smtpshell.session import SessionState

from .daemons import INBOX, LOOPBACK, PASSWORD, SECOND, SENDER, UNKNOWN, USER, Mta

DATA = Path(__file__).resolve().parent.parent / "data"
RECORD = "SMTPSHELL_RECORD_MTA"  # =1: write what the MTAs say into tests/data/
TLS_UP = re.compile(r"^\* TLS is up: TLSv1\.[23], \S+, certificate verified$", re.M)
BIG = 20 * 1024 * 1024


# -- driving smtpshell ---------------------------------------------------------------------


def smtpshell(mta: Mta, *args: str, stdin: str = "", port: int | None = None,
              env: dict[str, str] | None = None, timeout: float = 60
              ) -> subprocess.CompletedProcess[str]:
    """`smtpshell 127.0.0.1:PORT ARGS` with stdin a pipe (script mode), as a user runs it;
    its own XDG folders, so no profile or history of the machine's user gets in."""
    home = mta.root / "client"
    env = {**os.environ, "NO_COLOR": "1", "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_STATE_HOME": str(home / "state"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "smtpshell",
                           f"{LOOPBACK}:{port or mta.port}", *args],
                          input=stdin, capture_output=True, text=True, env=env,
                          timeout=timeout)


def secure(mta: Mta) -> list[str]:
    """How the delivery cases connect: STARTTLS, verified, where the MTA's TLS works
    (else plain, greeted with EHLO as --starttls would)."""
    if mta.tls_problem is not None:
        return ["--ehlo", "client.example"]
    return ["--starttls", "--cafile", str(mta.root / "ca.pem")]


def need_tls(mta: Mta) -> None:
    if mta.tls_problem is not None:
        pytest.skip(mta.tls_problem)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """The output of a run that must have exited 0 with nothing on stderr."""
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    return done.stdout


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def token() -> str:
    return uuid.uuid4().hex[:12]


def body_of(message: bytes) -> bytes:
    """The body as delivered, line ends made LF (maildir files hold LF)."""
    message = message.replace(b"\r\n", b"\n")
    return message[message.index(b"\n\n") + 2:]


def crlf_lines(count: int, width: int = 100) -> bytes:
    """`count` distinct CRLF text lines; some start with a dot, one is a lone dot (the
    end of data unless smtpshell stuffs it), so transparency is tested too."""
    filler = (b"abcdefghijklmnopqrstuvwxyz0123456789 " * 4)[:width - 10]
    lines = []
    for n in range(count):
        if n % 997 == 500:
            lines.append(b".")
        elif n % 101 == 7:
            lines.append(b".%08d " % n + filler[:-1])
        else:
            lines.append(b"%08d " % n + filler)
    return b"\r\n".join(lines) + b"\r\n"


def state_from(ehlo: bytes) -> SessionState:
    [reply] = ReplyParser().feed(ehlo)
    machine = ClientMachine(stage=Stage.READY, capabilities=Capabilities.from_ehlo(reply))
    return SessionState(machine=machine)


def capabilities(mta: Mta) -> Capabilities:
    """What the MTA offers on the connections the delivery cases make."""
    ehlo = mta.replies["ehlo" if mta.tls_problem else "ehlo-tls"]
    [reply] = ReplyParser().feed(ehlo)
    return Capabilities.from_ehlo(reply)


async def engine_on(mta: Mta, ui: RecordingUI | None = None) -> tuple[Engine, RecordingUI]:
    """An Engine connected to the MTA as --starttls does (plain where its TLS fails),
    greeted with EHLO."""
    ui = ui or RecordingUI()
    mode: TlsMode = "plain" if mta.tls_problem else "starttls"
    settings = Settings(target=Target(LOOPBACK, mta.port, mode),
                        tls=TlsOptions(cafile=str(mta.root / "ca.pem")), timeout=STEP,
                        ehlo="client.example")
    engine = make_engine(settings, SessionState(safe=settings.safe), ui)
    assert settings.target is not None
    await engine.dialer.open_target(settings.target)
    return engine, ui


# -- 1. the walkthrough, typed -------------------------------------------------------------


def test_walkthrough_typed_line_by_line(mta: Mta) -> None:
    """Plain, EHLO, STARTTLS, EHLO, AUTH three ways (PLAIN by hand, :authplain, LOGIN
    answering each 334 by hand), one connection each, then a message and QUIT."""
    need_tls(mta)
    plain = b64("\0" + USER + "\0" + PASSWORD)
    auths = {
        "plain by hand": f"AUTH PLAIN {plain}",
        ":authplain": f":authplain {USER} {PASSWORD}",
        "login by hand": f"AUTH LOGIN\n{b64(USER)}\n{b64(PASSWORD)}",
    }
    tokens = {}
    for how, auth in auths.items():
        tokens[how] = mark = token()
        out = ok(smtpshell(mta, "--cafile", str(mta.root / "ca.pem"), stdin=(
            "EHLO client.example\nSTARTTLS\nEHLO client.example\n"
            f"{auth}\n"
            f"MAIL FROM:<{SENDER}>\nRCPT TO:<{INBOX}>\nDATA\n"
            f"From: <{SENDER}>\nTo: <{INBOX}>\nSubject: walkthrough, {how} {mark}\n\n"
            "Typed line by line.\n.\nQUIT\n")))
        assert TLS_UP.search(out), out
        assert re.search(r"^235[ -]", out, re.M), out
        if how == "login by hand":
            assert out.count("\n334 ") == 2, out  # each answered by the next line
    for how, mark in tokens.items():
        body = body_of(mta.wait_for_message(mark.encode()))
        assert body == b"Typed line by line.\n", how


# -- 2. TLS from the start, and implicit TLS ---------------------------------------------------


@pytest.mark.parametrize("mode", ["--starttls", "--tls"])
def test_tls_is_up_and_verified(mta: Mta, mode: str) -> None:
    need_tls(mta)
    port = mta.port if mode == "--starttls" else mta.tls_port
    out = ok(smtpshell(mta, mode, "--cafile", str(mta.root / "ca.pem"), port=port,
                       stdin=("EHLO client.example\n" if mode == "--tls" else "")
                       + f":authplain {USER} {PASSWORD}\nQUIT\n"))
    assert TLS_UP.search(out), out
    assert re.search(r"^235[ -]", out, re.M), out


# -- 3. :send with an attachment -------------------------------------------------------------


def test_send_with_an_attachment_arrives_byte_for_byte(mta: Mta, tmp_path: Path) -> None:
    blob = os.urandom(5000)
    attachment = tmp_path / "random.bin"
    attachment.write_bytes(blob)
    mark = token()
    ok(smtpshell(mta, *secure(mta), stdin=(
        f":send --from {SENDER} --to {INBOX} --subject 'attached {mark}' "
        f"--body 'Five thousand random bytes.' --attach {attachment}\nQUIT\n")))
    message = email.message_from_bytes(mta.wait_for_message(mark.encode()),
                                       policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "random.bin"
    assert part.get_content() == blob


# -- 4. :data FILE, 20 MB ------------------------------------------------------------------


def test_data_from_a_20_mb_file_arrives_intact(mta: Mta, tmp_path: Path) -> None:
    mark = token()
    body = crlf_lines(BIG // 100)
    message = tmp_path / "big.eml"
    message.write_bytes(f"From: <{SENDER}>\r\nTo: <{INBOX}>\r\nSubject: big {mark}\r\n\r\n"
                        .encode() + body)
    assert message.stat().st_size > BIG - 1000
    out = ok(smtpshell(mta, *secure(mta), stdin=(
        f"MAIL FROM:<{SENDER}>\nRCPT TO:<{INBOX}>\n:data {message}\nQUIT\n"), timeout=120))
    assert re.search(r"^250[ -]", out.split("-> .\n")[-1], re.M), out[-2000:]
    delivered = body_of(mta.wait_for_message(mark.encode(), timeout=60))
    expected = body.replace(b"\r\n", b"\n")
    assert len(delivered) == len(expected)
    assert hashlib.sha256(delivered).hexdigest() == hashlib.sha256(expected).hexdigest()


# -- 5. :bdat FILE -------------------------------------------------------------------------


def test_bdat_from_a_file_arrives_intact(mta: Mta, tmp_path: Path) -> None:
    if "CHUNKING" not in capabilities(mta):
        pytest.skip(f"{mta.title} {mta.version} does not advertise CHUNKING (BDAT)")
    mark = token()
    body = crlf_lines(30_000)
    message = tmp_path / "chunked.eml"
    message.write_bytes(f"From: <{SENDER}>\r\nTo: <{INBOX}>\r\nSubject: bdat {mark}\r\n\r\n"
                        .encode() + body)
    out = ok(smtpshell(mta, *secure(mta), stdin=(
        f"MAIL FROM:<{SENDER}>\nRCPT TO:<{INBOX}>\n:bdat {message}\nQUIT\n")))
    assert "BDAT" in out and "LAST" in out, out[-2000:]
    delivered = body_of(mta.wait_for_message(mark.encode()))
    assert delivered == body.replace(b"\r\n", b"\n")


# -- 6. :pipeline ----------------------------------------------------------------------------


def test_pipeline_replies_come_in_order(mta: Mta) -> None:
    if "PIPELINING" not in capabilities(mta):
        pytest.skip(f"{mta.title} {mta.version} does not advertise PIPELINING")
    mark = token()

    async def scenario() -> None:
        engine, ui = await engine_on(mta)
        mark_log = mta.log_mark()
        done = await engine.handle_line(
            f":pipeline MAIL FROM:<{SENDER}>; RCPT TO:<{INBOX}>; RCPT TO:<{UNKNOWN}>; "
            f"RCPT TO:<{SECOND}>")
        # a refusal in the middle shows the order: each reply is its own command's
        assert [r.code for r in done.replies] == [250, 250, 550, 250], ui.text
        results = [await engine.handle_line(line) for line in (
            "DATA", f"Subject: pipelined {mark}", "", "Two of three.", ".")]
        assert all(r.expected and not r.refused for r in results), ui.text
        assert [r.code for r in results[0].replies + results[-1].replies] == [354, 250]
        await engine.handle_line("QUIT")
        assert mta.complaints(mark_log) == [], ui.text

    run(scenario(), timeout=60)
    for local in ("inbox", "second"):
        assert body_of(mta.wait_for_message(mark.encode(), local)) == b"Two of three.\n"


# -- 7. a pasted transaction ---------------------------------------------------------------


def test_a_pasted_transaction_goes_line_by_line(mta: Mta) -> None:
    mark = token()

    async def scenario() -> None:
        engine, ui = await engine_on(mta)
        mark_log = mta.log_mark()
        results = await engine.handle_text(
            f"MAIL FROM:<{SENDER}>\nRCPT TO:<{INBOX}>\nDATA\nSubject: pasted {mark}\n\n"
            "body\n.")
        assert all(r.expected and not r.refused for r in results), ui.text
        codes = [r.code for result in results for r in result.replies]
        assert codes == [250, 250, 354, 250], ui.text
        await engine.handle_line("QUIT")
        assert mta.complaints(mark_log) == [], ui.text

    run(scenario(), timeout=60)
    assert body_of(mta.wait_for_message(mark.encode())) == b"body\n"


# -- 8. a transcript replayed --------------------------------------------------------------


def test_a_transcript_replays_against_the_same_server(mta: Mta, tmp_path: Path) -> None:
    mark = token()
    transcript = tmp_path / "session.log"
    auth = "" if mta.tls_problem else f":authplain {USER} {PASSWORD}\n"
    ok(smtpshell(mta, *secure(mta), "--transcript", str(transcript), stdin=(
        f"{auth}MAIL FROM:<{SENDER}>\nRCPT TO:<{INBOX}>\nDATA\nSubject: replayed {mark}\n\n"
        "Once by hand, once from the transcript.\n.\nQUIT\n")))
    assert PASSWORD not in transcript.read_text()
    out = ok(smtpshell(mta, *secure(mta), "--script", str(transcript),
                       "--secret-env", "MTA_PASSWORD", env={"MTA_PASSWORD": PASSWORD}))
    assert PASSWORD not in out
    first, second = mta.wait_for_messages(mark.encode(), count=2)
    assert body_of(first) == body_of(second) == b"Once by hand, once from the transcript.\n"


# -- 9. completion from the real EHLO, and the recorded replies ----------------------------------


def test_auth_completion_from_the_real_ehlo(mta: Mta) -> None:
    helpers = builtin_helpers()
    before = suggest("", state_from(mta.replies["ehlo"]), helpers)
    assert "AUTH" not in [s.display for s in before]  # AUTH only once TLS is up
    need_tls(mta)
    after = state_from(mta.replies["ehlo-tls"])
    assert "AUTH" in [s.display for s in suggest("", after, helpers)]
    assert [s.text for s in suggest("AUTH ", after, helpers)] == ["PLAIN", "LOGIN"]
    assert [s.text for s in suggest("auth l", after, helpers)] == ["login"]


RECORDED = {"greeting": "greeting-{}.txt", "ehlo": "ehlo-{}-plain.txt",
            "ehlo-tls": "ehlo-{}-tls.txt", "rcpt-unknown": "rcpt-unknown-{}.txt"}


def normalized(kind: str, data: bytes) -> object:
    """What must stay the same between a recording and today's server."""
    if kind.startswith("ehlo"):
        [reply] = ReplyParser().feed(data)
        return Capabilities.from_ehlo(reply).extensions
    return re.sub(rb"\w{3}, \d+ \w{3} \d{4} [\d:]{8} [+-]\d{4}", b"DATE", data)  # Exim's


def test_the_recorded_replies_are_what_the_server_says(mta: Mta) -> None:
    """tests/data/ holds this MTA's greeting, EHLO before and after TLS and its refusal
    of an unknown user, for the tests that need no daemon ($SMTPSHELL_RECORD_MTA=1
    writes them anew)."""
    for kind, name in RECORDED.items():
        path = DATA / name.format(mta.name)
        said = mta.replies.get(kind)
        if said is None:
            assert kind == "ehlo-tls" and mta.tls_problem, kind
            continue
        if os.environ.get(RECORD) == "1":
            path.write_bytes(said)
        assert path.is_file(), f"{path} missing: {RECORD}=1 pytest tests/mta records it"
        assert normalized(kind, path.read_bytes()) == normalized(kind, said), path


# -- 10. :explain of the MTA's own refusal ---------------------------------------------------


def test_explain_names_the_refusal_of_an_unknown_user(mta: Mta) -> None:
    out = ok(smtpshell(mta, *secure(mta), stdin=(
        f"MAIL FROM:<{SENDER}>\n:expect 550\nRCPT TO:<{UNKNOWN}>\n:explain\nQUIT\n")))
    refusal = mta.replies["rcpt-unknown"].decode().strip()
    shown = out.split(f"-> RCPT TO:<{UNKNOWN}>\n", 1)[1]
    assert shown.startswith(refusal.split(UNKNOWN)[0]), shown
    explained = shown.split("\n", 1)[1]
    enhanced = re.match(r"5\d\d ([245]\.\d{1,3}\.\d{1,3}) ", refusal)
    if enhanced:  # Postfix: 550 5.1.1
        assert enhanced.group(1) == "5.1.1"
        assert "5.1.1" in explained and "Bad destination mailbox address" in explained, out
    else:  # Exim and OpenSMTPD send no enhanced code with this refusal
        assert "550: refused: no such mailbox" in explained, out

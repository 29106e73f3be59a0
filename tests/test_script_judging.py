"""Scripts judge every reply, and a script ends the way the session did.

Replies that are not what they seem, greetings that are no greeting, a connection
that goes away, refused recipients, transcripts replayed, AUTH kept within its
512 octets and its secrets out of the transcript, scripts from pipes, FIFOs and
closed pipes: the CLI as a subprocess against real servers on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shlex
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from support import (
    LOOPBACK,
    STEP,
    RawPeer,
    RawServer,
    RecordingUI,
    engine_for,
    lines,
    practice,
    run,
    run_cli,
)

from smtpshell import safety
from smtpshell.commands import Engine
from smtpshell.machine import ClientMachine, Stage
from smtpshell.protocol import Capabilities, Reply
from smtpshell.server import PracticeServer
from smtpshell.session import SessionState

OK = b"250 2.0.0 OK\r\n"
EHLO_REPLY = b"250-raw.test\r\n250 PIPELINING\r\n"
ServerScript = Callable[[RawPeer], Awaitable[None]]


def answering(replies: dict[str, bytes], *, answer: int | None = None,
              read_one_more: bool = False) -> ServerScript:
    """A server that greets 220 and answers each line by its verb (250 by default; EHLO
    with a capability list; QUIT with 221). `answer`: hang up without a word once it has
    answered this many lines (with `read_one_more`, after reading the next one)."""

    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test ESMTP\r\n")
        answered = 0
        while answer is None or answered < answer:
            line = await peer.line()
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().upper().decode()
            if verb == "QUIT":
                await peer.send(b"221 bye\r\n")
                return
            await peer.send(replies.get(verb, EHLO_REPLY if verb == "EHLO" else OK))
            answered += 1
        if read_one_more:
            await peer.line()

    return server


async def script_against(server: ServerScript, script: str, *args: str
                         ) -> tuple[int, str, str, bytes]:
    """Run `script` (on stdin) against a raw server: (status, stdout, stderr, received)."""
    async with RawServer(server) as srv:
        code, out, err = await run_cli(f"{LOOPBACK}:{srv.port}", *args, stdin=script)
        await srv.finished()
        return code, out, err, srv.received


def wire(server: PracticeServer, index: int = 0) -> bytes:
    """What the practice server received on its `index`th connection."""
    return bytes(server.inbox.wire[index])


# -- 1. replies that are not what they seem ------------------------------------------


@pytest.mark.parametrize(("verb", "reply", "named"), [
    ("NOOP", b"150 hold on\r\n", "no 1yz"),
    ("NOOP", b"250-a\r\n251 b\r\n", "different codes"),
    ("NOOP", b"334 go on\r\n", "NOOP has no next step"),
    ("DATA", b"250 fine\r\n", "DATA succeeds only with 354"),
], ids=["150", "mixed-codes", "334-to-NOOP", "250-to-DATA"])
def test_a_reply_that_is_not_what_it_seems_fails_the_script(verb: str, reply: bytes,
                                                           named: str) -> None:
    script = "EHLO x\nMAIL FROM:<a@x.example>\nRCPT TO:<b@x.example>\n" + verb + "\nRSET\n"

    async def scenario() -> None:
        code, out, err, received = await script_against(answering({verb: reply}), script)
        assert code == 1, out + err
        assert named in out and "counts as a failure" in out
        assert "script line 4 got an unexpected reply; stopping" in out
        # the line after it never left; the session ends with QUIT
        assert received.endswith(f"{verb}\r\nQUIT\r\n".encode()), received
        assert b"RSET" not in received

    run(scenario())


def test_expect_accepts_a_150() -> None:
    async def scenario() -> None:
        code, out, err, received = await script_against(
            answering({"NOOP": b"150 hold on\r\n"}), "EHLO x\n:expect 150\nNOOP\nRSET\n")
        assert (code, err) == (0, ""), out
        assert "no 1yz" in out  # still told what the reply broke
        assert received == b"EHLO x\r\nNOOP\r\nRSET\r\nQUIT\r\n"

    run(scenario())


# -- 2. greetings -----------------------------------------------------------------------


@pytest.mark.parametrize(("greeting", "said"), [
    (b"250 hello\r\n", "did not greet: 250 is not a greeting"),
    (b"421 busy\r\n", "is not taking connections now (421)"),
    (b"500 x\r\n", "did not greet: 500 is not a greeting"),
], ids=["250", "421", "500"])
def test_a_greeting_other_than_220_ends_the_script_before_anything_is_sent(
        greeting: bytes, said: str) -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(greeting)
        await peer.until_closed()

    async def scenario() -> None:
        code, out, err, received = await script_against(server, "EHLO x\nNOOP\n")
        assert code == 3, out + err
        assert received == b""  # no EHLO, no QUIT
        assert err.startswith("smtpshell: ") and err.count("\n") == 1 and said in err
        assert "-> EHLO" not in out and "Traceback" not in out + err

    run(scenario())


def test_a_554_greeting_gets_only_quit() -> None:
    async def server(peer: RawPeer) -> None:
        await peer.send(b"554 go away\r\n")
        if (await peer.line()).upper() == b"QUIT\r\n":
            await peer.send(b"221 bye\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        code, out, err, received = await script_against(server, "EHLO x\nNOOP\n")
        assert code == 3, out + err
        assert received == b"QUIT\r\n"
        assert "554 go away" in out and "RFC 5321 §3.1" in out
        assert "refused service (554 greeting)" in err

    run(scenario())


# -- 3 and 4. the connection goes away ------------------------------------------------


def test_a_close_after_quit_without_221_is_what_quit_asked() -> None:
    async def scenario() -> None:
        hangs_up_on_quit = answering({}, answer=1, read_one_more=True)
        code, out, err, received = await script_against(hangs_up_on_quit, "EHLO x\nQUIT\n")
        assert (code, err) == (0, ""), out
        assert "without a 221" in out
        assert received == b"EHLO x\r\nQUIT\r\n"

    run(scenario())


@pytest.mark.parametrize("next_line", [":caps", ":mail a@b", "NOOP"])
def test_a_close_mid_ehlo_ends_the_script(next_line: str) -> None:
    async def scenario() -> None:
        hangs_up_mid_ehlo = answering({}, answer=0, read_one_more=True)
        code, out, err, received = await script_against(hangs_up_mid_ehlo,
                                                        f"EHLO x\n{next_line}\nNOOP\n")
        assert code == 3, out + err
        assert received == b"EHLO x\r\n"
        # the last thing said: nothing of line 2 ("no capabilities yet", "not connected"…)
        assert out.endswith("! Script line 1 was not answered; no line was the last "
                            "answered.\n"), out
        assert err == ""

    run(scenario())


@pytest.mark.parametrize("read_one_more", [False, True], ids=["at-once", "line-3-read"])
def test_a_close_between_lines_names_the_last_answered(read_one_more: bool) -> None:
    async def scenario() -> None:
        code, out, err, received = await script_against(
            answering({}, answer=2, read_one_more=read_one_more), "EHLO x\nNOOP\nNOOP\nRSET\n"
            ":caps\n")
        assert code == 3, out + err
        assert b"RSET" not in received and "-> RSET" not in out
        if read_one_more:  # line 3 went, and its answer never came
            assert out.endswith("Script line 3 was not answered; line 2 was the last "
                                "answered.\n"), out
        else:  # whether the close is seen before line 3 goes or while it waits
            assert re.search(r"Script line 3 was not (run|answered); line 2 was the last "
                             r"answered\.\n\Z", out), out
        assert err == ""

    run(scenario())


# -- 5. every reply is judged --------------------------------------------------------


def test_send_with_every_recipient_refused_fails() -> None:
    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(
                f"{LOOPBACK}:{server.port}",
                stdin="EHLO x\n:send --from a@x.example --to reject@x.example "
                      "--to tempfail@x.example\nNOOP\n")
            assert code == 1, out + err
            assert "script line 2 got an unexpected reply" in out
            assert "no recipient was accepted" in out
            sent = wire(server)
            assert b"RCPT TO:<reject@x.example>" in sent and b"Subject" not in sent
            assert b"NOOP" not in sent and not server.inbox.messages

    run(scenario())


@pytest.mark.parametrize(("expect", "order", "status"), [
    ("", ("reject", "good"), 1),  # the last reply is a 250: the 550 before it counts too
    ("", ("good", "reject"), 1),
    (":expect 250,550\n", ("reject", "good"), 0),
    (":expect 550\n", ("reject", "good"), 1),  # the 550 matches, the 250 after it does not
], ids=["reject-good", "good-reject", "expect-250-550", "expect-550"])
def test_rcpt_judges_each_address(expect: str, order: tuple[str, str], status: int) -> None:
    addresses = " ".join(f"{name}@x.example" for name in order)
    script = f"EHLO x\nMAIL FROM:<a@x.example>\n{expect}:rcpt {addresses}\nRSET\n"
    line = script.count("\n") - 1  # the :rcpt line

    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", stdin=script)
            assert code == status, out + err
            sent = wire(server)
            assert b"RCPT TO:<good@x.example>" in sent and b"RCPT TO:<reject@x.example>" in sent
            if status:
                assert f"script line {line} got an unexpected reply" in out
                assert b"RSET" not in sent
            else:
                assert sent.endswith(b"RSET\r\nQUIT\r\n")
            if expect == ":expect 550\n":
                assert "expected 550, got 250" in out

    run(scenario())


# -- 6. transcripts replay --------------------------------------------------------------


@pytest.mark.parametrize(("script", "status"), [
    ("EHLO x\nNOOP\n", 0),
    ("EHLO x\nMAIL FROM:<a@x.example>\nRCPT TO:<reject@x.example>\nNOOP\n", 1),
], ids=["done", "failed"])
def test_a_transcript_replays_to_the_same_end(tmp_path: Path, script: str, status: int
                                              ) -> None:
    saved = tmp_path / "session.transcript"

    async def scenario() -> None:
        async with practice() as first:
            code, out, _ = await run_cli(f"{LOOPBACK}:{first.port}", "--transcript",
                                         str(saved), stdin=script)
            assert code == status, out
        async with practice() as fresh:
            code, out, err = await run_cli(f"{LOOPBACK}:{fresh.port}", "--script", str(saved))
            assert code == status, out + err
            assert "expected 221" not in out
            assert wire(fresh) == wire(first, 0) and wire(fresh).count(b"QUIT") == 1
        if status:
            text = saved.read_text().splitlines()
            rcpt = next(i for i, t in enumerate(text, 1) if "I: RCPT TO:<reject@" in t)
            assert f"script line {rcpt} got an unexpected reply" in out

    run(scenario())


# -- 7. AUTH LOGIN typed by hand, in the transcript -----------------------------------


def test_a_typed_auth_login_masks_only_the_answers(tmp_path: Path) -> None:
    saved, ca = tmp_path / "auth.transcript", tmp_path / "ca.pem"
    user, password = base64.b64encode(b"demo").decode(), base64.b64encode(b"secret").decode()
    script = (f"EHLO x\nAUTH LOGIN\n{user}\n:expect 535\n{password}\n"
              "MAIL FROM:<demo@example.com>\n")

    async def scenario() -> None:
        async with practice() as server:
            ca.write_text(server.ca_pem)
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", "--starttls",
                                           "--cafile", str(ca), "--transcript", str(saved),
                                           stdin=script)
            assert (code, err) == (0, ""), out
            assert "535" in out and "MAIL FROM:<demo@example.com>" in out
            sent = wire(server)
            assert f"{user}\r\n{password}\r\nMAIL FROM:<demo@example.com>\r\n".encode() in sent

    run(scenario())
    text = saved.read_text()
    assert user not in text and password not in text and "secret" not in text
    assert "I: ********" in text and "C: ********" in text
    assert "I: :expect 535" in text  # a helper line is no answer to a 334
    assert text.count("********") == 4  # the two answers, as typed and as sent
    assert "I: MAIL FROM:<demo@example.com>" in text
    assert "C: MAIL FROM:<demo@example.com>" in text
    assert "C: AUTH LOGIN" in text and "S: 334 VXNlcm5hbWU6" in text


# -- 8. where the script comes from -----------------------------------------------------


@pytest.mark.parametrize("path", ["-", "/dev/stdin"])
def test_script_from_standard_input(path: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", "--script", path,
                                           stdin="EHLO x\nNOOP\n")
            assert (code, err) == (0, ""), out
            assert wire(server) == b"EHLO x\r\nNOOP\r\nQUIT\r\n"

    run(scenario())


async def run_bash(command: str, stdin: bytes) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    async with asyncio.timeout(STEP * 2):
        out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_script_from_process_substitution() -> None:
    async def scenario() -> None:
        async with practice() as server:
            command = (f"exec {shlex.quote(sys.executable)} -m smtpshell "
                       f"{LOOPBACK}:{server.port} --script <(printf 'EHLO x\\nRSET\\n')")
            code, out, err = await run_bash(command, b"NOOP\n")  # stdin is not the script
            assert (code, err) == (0, ""), out
            assert wire(server) == b"EHLO x\r\nRSET\r\nQUIT\r\n"

    run(scenario())


def test_script_from_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "script.fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as handle:
            handle.write(b"EHLO x\nRSET\n")  # (the open waits for the CLI to open it)

    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", "--script", str(fifo),
                                           stdin="NOOP\n")
            assert (code, err) == (0, ""), out
            assert wire(server) == b"EHLO x\r\nRSET\r\nQUIT\r\n"

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        run(scenario())
    finally:
        if thread.is_alive():  # the CLI never opened it: let the writer go
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        thread.join(STEP)


# -- 9. output into a pipe that closes early ------------------------------------------


def test_a_pipe_that_closes_early_ends_the_script_quietly(tmp_path: Path) -> None:
    script = tmp_path / "many.smtp"
    script.write_text("NOOP\n" * 300)
    gate = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await peer.send(b"220 raw.test ESMTP\r\n")
        noops = 0
        while line := await peer.line():
            if line.upper().startswith(b"QUIT"):
                await peer.send(b"221 bye\r\n")
                return
            noops += 1
            if noops == 5:  # hold the 5th reply until the reader has gone
                async with asyncio.timeout(STEP):
                    await gate.wait()
            await peer.send(OK)

    async def scenario() -> None:
        async with RawServer(server) as srv:
            read_end, write_end = os.pipe()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "smtpshell", f"{LOOPBACK}:{srv.port}", "--script",
                str(script), stdin=asyncio.subprocess.DEVNULL, stdout=write_end,
                stderr=asyncio.subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
            os.close(write_end)
            try:
                seen = b""
                loop = asyncio.get_running_loop()
                async with asyncio.timeout(STEP):
                    while seen.count(b"250 2.0.0 OK") < 4:
                        chunk = await loop.run_in_executor(None, os.read, read_end, 4096)
                        assert chunk, seen
                        seen += chunk
            finally:
                os.close(read_end)
            gate.set()
            assert proc.stderr is not None
            async with asyncio.timeout(STEP * 2):
                err = (await proc.stderr.read()).decode()
                status = await proc.wait()
            await srv.finished()
            for bad in ("Traceback", "Exception in callback", "internal error"):
                assert bad not in err, err
            assert status == 141, err
            # the script ended: not all 300 NOOPs went, and the session ended with QUIT
            assert srv.received.endswith(b"QUIT\r\n")
            assert srv.received.count(b"NOOP") < 300

    run(scenario())


# -- 10. TLS is up, in script output ------------------------------------------------------


@pytest.mark.parametrize("mode", ["--tls", "--starttls"])
def test_script_output_says_tls_is_up(tmp_path: Path, mode: str) -> None:
    ca = tmp_path / "ca.pem"

    async def scenario() -> None:
        async with practice(implicit_tls=mode == "--tls") as server:
            ca.write_text(server.ca_pem)
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", mode, "--cafile",
                                           str(ca), stdin="NOOP\n")
            assert (code, err) == (0, ""), out
            assert "TLS is up: TLSv1.3, " in out

    run(scenario())


# -- 11. the AUTH line stays within 512 octets -------------------------------------------


def auth_lines(sent: bytes) -> list[bytes]:
    return [line for line in sent.split(b"\r\n") if line.upper().startswith(b"AUTH")]


async def tls_engine(server: PracticeServer) -> tuple[Engine, RecordingUI]:
    """A script Engine on the practice server, after EHLO and STARTTLS (AUTH is offered)."""
    engine, ui = await engine_for(server, script=True)
    await lines(engine, "EHLO x", ":starttls")
    return engine, ui


@pytest.mark.parametrize(("helper", "mechanism", "secret", "response"), [
    (":authplain", "PLAIN", "p" * 600, b"\0demo\0" + b"p" * 600),
    (":authplain", "PLAIN", "p" * 367, b"\0demo\0" + b"p" * 367),  # 513 octets on one line
    (":xoauth2", "XOAUTH2", "t" * 900, b"user=demo\x01auth=Bearer " + b"t" * 900 + b"\x01\x01"),
], ids=["plain-600", "plain-513", "xoauth2-900"])
def test_a_long_initial_response_goes_after_the_334(helper: str, mechanism: str, secret: str,
                                                    response: bytes) -> None:
    # (the practice server answers the 900-character token's 1,232-octet line with 501: its
    # aiosmtpd reader takes lines of 1,001 octets at most; what the client sent is the point)
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await tls_engine(server)
            await lines(engine, f"{helper} demo {secret}")
            sent = wire(server)
            blob = base64.b64encode(response)
            assert auth_lines(sent) == [f"AUTH {mechanism}".encode()]
            assert f"AUTH {mechanism}\r\n".encode() + blob + b"\r\n" in sent
            assert "RFC 4954 §4" in ui.text and "334" in ui.text
            assert all(len(line) + 2 <= 512 for line in auth_lines(sent))

    run(scenario())


@pytest.mark.parametrize(("password", "outcome"), [("demo", "235"), ("p" * 366, "535")],
                         ids=["short", "509-octets"])
def test_a_short_initial_response_stays_on_the_auth_line(password: str, outcome: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await tls_engine(server)
            await lines(engine, f":authplain demo {password}")
            blob = base64.b64encode(f"\0demo\0{password}".encode())
            assert auth_lines(wire(server)) == [b"AUTH PLAIN " + blob]
            assert len(b"AUTH PLAIN " + blob) + 2 <= 512
            assert outcome in ui.text

    run(scenario())


# -- 12. MAIL with AUTH= may take 512 + 500 octets -------------------------------------


def greeted_state() -> SessionState:
    caps = Capabilities.from_ehlo(Reply(250, ("250-mx.test", "250-AUTH PLAIN LOGIN",
                                              "250 8BITMIME")))
    state = SessionState(machine=ClientMachine(stage=Stage.READY, capabilities=caps))
    state.observe_connected("mx.test", 25, None)
    return state


def mail_line(octets: int) -> str:
    """MAIL FROM:<a@x.example> AUTH=<…> of `octets` with its CRLF."""
    head = "MAIL FROM:<a@x.example> AUTH=<"
    return head + "u" * (octets - len(head) - 3) + ">"


@pytest.mark.parametrize(("octets", "action"), [(900, "send"), (1012, "send"),
                                                (1013, "refuse"), (1100, "refuse")])
def test_mail_with_auth_parameter_has_room_for_500_more(octets: int, action: str) -> None:
    line = mail_line(octets)
    assert len(line) + 2 == octets
    verdict = safety.check_command(line, greeted_state())
    assert verdict.action == action, verdict
    if action == "refuse":
        assert f"is {octets} octets" in verdict.reason
        assert "1012" in verdict.reason and "RFC 4954" in verdict.reason


# -- a line the safe mode refused is a refusal, however it was refused -------------------


REFUSALS = {
    "an s_client habit": ["EHLO x.example", "R"],
    "a command out of order": ["EHLO x.example", "RCPT TO:<a@example.com>"],
    "a line over the limit": ["EHLO x.example", "NOOP " + "x" * 600],
    "a parameter not on offer": ["HELO x.example", ":mail a@example.com SMTPUTF8"],
    ":pipeline without PIPELINING": ["HELO x.example", ":pipeline NOOP; NOOP"],
    ":bdat without CHUNKING": ["HELO x.example", ":mail a@example.com",
                               ":rcpt b@example.com", ":bdat {file}"],
    ":raw in safe mode": ["EHLO x.example", ":raw NOOP\\r\\n"],
    ":send with a NUL in the body": ["EHLO x.example", ":send --from a@example.com --to "
                                     "b@example.com --body-file {nul}"],
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
@pytest.mark.parametrize("json", [False, True])
def test_every_refusal_stops_a_script_with_status_1(tmp_path: Path, case: str,
                                                    json: bool) -> None:
    """Whether a rule of the safe mode refused the line or a helper's own check did, a
    script stops there: exit 1 (not 0, which CI would read as success, nor 2), and with
    --json a refusal event says which line and why."""
    (tmp_path / "body.eml").write_bytes(b"Subject: x\r\n\r\nhi\r\n")
    (tmp_path / "nul.txt").write_bytes(b"a\x00b\n")
    script = [line.format(file=tmp_path / "body.eml", nul=tmp_path / "nul.txt")
              for line in REFUSALS[case]] + ["NOOP"]

    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", "--plain",
                                           *(["--json"] if json else []),
                                           stdin="\n".join(script) + "\n")
            assert code == 1, (out, err)
            assert b"NOOP\r\n" not in bytes(server.inbox.wire[0])  # nothing ran after it
            refused = script[-2]
            if json:
                import json as jsonlib

                found = [jsonlib.loads(line) for line in out.splitlines()]
                [refusal] = [e for e in found if e["event"] == "refusal"]
                assert refusal["line"] == refused and refusal["reason"].startswith("Not sent")
                assert found[-1]["status"] == "unexpected"
            else:
                assert f"script line {len(script) - 1} was not sent; stopping" in out

    run(scenario())

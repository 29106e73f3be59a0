"""Completion as data: suggest() against states built from real EHLO replies, and
through a real PromptSession on pipe input."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.application import create_app_session
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput
from support import engine_for, lines, practice, run, wait_until

from smtpshell.completer import Suggestion, addresses_in, list_files, make_completer, suggest
from smtpshell.helpers import builtin_helpers
from smtpshell.machine import ClientMachine, Stage
from smtpshell.protocol import Capabilities, ReplyParser
from smtpshell.session import Phase, SessionState, TlsInfo

DATA = Path(__file__).parent / "data"
TLS = TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "mx.test", True)


HELPERS = builtin_helpers()


def state_from(name: str, tls: bool = False, phase: Phase = Phase.IDLE) -> SessionState:
    [reply] = ReplyParser().feed((DATA / f"ehlo-{name}.txt").read_bytes())
    machine = ClientMachine(stage=Stage.READY, capabilities=Capabilities.from_ehlo(reply),
                            phase=phase)
    state = SessionState(machine=machine)
    state.observe_connected("mx.test", 25, TLS if tls else None)
    return state


def texts(found: list[Suggestion]) -> list[str]:
    return [s.text for s in found]


def test_line_start_offers_advertised_verbs_first() -> None:
    found = suggest("", state_from("postfix"), HELPERS)
    names = [s.display for s in found]
    assert names.index("BDAT") < names.index("ATRN")  # CHUNKING advertised, ATRN not
    assert "AUTH" not in names  # Postfix before TLS offers no AUTH
    assert "STARTTLS" in names
    atrn = next(s for s in found if s.display == "ATRN")
    assert atrn.meta.startswith("not advertised")
    assert all(not s.meta.startswith("not advertised") for s in found[:names.index("ATRN")])
    assert ":help " in texts(found) and ":starttls" in texts(found)


def test_starttls_only_before_tls_and_auth_only_after_ehlo_offered_it() -> None:
    after = suggest("", state_from("microsoft365", tls=True), HELPERS)
    assert "STARTTLS" not in [s.display for s in after]
    assert "AUTH" in [s.display for s in after]
    fresh = SessionState(machine=ClientMachine(stage=Stage.READY))
    fresh.observe_connected("mx.test", 25, None)
    assert "AUTH" not in [s.display for s in suggest("A", fresh, HELPERS)]


@pytest.mark.parametrize(("typed", "expected"), [
    ("AU", ["AUTH "]), ("au", ["auth "]), ("Ma", ["MAIL FROM:<"]), ("ma", ["mail from:<"]),
    ("rc", ["rcpt to:<"]), ("QU", ["QUIT"]), ("MAIL ", ["FROM:<"]), ("rcpt ", ["to:<"]),
])
def test_verbs_complete_in_the_users_case(typed: str, expected: list[str]) -> None:
    assert texts(suggest(typed, state_from("exim", tls=True), HELPERS)) == expected


def test_auth_offers_the_mechanisms_with_their_meaning() -> None:
    found = suggest("AUTH ", state_from("exim", tls=True), HELPERS)
    assert texts(found) == ["PLAIN", "LOGIN", "CRAM-MD5"]
    assert "RFC 2195" in found[2].meta
    assert texts(suggest("auth x", state_from("microsoft365", tls=True), HELPERS)) == \
        ["xoauth2"]


def test_mail_parameters_follow_the_extensions() -> None:
    postfix = texts(suggest("MAIL FROM:<a@b.example> ", state_from("postfix"), HELPERS))
    assert {"SIZE=", "BODY=", "SMTPUTF8", "RET=", "ENVID="} <= set(postfix)
    assert "REQUIRETLS" not in postfix and "AUTH=" not in postfix
    exim = texts(suggest("MAIL FROM:<a@b.example> ", state_from("exim", tls=True), HELPERS))
    assert "RET=" not in exim and "PRDR" in exim and "AUTH=" in exim
    m365 = suggest("MAIL FROM:<a@b.example> BODY=", state_from("microsoft365"), HELPERS)
    assert texts(m365) == ["BODY=7BIT", "BODY=8BITMIME", "BODY=BINARYMIME"]
    used = texts(suggest("MAIL FROM:<a@b.example> SIZE=10 ", state_from("postfix"), HELPERS))
    assert "SIZE=" not in used and "BODY=" in used


def test_rcpt_parameters_where_dsn_is_advertised() -> None:
    postfix = suggest("RCPT TO:<c@d.example> ", state_from("postfix"), HELPERS)
    assert texts(postfix) == ["NOTIFY=", "ORCPT="]
    assert "RFC 3461" in postfix[0].meta
    assert texts(suggest("RCPT TO:<c@d.example> ", state_from("exim"), HELPERS)) == []
    notify = suggest("rcpt to:<c@d.example> notify=success,f", state_from("postfix"), HELPERS)
    assert texts(notify) == ["notify=success,failure"]


def test_addresses_used_before() -> None:
    state = state_from("postfix")
    state.addresses = ["alice@example.com", "bob@example.org"]
    found = suggest("RCPT TO:<b", state, HELPERS, addresses=state.addresses)
    assert texts(found) == ["bob@example.org>"] and found[0].start == -1
    assert texts(suggest(":rcpt al", state, HELPERS, state.addresses)) == ["alice@example.com>"]


def test_helpers_and_their_options() -> None:
    state = state_from("postfix")
    assert texts(suggest(":au", state, HELPERS)) == [":auth ", ":authcram ", ":authlogin ",
                                                      ":authplain "]
    assert "--authzid" in texts(suggest(":authplain demo --", state, HELPERS))
    assert texts(suggest(":safe o", state, HELPERS)) == ["on", "off"]
    assert texts(suggest(":send --from a@b --t", state, HELPERS)) == ["--to"]
    assert texts(suggest(":mail a@b.example S", state, HELPERS)) == ["SIZE=", "SMTPUTF8"]
    assert "RCPT" in texts(suggest(":help R", state, HELPERS))


def test_file_paths_for_helpers_that_take_files(tmp_path: Path) -> None:
    (tmp_path / "message.eml").write_text("x")
    (tmp_path / "mails").mkdir()
    found = suggest(f":data {tmp_path}/m", state_from("postfix"), HELPERS, files=list_files)
    assert texts(found) == [f"{tmp_path}/mails/", f"{tmp_path}/message.eml"]
    assert suggest(f":mail {tmp_path}/m", state_from("postfix"), HELPERS, files=list_files) == []


def test_header_names_in_data_mode() -> None:
    state = state_from("postfix", phase=Phase.DATA)
    assert texts(suggest("Su", state, HELPERS)) == ["Subject: "]
    assert texts(suggest("content-t", state, HELPERS)) == ["Content-Type: ",
                                                            "Content-Transfer-Encoding: "]
    assert suggest("Subject: hel", state, HELPERS) == []


def test_addresses_from_history_newest_first() -> None:
    assert addresses_in(["RCPT TO:<new@x.example>", "MAIL FROM:<old@x.example>",
                         "RCPT TO:<new@x.example>"]) == ["new@x.example", "old@x.example"]


TAB = "\t"


async def type_keys(steps: list[str], state: SessionState,
                    history: InMemoryHistory | None = None) -> str:
    """Type into a real PromptSession. The menu opens while typing (complete_while_typing),
    so after each text step wait until its completions are in; a Tab then selects the
    next one. Enter at the end; returns the accepted line."""
    with create_pipe_input() as pipe, create_app_session(input=pipe,
                                                         output=PlainTextOutput(io.StringIO())):
        session: PromptSession[str] = PromptSession(completer=make_completer(
            state, HELPERS, history or InMemoryHistory()))
        prompt = asyncio.ensure_future(session.prompt_async("> "))
        buffer = session.default_buffer
        for step in steps:
            before = buffer.text
            pipe.send_text(step)
            if step == TAB:
                await wait_until(lambda b=before: buffer.text != b)
            else:
                await wait_until(lambda b=before, s=step: buffer.text == b + s and bool(
                    buffer.complete_state and buffer.complete_state.completions))
        pipe.send_text("\r")
        async with asyncio.timeout(10):
            return await prompt


@pytest.mark.parametrize(("steps", "line"), [
    (["AU", TAB], "AUTH "),
    (["AUTH ", TAB], "AUTH PLAIN"),
    (["AUTH ", TAB, TAB], "AUTH LOGIN"),
    (["MAIL FROM:<a@b> ", TAB], "MAIL FROM:<a@b> BODY="),
    (["rcpt ", TAB], "rcpt to:<"),
])
def test_tab_in_a_real_prompt_session(steps: list[str], line: str) -> None:
    assert run(type_keys(steps, state_from("exim", tls=True))) == line


def test_tab_against_the_practice_server() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO tab.example", ":starttls")
            history = InMemoryHistory()
            history.append_string("RCPT TO:<friend@example.org>")
            assert await type_keys(["AUTH X", TAB], engine.state, history) == "AUTH XOAUTH2"
            assert await type_keys(["RCPT TO:<fr", TAB], engine.state, history) == \
                "RCPT TO:<friend@example.org>"
            assert await type_keys(["MAIL FROM:<a@b> BODY=8", TAB], engine.state) == \
                "MAIL FROM:<a@b> BODY=8BITMIME"

    run(scenario())

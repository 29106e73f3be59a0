"""Corners a user found: closing TLS to a server that never answers close_notify, HELO
then :starttls, :connect to nowhere, what the history keeps, :abort, hidden passwords,
private files, narrow terminals, profiles, and a few words on screen."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import threading
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
    raw_engine,
    run,
    wait_until,
)

from smtpshell import dialer
from smtpshell.cli import build_parser
from smtpshell.config import Settings, Target, TlsOptions, open_private
from smtpshell.errors import ConnectionFailed, TlsFailed, UsageError
from smtpshell.helpers import make_engine
from smtpshell.launch import make_settings
from smtpshell.render import column_lines, human_bytes, plain, toolbar, wrap
from smtpshell.session import SessionState
from smtpshell.tls import make_practice_certs

CERTS = make_practice_certs()


# -- closing TLS to a server that never answers close_notify (Exim) ------------------


class SilentTls:
    """A TLS SMTP server on a thread that, like Exim, never answers the client's
    close_notify: it notices only when the TCP connection goes."""

    def __init__(self) -> None:
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port = self.listener.getsockname()[1]
        self.gone = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        self.listener.close()  # one connection only: a second attempt is refused at once
        with conn:
            tls = CERTS.server_context().wrap_socket(conn, server_side=True)
            tls.sendall(b"220 silent.test ESMTP\r\n")
            while tls.recv(4096):  # b'': the client's close_notify, left unanswered
                tls.sendall(b"250 ok\r\n")
            raw = socket.socket(fileno=os.dup(tls.fileno()))
            with raw:
                raw.settimeout(STEP)
                with contextlib.suppress(OSError):  # b'' or a reset: the client is gone
                    raw.recv(1)
            self.gone.set()



@pytest.mark.parametrize("how", [":close", ":reconnect"])
def test_closing_tls_does_not_wait_for_a_close_notify_that_never_comes(how: str) -> None:
    async def scenario() -> None:
        server = SilentTls()
        ui = RecordingUI()
        settings = Settings(target=Target(LOOPBACK, server.port, "tls"), timeout=STEP,
                            tls=TlsOptions(cadata=CERTS.ca_pem))
        engine = make_engine(settings, SessionState(), ui)
        await engine.dialer.open_target(Target(LOOPBACK, server.port, "tls"))
        await lines(engine, "NOOP")
        assert engine.state.tls is not None
        async with asyncio.timeout(3 * dialer.CLOSE_DEADLINE + 1):
            if how == ":close":
                await engine.handle_line(how)
            else:  # the old connection goes first; the new one finds nobody
                with pytest.raises(ConnectionFailed, match="refused"):
                    await engine.handle_line(how)
        assert not engine.state.connected and engine.state.tls is None
        await asyncio.get_running_loop().run_in_executor(None, server.gone.wait, STEP)
        assert server.gone.is_set()
        assert "did not answer the TLS close within 1 s" in ui.text

    run(scenario())


# -- HELO, then :starttls -----------------------------------------------------------------


@pytest.mark.parametrize("agree", [False, True])
def test_starttls_after_helo_offers_ehlo_instead_of_closing(agree: bool) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI(confirm=agree))
            await lines(engine, "HELO me.example", ":starttls")
            assert "HELO gives no capabilities" in ui.text
            assert engine.state.connected and "does not offer STARTTLS" not in ui.text
            wire = bytes(server.inbox.wire[0])
            if agree:
                assert wire.startswith(b"HELO me.example\r\nEHLO me.example\r\nSTARTTLS\r\n")
                assert engine.state.tls is not None
            else:
                assert wire == b"HELO me.example\r\n" and engine.state.tls is None

    run(scenario())


def test_a_non_ascii_ehlo_name_gets_the_typed_line_check() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, ":ehlo jöran.example")
            assert "SMTPUTF8" in ui.text and bytes(server.inbox.wire[0]) == b""

    run(scenario())
    with pytest.raises(UsageError, match="not ASCII") as err:
        make_settings(build_parser().parse_args(["mx.example", "--ehlo", "jöran.example"]), {})
    assert "xn--" in err.value.hint


# -- :connect to a host that does not answer --------------------------------------------


def test_connect_to_nowhere_leaves_the_session_as_it_was() -> None:
    with socket.socket() as probe:  # a port nothing listens on: bind, read it, let go
        probe.bind((LOOPBACK, 0))
        dead = probe.getsockname()[1]

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            await lines(engine, "EHLO me.example")
            with pytest.raises(ConnectionFailed, match="refused the connection"):
                await engine.handle_line(f":connect {LOOPBACK}:{dead}")
            assert engine.state.connected and engine.state.greeted
            await lines(engine, "NOOP")
            assert bytes(server.inbox.wire[0]) == b"EHLO me.example\r\nNOOP\r\n"  # no QUIT

    run(scenario())


# -- DATA mode: :abort, commands that are message text -----------------------------------

ENVELOPE = ("EHLO me.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA")


def test_abort_abandons_the_message_by_closing() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI(confirm=True))
            await lines(engine, *ENVELOPE, "Subject: never", "", "half a message", ":abort")
            assert not engine.state.connected and not server.inbox.messages
            assert not bytes(server.inbox.wire[0]).endswith(b"\r\n.\r\n")
            assert "SMTP has no way to take back DATA" in ui.text
            assert "abandoned (:abort)" in ui.text

    run(scenario())


def test_abort_asked_and_refused_lets_the_message_go_on() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, RecordingUI(confirm=False))
            await lines(engine, *ENVELOPE, "Subject: kept", "", ":abort", "still here", ".")
            [message] = server.inbox.messages
            assert message.content.endswith(b"\r\nstill here\r\n")
            assert b":abort" not in message.content

    run(scenario())


@pytest.mark.parametrize("line", [":close", ":quit", "RSET", "quit"])
def test_commands_typed_in_data_mode_are_text_and_asked_about(line: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI(confirm=False))
            await lines(engine, *ENVELOPE, "Subject: t", "", line, ".")
            assert "every line is message text" in ui.text and ":abort" in ui.text
            [message] = server.inbox.messages
            assert line.encode() not in message.content.split(b"\r\n")

    run(scenario())


def test_abort_outside_data_mode_says_there_is_nothing_to_abort() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server)
            with pytest.raises(UsageError, match="no message being written"):
                await engine.handle_line(":abort")
            assert engine.state.connected

    run(scenario())


# -- a password asked hidden never shows -------------------------------------------------


@pytest.mark.parametrize("typed", [":authplain", ":authlogin", ":authplain demo"])
def test_a_password_typed_hidden_never_shows_in_any_form(typed: str) -> None:
    async def scenario() -> None:
        async with practice() as server:
            ui = RecordingUI(secrets=["demo"])
            engine, _ = await engine_for(server, ui, user="demo")
            await lines(engine, "EHLO me.example", ":starttls", typed)
            assert engine.state.auth_user == "demo", ui.text
            for form in ("AGRlbW8AZGVtbw==", "ZGVtbw=="):
                assert form not in ui.text
            assert "********" in ui.text

    run(scenario())


# -- private files ------------------------------------------------------------------------


def test_a_private_file_is_made_0600_even_if_it_existed_wider(tmp_path: Path) -> None:
    path = tmp_path / "keys.log"
    path.write_text("old\n")
    path.chmod(0o644)
    open_private(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "old\n"  # appended to, not replaced


def test_a_private_file_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "transcript.log"
    link.symlink_to(target)
    with pytest.raises(UsageError, match="symbolic link"):
        open_private(str(link))
    assert target.read_text() == ""


@pytest.mark.parametrize("kind", ["dir", "fifo"])
def test_what_cannot_be_private_is_refused_with_the_reason(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x"
    if kind == "dir":
        path.mkdir()
        match = "Is a directory|not a regular file"
    else:
        os.mkfifo(path)
        match = "not a regular file|No such device"
    with pytest.raises(UsageError, match=match):
        open_private(str(path))


def test_transcript_and_history_files_are_private(tmp_path: Path) -> None:
    transcript = tmp_path / "t.log"
    transcript.write_text("")
    transcript.chmod(0o666)

    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, transcript=str(transcript))
            await lines(engine, "NOOP")
            engine.stop_transcript()

    run(scenario())
    assert stat.S_IMODE(transcript.stat().st_mode) == 0o600


# -- narrow terminals ---------------------------------------------------------------------


def test_the_toolbar_shortens_instead_of_being_cut() -> None:
    from smtpshell.machine import ClientMachine, Phase, Stage
    from smtpshell.session import TlsInfo

    state = SessionState(machine=ClientMachine(stage=Stage.READY, phase=Phase.RCPT,
                                               recipients=2, auth_user="demo"))
    state.observe_connected("mail.example-company.com", 587,
                            TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, None, True))
    full = plain(toolbar(state))
    assert "TLS_AES_256_GCM_SHA384" in full and len(full) > 60
    narrow = plain(toolbar(state, 60))
    assert len(narrow) <= 60
    for word in ("company.com:587", "TLSv1.3", "demo", "rcpt ×2", "safe on"):
        assert word in narrow


def test_help_wraps_at_word_boundaries_and_keeps_its_columns() -> None:
    async def scenario() -> None:
        async with practice() as server:
            ui = RecordingUI()
            ui.columns = 60
            engine, _ = await engine_for(server, ui)
            await lines(engine, ":help", "EHLO me.example", ":caps", ":status",
                        ":explain 550 5.7.1")
            text = ui.text
            assert all(len(line) <= 60 for line in text.splitlines()), text
            column = 2 + 34 + 1
            help_lines = text.split("SMTP verbs")[0].splitlines()
            continued = [ln for ln in help_lines[2:] if ln.startswith(" " * column)]
            assert continued and all(ln[column] != " " for ln in continued)
            assert "-" not in "".join(ln[-1] for ln in help_lines if ln)  # no broken words

    run(scenario())


def test_column_lines_and_wrap_are_pure() -> None:
    rows = [("KEY", "a b c d e f g h i j k l m n o p q r s t"), ("A-VERY-LONG-KEY", "text")]
    out = column_lines(rows, 6, 30)
    assert out[0] == "  KEY    a b c d e f g h i j k"
    assert out[1].startswith(" " * 9) and out[2] == "  A-VERY-LONG-KEY"
    assert out[3] == " " * 9 + "text"
    assert column_lines(rows, 6, None)[0] == "  KEY    " + rows[0][1]
    assert wrap("  next: " + "word " * 12, 30).split("\n")[1].startswith(" " * 8 + "word")
    assert wrap("short", 30) == "short" and wrap("x " * 40, None) == "x " * 40


@pytest.mark.parametrize(("count", "shown"), [
    (0, "0 bytes"), (999, "999 bytes"), (1536, "1.5 KB"), (25_000_000, "25.0 MB"),
    (3_200_000_000, "3.2 GB")])
def test_sizes_in_units_a_person_reads(count: int, shown: str) -> None:
    assert human_bytes(count) == shown


# -- :explain ------------------------------------------------------------------------------


def test_explain_an_enhanced_code_alone_and_disagreeing_classes() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, connect=False)
            await lines(engine, ":explain 5.7.26")
            assert "5.7.26" in ui.text and "they disagree" not in ui.text
            await lines(engine, ":explain 550 4.1.1")
            assert "they disagree" in ui.text and "class 5" in ui.text
            with pytest.raises(UsageError, match="not a reply code"):
                await engine.handle_line(":explain 5.7")

    run(scenario())


# -- profiles ------------------------------------------------------------------------------


def test_profiles_take_every_connection_setting(tmp_path: Path) -> None:
    (tmp_path / "smtpshell").mkdir()
    ca = tmp_path / "ca.pem"
    ca.write_text(CERTS.ca_pem)
    (tmp_path / "smtpshell" / "config.toml").write_text(
        f'[profile.all]\nhost = "mx.example"\nport = 587\ntls = "starttls"\n'
        f'cafile = "{ca}"\nsni = "mail.example"\nehlo = "me.example"\nuser = "me"\n'
        f'tls_min = "1.3"\ntimeout = 7\ninsecure = true\nip = 4\nsource = "127.0.0.1"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    got = make_settings(build_parser().parse_args(["--profile", "all"]), env)
    assert got.target is not None and got.target.mode == "starttls"
    assert (got.target.family, got.target.source) == (socket.AF_INET, ("127.0.0.1", 0))
    assert (got.tls.cafile, got.tls.sni, got.tls.tls_min, got.tls.insecure) == \
        (str(ca), "mail.example", "1.3", True)
    assert (got.timeout, got.ehlo, got.user) == (7, "me.example", "me")
    flags = make_settings(build_parser().parse_args(
        ["--profile", "all", "--sni", "other.example", "--timeout", "3"]), env)
    assert (flags.tls.sni, flags.timeout) == ("other.example", 3)  # flags win


# -- :inbox, --sni -------------------------------------------------------------------------


def test_inbox_decodes_encoded_word_subjects() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            await lines(engine, "EHLO me.example", "MAIL FROM:<a@example.com>",
                        "RCPT TO:<b@example.com>", "DATA",
                        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "", "hi", ".",
                        ":inbox")
            assert "subject 'Grüße aus Köln'" in ui.text

    run(scenario())


def test_a_certificate_error_after_sni_names_the_sni() -> None:
    async def scenario() -> None:
        async with practice(implicit_tls=True) as server:
            engine, _ = await engine_for(server, connect=False,
                                         tls=TlsOptions(cadata=server.ca_pem,
                                                        sni="wrong.example"))
            assert engine.target is not None
            with pytest.raises(TlsFailed, match=r"wrong\.example"):
                await engine.dialer.open_target(engine.target._replace(mode="tls"))

    run(scenario())


# -- a silent server ----------------------------------------------------------------------


def test_a_silent_server_is_explained_while_still_waiting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dialer, "GREETING_PATIENCE", 0.05)
    said = asyncio.Event()

    async def server(peer: RawPeer) -> None:
        await said.wait()
        await peer.send(b"220 late.test ESMTP\r\n")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            ui = RecordingUI()
            engine, _ = await raw_engine(srv, ui=ui, connect=False)
            opening = asyncio.ensure_future(engine.dialer.open_target(srv.target()))
            await wait_until(lambda: "no greeting after" in ui.text)
            assert "waiting for the greeting" in ui.text and "--tls" in ui.text
            said.set()
            await opening
            assert engine.state.connected and "220 late.test" in ui.text
            await engine.dialer.hang_up(quit_first=False)

    run(scenario())

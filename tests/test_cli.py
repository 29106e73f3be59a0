"""The CLI as a subprocess: scripts, exit codes, one-line errors."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from pathlib import Path

import pytest
from support import LOOPBACK, STEP, RawPeer, RawServer, practice, run, run_cli

import smtpshell
from smtpshell.tls import make_practice_certs

SEND = ("EHLO cli.example\nMAIL FROM:<a@example.com>\nRCPT TO:<b@example.com>\nDATA\n"
        "Subject: from a script\n\nbody\n.\nQUIT\n")


def test_piped_script_exits_0_and_the_message_arrives() -> None:
    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", stdin=SEND)
            assert (code, err) == (0, "")
            assert "250 2.0.0 Queued" in out and "-> EHLO cli.example" in out
            assert server.inbox.messages[0].content == b"Subject: from a script\r\n\r\nbody\r\n"
            assert bytes(server.inbox.wire[0]).endswith(b".\r\nQUIT\r\n")

    run(scenario())


def test_rejected_command_exits_1_after_quit() -> None:
    async def scenario() -> None:
        async with practice() as server:
            script = "EHLO cli.example\nMAIL FROM:<a@example.com>\nRCPT TO:<reject@example.com>\n" \
                     "DATA\n"
            code, out, _ = await run_cli(f"{LOOPBACK}:{server.port}", stdin=script)
            assert code == 1
            assert "550 5.1.1" in out and "script line 3 got an unexpected reply" in out
            assert bytes(server.inbox.wire[0]).endswith(b"RCPT TO:<reject@example.com>\r\n"
                                                        b"QUIT\r\n")

    run(scenario())


def test_expect_allows_a_failure(tmp_path: Path) -> None:
    script = tmp_path / "check.smtp"
    script.write_bytes(b"\xef\xbb\xbf# a comment\r\nEHLO cli.example\r\nMAIL FROM:<a@example.com>"
                       b"\r\n:expect 550\r\nRCPT TO:<reject@example.com>\r\n")

    async def scenario() -> None:
        async with practice() as server:
            code, out, err = await run_cli(f"{LOOPBACK}:{server.port}", "--script",
                                             str(script))
            assert (code, err) == (0, ""), out
            assert b"# a comment" not in bytes(server.inbox.wire[0])

    run(scenario())


def test_a_line_that_needs_confirmation_is_not_sent_from_a_script() -> None:
    async def scenario() -> None:
        async with practice() as server:
            code, out, _ = await run_cli(f"{LOOPBACK}:{server.port}",
                                           stdin="EHLO x.example\nRCPT TO:<b@example.com>\n")
            assert code == 1 and "A script cannot confirm" in out
            assert bytes(server.inbox.wire[0]) == b"EHLO x.example\r\nQUIT\r\n"
            code, _, _ = await run_cli(f"{LOOPBACK}:{server.port}", "--unsafe",
                                         stdin="EHLO x.example\n:expect 503\n"
                                               "RCPT TO:<b@example.com>\n")
            assert code == 0

    run(scenario())


def test_bad_option_exits_2() -> None:
    code, _, err = run(run_cli("--no-such-option"))
    assert code == 2 and "usage:" in err
    code, _, err = run(run_cli())
    assert code == 2 and err.startswith("smtpshell: no server given")


def test_refused_connection_exits_3_with_one_line() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
    code, out, err = run(run_cli(f"{LOOPBACK}:{port}", stdin="EHLO x\n"))
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and "refused the connection" in err
    assert "Traceback" not in err


def test_starttls_and_certificate_checks(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with practice() as server:
            ca = tmp_path / "ca.pem"
            ca.write_text(server.ca_pem)
            where = f"{LOOPBACK}:{server.port}"
            code, out, err = await run_cli(where, "--starttls", "--cafile", str(ca),
                                             stdin="NOOP\n")
            assert (code, err) == (0, "") and "TLS is up: TLSv1.3" in out
            other = tmp_path / "other.pem"
            other.write_text(make_practice_certs().ca_pem)
            code, out, err = await run_cli(where, "--starttls", "--cafile", str(other),
                                             stdin="NOOP\n")
            assert code == 3 and "unknown certificate authority" in err
            assert "Traceback" not in err + out
            code, out, err = await run_cli(where, "--starttls", "--insecure", stdin="NOOP\n")
            assert code == 0 and "a check would fail: it is signed by an unknown certificate " \
                                 "authority" in out

    run(scenario())


def test_demo_runs_a_script() -> None:
    code, out, err = run(run_cli("--demo", stdin=SEND + ":inbox\n"))
    assert (code, err) == (0, "")
    assert "1 message(s)" in out


def test_serve_says_how_to_connect(tmp_path: Path) -> None:
    async def scenario() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smtpshell", "--serve", "--port", "0",
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(STEP):
                first, second, third, _ = [(await proc.stdout.readline()).decode()
                                           for _ in range(4)]
            assert first.startswith("Practice server on 127.0.0.1:")
            assert not first.startswith("Practice server on 127.0.0.1:2525 ")  # --port 0
            assert str(tmp_path / "smtpshell" / "practice" / "ca.pem") in first  # no temp dir
            for line in (second, third):  # STARTTLS, then TLS from the first byte
                command = line.split(":", 1)[1].split()
                assert command[0] == "smtpshell" and "--cafile" in command
                code, out, _ = await run_cli(*command[1:], stdin=SEND)
                assert code == 0 and "TLS is up" in out, out
                async with asyncio.timeout(STEP):
                    assert "received: from <a@example.com>" in (await proc.stdout.readline()
                                                                ).decode()
        finally:
            proc.terminate()
            await proc.wait()

    run(scenario())


def test_starttls_option_without_starttls_on_offer_exits_3() -> None:
    async def server(peer: RawPeer) -> None:
        await peer.greet_ehlo("PIPELINING")
        await peer.until_closed()

    async def scenario() -> None:
        async with RawServer(server) as srv:
            code, _, err = await run_cli(f"{LOOPBACK}:{srv.port}", "--starttls",
                                             "--ehlo", "ci.example", stdin="MAIL FROM:<a@b>\n")
            await srv.finished()
            assert code == 3 and "does not offer STARTTLS" in err
            assert srv.received == b"EHLO ci.example\r\n"

    run(scenario())


def test_render_a_transcript_as_mermaid_and_html(tmp_path: Path) -> None:
    log = tmp_path / "session.log"

    async def scenario() -> None:
        async with practice() as server:
            code, _, _ = await run_cli(f"{LOOPBACK}:{server.port}", "--transcript", str(log),
                                       stdin="EHLO render.example\nNOOP\n")
            assert code == 0
        code, mermaid, err = await run_cli("--render", str(log))
        assert (code, err) == (0, "") and mermaid.startswith("sequenceDiagram")
        assert "Client->>Server: EHLO render.example" in mermaid
        code, page, _ = await run_cli("--render", str(log), "--format", "html")
        assert code == 0 and page.startswith("<!DOCTYPE html>") and "250" in page
        code, _, err = await run_cli("--render", str(tmp_path / "none.log"))
        assert code == 2 and "Traceback" not in err and "none.log" in err
        code, _, err = await run_cli("--render", str(log), "--demo")
        assert code == 2 and "connects nowhere" in err

    run(scenario())


# -- settings you can see -------------------------------------------------------------


def test_print_config_names_where_every_setting_came_from(tmp_path: Path) -> None:
    folder = tmp_path / "smtpshell"
    folder.mkdir()
    (folder / "config.toml").write_text(
        '# every session\nehlo = "me.example"\n\n[profile.work]\nhost = "mail.example"\n'
        'port = 587\ntls = "starttls"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path), "SSLKEYLOGFILE": str(tmp_path / "keys"),
           "NO_COLOR": "1"}

    async def scenario() -> None:
        code, out, err = await run_cli("--profile", "work", "-p", "2525", "--vi",
                                       "--print-config", env=env)
        assert (code, err) == (0, "")
        rows = dict(reversed(line.split("\t")) for line in out.splitlines()[1:])
        file = f"file:{folder / 'config.toml'}"
        assert rows['host = "mail.example"'] == f"{file}:5"
        assert rows["port = 2525"] == "command line:--port"  # the flag wins over line 6
        assert rows['tls = "starttls"'] == f"{file}:7"
        assert rows['ehlo = "me.example"'] == f"{file}:2"
        assert rows['edit_mode = "vi"'] == "command line:--vi"
        assert rows['color = "never"'] == "env:NO_COLOR"
        assert rows[f'keylog = "{tmp_path / "keys"}"'] == "env:SSLKEYLOGFILE"
        assert rows["cafile = (none)"] == rows["safe = true"] == "default"
        assert out.startswith(f"# config file: {folder / 'config.toml'}\n")

        code, out, err = await run_cli("mx.example:465", "--print-config",
                                       env={"XDG_CONFIG_HOME": str(tmp_path / "none")})
        assert code == 0 and "(there is none)" in out.splitlines()[0]
        assert "command line:HOST:PORT\ttls = \"tls\"" in out.splitlines()  # 465 implies it

    run(scenario())


def test_a_bad_config_file_stops_any_run_with_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "smtpshell").mkdir()
    (tmp_path / "smtpshell" / "config.toml").write_text('\n[profile.x]\npasword = "oops"\n')

    async def scenario() -> None:
        code, out, err = await run_cli("--demo", env={"XDG_CONFIG_HOME": str(tmp_path)})
        assert code == 2 and out == ""
        assert err.startswith(f"smtpshell: {tmp_path}/smtpshell/config.toml:3: unknown key "
                              "'pasword' (known keys: host, port")
        assert len(err.splitlines()) == 1 and "Traceback" not in err

    run(scenario())


# -- the habits of a Unix tool ------------------------------------------------------------


def test_help_is_grouped_with_defaults_and_examples() -> None:
    async def scenario() -> None:
        code, out, err = await run_cli("--help", env={"COLUMNS": "100"})
        assert (code, err) == (0, "")
        groups = re.findall(r"^(\S[^:\n]*):\n", out, re.M)
        assert groups == ["options", "connection", "TLS", "authentication",
                          "messages and safe mode", "output and transcripts", "scripts",
                          "practice server", "settings and the shell", "examples"]
        assert "(default: 25; 465 implies --tls)" in out and "(default: mermaid)" in out
        assert "smtpshell mail.example.com:587 --starttls" in out
        assert "smtpshell --demo" in out and "--json | jq" in out
        assert "exit status: 0 done" in out

    run(scenario())


def test_version_names_what_a_bug_report_needs() -> None:
    import importlib.metadata
    import platform
    import ssl

    async def scenario() -> None:
        code, out, _ = await run_cli("--version")
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == f"smtpshell {smtpshell.__version__}"
        assert f"Python {platform.python_version()}" in lines[1] and ssl.OPENSSL_VERSION in lines[1]
        for name in ("prompt_toolkit", "cryptography"):
            assert f"{name} {importlib.metadata.version(name)}" in lines

    run(scenario())


@pytest.mark.parametrize(("env", "coloured"), [
    ({"NO_COLOR": ""}, False),  # a pipe is no terminal: auto means plain
    ({"NO_COLOR": "", "FORCE_COLOR": "1"}, True),
    ({"NO_COLOR": "", "CLICOLOR_FORCE": "1"}, True),
    ({"NO_COLOR": "", "FORCE_COLOR": "0"}, False),
    ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # NO_COLOR wins
])
def test_colour_of_a_script_follows_force_color_and_no_color(env: dict[str, str],
                                                             coloured: bool) -> None:
    async def scenario() -> None:
        code, out, _ = await run_cli("--demo", stdin="NOOP\nQUIT\n", env=env)
        assert code == 0 and "250 2.0.0 OK" in out.replace("\x1b[0m", "").replace(
            "\x1b[1m", "").replace("\x1b[32m", "")
        assert ("\x1b[32m250" in out) is coloured  # a 2xx reply in green

    run(scenario())

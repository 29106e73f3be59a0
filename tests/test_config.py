"""Settings: HOST[:PORT], port 465, profiles, colour, and the TLS knobs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support import engine_for, lines, practice, run

from smtpshell.cli import build_parser
from smtpshell.config import TlsOptions, color_enabled, load_profile, parse_hostport
from smtpshell.errors import TlsFailed, UsageError
from smtpshell.launch import make_settings


@pytest.mark.parametrize(("text", "expected"), [
    ("mx.example", ("mx.example", 25)), ("mx.example:587", ("mx.example", 587)),
    ("[::1]:2525", ("::1", 2525)), ("::1", ("::1", 25)), ("[::1]", ("::1", 25)),
])
def test_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text, 25) == expected


@pytest.mark.parametrize("text", ["mx:0", "mx:99999", "mx:smtp", "[::1", "[::1]x"])
def test_bad_hostport(text: str) -> None:
    with pytest.raises(UsageError):
        parse_hostport(text, 25)


def settings(*argv: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return make_settings(build_parser().parse_args(list(argv)), env or {})


def test_port_465_means_implicit_tls_unless_plain() -> None:
    assert settings("mx.example:465").target.mode == "tls"
    assert settings("mx.example", "-p", "465").target.mode == "tls"
    assert settings("mx.example:465", "--plain").target.mode == "plain"
    assert settings("mx.example", "--tls").target.port == 465
    assert settings("mx.example:587", "--starttls").target.mode == "starttls"
    assert settings("mx.example", "-6").target.family == socket.AF_INET6


def test_profiles(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    (tmp_path / "smtpshell").mkdir()
    (tmp_path / "smtpshell" / "config.toml").write_text(
        '[profile.work]\nhost = "mail.work.example"\nport = 587\ntls = "starttls"\n'
        'ehlo = "me.work.example"\nuser = "me"\n'
        '[profile.bad]\npassword = "no"\n')
    work = settings("--profile", "work", env=env)
    assert (work.target.host, work.target.port, work.target.mode) == (
        "mail.work.example", 587, "starttls")
    assert work.ehlo == "me.work.example" and work.user == "me"
    assert settings("--profile", "work", "other.example:25", env=env).target.host == \
        "other.example"
    with pytest.raises(UsageError, match="unknown key 'password'"):
        load_profile("bad", env)
    with pytest.raises(UsageError, match=r"no \[profile\.none\] table"):
        load_profile("none", env)
    with pytest.raises(UsageError, match="no config file"):
        load_profile("work", {"XDG_CONFIG_HOME": str(tmp_path / "missing")})


def test_colour() -> None:
    assert color_enabled(False, {}) and not color_enabled(True, {})
    assert not color_enabled(False, {"NO_COLOR": "1"}) and color_enabled(False, {"NO_COLOR": ""})


def test_secret_env_must_exist() -> None:
    with pytest.raises(UsageError, match="--secret-env NOPE"):
        settings("mx.example", "--secret-env", "NOPE")
    assert settings("mx.example", "--secret-env", "P", env={"P": "x"}).secret_env == ("P",)


def test_tls_knobs_against_the_practice_server() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, _ = await engine_for(server, tls=TlsOptions(cadata=server.ca_pem,
                                                                tls_max="1.2"))
            await lines(engine, "EHLO knobs.example", ":starttls")
            assert engine.state.tls is not None and engine.state.tls.version == "TLSv1.2"
            engine2, _ = await engine_for(server, tls=TlsOptions(cadata=server.ca_pem,
                                                                 sni="wrong.example"))
            with pytest.raises(TlsFailed, match="issued for another host name"):
                await lines(engine2, "EHLO knobs.example", ":starttls")
            engine2.settings = engine2.settings._replace(tls=TlsOptions(ciphers="NO-SUCH"))
            with pytest.raises(TlsFailed, match="cannot set up TLS: No cipher can be selected"):
                await lines(engine2, ":reconnect", "EHLO k.example", ":starttls")

    run(scenario())

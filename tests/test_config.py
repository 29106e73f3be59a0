"""Settings: HOST[:PORT], port 465, the config file and profiles, where each setting came
from (--print-config), colour, and the TLS knobs."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from support import engine_for, lines, practice, run

from smtpshell.cli import build_parser
from smtpshell.config import TlsOptions, parse_hostport
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


def config(tmp_path: Path, text: str) -> dict[str, str]:
    """An environment whose config file holds `text`."""
    (tmp_path / "smtpshell").mkdir(exist_ok=True)
    (tmp_path / "smtpshell" / "config.toml").write_text(text)
    return {"XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}


def test_profiles(tmp_path: Path) -> None:
    env = config(tmp_path, '[profile.work]\nhost = "mail.work.example"\nport = 587\n'
                           'tls = "starttls"\nehlo = "me.work.example"\nuser = "me"\n')
    work = settings("--profile", "work", env=env)
    assert (work.target.host, work.target.port, work.target.mode) == (
        "mail.work.example", 587, "starttls")
    assert work.ehlo == "me.work.example" and work.user == "me"
    assert settings("--profile", "work", "other.example:25", env=env).target.host == \
        "other.example"
    assert settings("--profile", "work", "--user", "you", env=env).user == "you"
    with pytest.raises(UsageError, match=r"no \[profile\.none\] table"):
        settings("--profile", "none", env=env)
    with pytest.raises(UsageError, match="no config file"):
        settings("--profile", "work", env={"XDG_CONFIG_HOME": str(tmp_path / "missing")})


def test_top_level_settings_hold_for_every_session_and_a_profile_overrides_them(
        tmp_path: Path) -> None:
    env = config(tmp_path, 'ehlo = "me.example"\nedit_mode = "vi"\nexplain = true\n'
                           'history = false\ncolor = "always"\n'
                           '[profile.quiet]\ncolor = "never"\nexplain = false\n')
    every = settings("mx.example", env=env)
    assert (every.ehlo, every.edit_mode, every.explain, every.history, every.color) == \
        ("me.example", "vi", True, None, "always")
    quiet = settings("mx.example", "--profile", "quiet", env=env)
    assert (quiet.color, quiet.explain, quiet.ehlo) == ("never", False, "me.example")
    assert settings("mx.example", "--no-color", env=env).color == "never"


@pytest.mark.parametrize(("text", "line", "says"), [
    ('ehlo = "a.example"\n\n[profile.w]\nhost = "h"\npassword = "no"\n', 5,
     "unknown key 'password'"),
    ('[profile.w]\nport = "587"\n', 2, "port must be a whole number, not string"),
    ('[profile.w]\ntls_min = "1.1"\n', 2, r'tls_min must be one of "1\.2", "1\.3"'),
    ('[profile.w]\ninsecure = 1\n', 2, "insecure must be a true or false, not whole number"),
    ('# my settings\nhost = "mx.example"\n', 2,
     r"host names a server, so it belongs in a \[profile\.NAME\] table"),
    ('edit_mode = "nano"\n', 1, 'edit_mode must be one of "emacs", "vi"'),
    ('[profile."a.b"]\n  "timeout" = true\n', 2, "timeout must be a whole number or number"),
])
def test_a_config_file_mistake_names_the_file_line_and_key(tmp_path: Path, text: str,
                                                            line: int, says: str) -> None:
    env = config(tmp_path, text)
    where = f"{tmp_path}/smtpshell/config.toml:{line}: "
    with pytest.raises(UsageError, match=re.escape(where) + says):
        settings("mx.example", env=env)  # refused in any run, not only with that profile


def test_a_config_file_that_is_not_toml_is_refused_with_the_parser_s_words(
        tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"config\.toml: .*line 2"):
        settings("mx.example", env=config(tmp_path, 'ehlo = "a"\nhost =\n'))


def test_colour_from_the_flag_the_environment_and_the_file(tmp_path: Path) -> None:
    assert settings("mx.example").color == "auto"
    assert settings("mx.example", "--no-color").color == "never"
    assert settings("mx.example", env={"NO_COLOR": "1"}).color == "never"
    assert settings("mx.example", env={"NO_COLOR": ""}).color == "auto"
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        assert settings("mx.example", env={name: "1"}).color == "always"
        assert settings("mx.example", env={name: "0"}).color == "auto"
    assert settings("mx.example", env={"NO_COLOR": "1", "FORCE_COLOR": "1"}).color == "never"
    # no-color.org: a config file and a flag win over NO_COLOR
    env = {**config(tmp_path, 'color = "always"\n'), "NO_COLOR": "1"}
    assert settings("mx.example", env=env).color == "always"
    assert settings("mx.example", "--no-color", env=env).color == "never"


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


def test_the_example_config_file_is_valid_and_shows_every_key() -> None:
    from smtpshell.layers import KEYS, read_config

    example = Path(__file__).parent.parent / "examples" / "config.toml"
    read = read_config(example)
    assert read is not None and set(read.profiles) == {"work", "relay"}
    shown = {*read.top, *read.profiles["work"]}
    commented = {key for key in KEYS if f"# {key} = " in example.read_text()}
    assert set(KEYS) == shown | commented

"""Settings: defaults < profile (TOML, XDG) < flags, frozen once.

Owns: `Settings`, `Target`, `TlsOptions`, reading the config file, where the
history lives, whether colour is wanted, and `HOST[:PORT]` parsing.
Must not: parse the command line (cli does), open connections, or print.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

from .errors import UsageError

__all__ = [
    "Settings",
    "Target",
    "TlsMode",
    "TlsOptions",
    "color_enabled",
    "config_path",
    "history_path",
    "load_profile",
    "open_private",
    "parse_hostport",
]

TlsMode = Literal["plain", "tls", "starttls"]
SMTPS_PORT = 465  # RFC 8314: implicit TLS


@dataclass(frozen=True)
class TlsOptions:
    insecure: bool = False
    cafile: str | None = None
    cadata: str | None = None  # PEM text: the practice server's CA for --demo
    cert: str | None = None
    key: str | None = None
    sni: str | None = None
    tls_min: str | None = None
    tls_max: str | None = None
    ciphers: str | None = None
    keylog: str | None = None


@dataclass(frozen=True)
class Target:
    """Where to connect and how."""

    host: str
    port: int = 25
    mode: TlsMode = "plain"
    family: int = socket.AF_UNSPEC
    source: tuple[str, int] | None = None
    server_name: str | None = None  # the name TLS verifies when `host` is an address (--mx)

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        named = f"{self.server_name} " if self.server_name else ""
        return f"{named}{host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    target: Target | None = None
    tls: TlsOptions = field(default_factory=TlsOptions)
    ehlo: str | None = None
    user: str | None = None
    timeout: float | None = None
    transcript: str | None = None
    explain: bool = False
    safe: bool = True
    color: bool = True
    history: Path | None = None
    secret_env: tuple[str, ...] = ()  # environment variables holding secrets, in order
    nameserver: tuple[str, int] | None = None  # for --mx: ask this DNS server
    mx: str | None = None  # connect to this domain's mail servers

    def with_target(self, target: Target) -> Settings:
        return replace(self, target=target)


def parse_hostport(text: str, default_port: int | None) -> tuple[str, int | None]:
    """`host`, `host:587`, `[::1]:25`, `::1` -> (host, port or default)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"{text!r} is not HOST[:PORT]", "write IPv6 as [::1]:25")
        return host, _port(rest[1:], text) if rest else default_port
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port, text)
    return text, default_port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"{whole!r} has no valid port", "a port is a number from 1 to 65535")
    return int(text)


def implied_mode(port: int, mode: TlsMode | None, plain: bool) -> TlsMode:
    """Port 465 means implicit TLS unless --plain says otherwise."""
    if mode is not None:
        return mode
    return "tls" if port == SMTPS_PORT and not plain else "plain"


def open_private(path: str) -> TextIO:
    """Open for appending, created with mode 0600 (transcripts, TLS key logs: private)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "smtpshell" / "config.toml"


def history_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "smtpshell" / "history"


def color_enabled(no_color_flag: bool, env: Mapping[str, str]) -> bool:
    """`--no-color` and NO_COLOR (https://no-color.org: any non-empty value) turn colour off."""
    return not no_color_flag and not env.get("NO_COLOR")


_PROFILE_KEYS = {"host": str, "port": int, "tls": str, "ehlo": str, "user": str}


def load_profile(name: str, env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The `[profile.NAME]` table of the config file, checked; never a password."""
    path = config_path(env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no config file at {path}",
                         f"create it with a [profile.{name}] table") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    profile = data.get("profile", {}).get(name)
    if not isinstance(profile, dict):
        raise UsageError(f"{path} has no [profile.{name}] table")
    for key, value in profile.items():
        kind = _PROFILE_KEYS.get(key)
        if kind is None:
            raise UsageError(f"[profile.{name}] has an unknown key {key!r}",
                             f"known keys: {', '.join(_PROFILE_KEYS)} (never a password)")
        if not isinstance(value, kind):
            raise UsageError(f"[profile.{name}] {key} must be a {kind.__name__}")
    if profile.get("tls", "plain") not in ("plain", "tls", "starttls"):
        raise UsageError(f"[profile.{name}] tls must be plain, tls or starttls")
    return profile

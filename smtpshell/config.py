"""Settings: defaults < profile (TOML, XDG) < flags, frozen once.

Owns: `Settings`, `Target`, `TlsOptions`, reading the config file, where the
history lives, whether colour is wanted, and `HOST[:PORT]` parsing.
Must not: parse the command line (cli does), open connections, or print.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NamedTuple, TextIO

from .errors import UsageError

__all__ = [
    "SMTPS_PORT",
    "Practice",
    "Settings",
    "Target",
    "TlsMode",
    "TlsOptions",
    "config_path",
    "history_path",
    "implied_mode",
    "open_private",
    "parse_hostport",
    "private_dir",
    "state_path",
    "write_private",
]

TlsMode = Literal["plain", "tls", "starttls"]
SMTPS_PORT = 465  # RFC 8314: implicit TLS


class TlsOptions(NamedTuple):
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


class Target(NamedTuple):
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


class Practice(NamedTuple):
    """Where --demo's practice server listens: `demo` as a host name means it."""

    host: str
    port: int  # STARTTLS, as a submission server's 587
    tls_port: int  # TLS from the first byte, as 465

    def target(self, mode: TlsMode, port: int | None = None) -> Target:
        """The practice server the way asked: a port given wins, else the one for `mode`."""
        return Target(self.host, port or (self.tls_port if mode == "tls" else self.port), mode)


class Settings(NamedTuple):
    target: Target | None = None
    tls: TlsOptions = TlsOptions()
    ehlo: str | None = None
    user: str | None = None
    timeout: float | None = None
    transcript: str | None = None
    explain: bool = False
    safe: bool = True
    color: str = "auto"  # auto (a terminal), always (FORCE_COLOR), never (--no-color)
    edit_mode: str = "emacs"  # or vi
    history: Path | None = None
    secret_env: tuple[str, ...] = ()  # environment variables holding secrets, in order
    nameserver: tuple[str, int] | None = None  # for --mx: ask this DNS server
    mx: str | None = None  # connect to this domain's mail servers
    practice: Practice | None = None  # --demo: the practice server, `demo` as a host name
    progress: Path | None = None  # where the tutorial keeps the learner's progress
    lessons_dir: Path | None = None  # a teacher's own lessons, beside the package's

    def with_target(self, target: Target) -> Settings:
        return self._replace(target=target)


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


def private_dir(path: str) -> str:
    """A folder of ours for private files: made 0700, refused if it is a symbolic link
    or anyone else may read it."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as err:
        raise UsageError(f"cannot make the folder {path}: {err.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 or \
            info.st_uid != os.getuid():
        raise UsageError(f"{path} is not a private folder of yours (mode 0700)",
                         "remove it, or fix its mode with chmod 700")
    return path


def write_private(path: str, text: str) -> None:
    """Replace a private file whole: a new file (0600) moved into place, so a reader
    never sees half of it and a symbolic link there is replaced, not followed."""
    folder = os.path.dirname(path) or "."
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UsageError(f"cannot write {path}: {err.strerror}") from None


def open_private(path: str) -> TextIO:
    """Open for appending a file that holds secrets or keys (history, transcript, TLS key
    log): created 0600, made 0600 if it existed wider, never written through a symbolic
    link. A file that cannot be made private is refused, with the reason."""
    # O_NONBLOCK: a FIFO in the way fails at once instead of waiting for a reader
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UsageError(f"{path} is a symbolic link; a private file is never written "
                             "through one", "give the path of the file itself") from None
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path} is not a regular file, so it cannot be kept private",
                             "give the path of a file")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, 0o600)  # an older file, or one made by hand, readable by others
    except OSError as err:
        os.close(fd)
        raise UsageError(f"cannot make {path} private (mode 0600): {err.strerror}",
                         "it may belong to another user; give another path") from None
    except UsageError:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "smtpshell" / "config.toml"


def state_path(env: Mapping[str, str], name: str) -> Path:
    """A file of ours in the XDG state directory (history, tutorial progress)."""
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "smtpshell" / name


def history_path(env: Mapping[str, str]) -> Path:
    return state_path(env, "history")

"""Where each setting comes from: defaults < environment < config file < profile < flags.

Owns: `KEYS` (every setting the config file may hold, its type, where it may
stand), reading and checking the whole config file with the line of every key,
`resolve` (each setting's value with its origin, as `git config --show-origin`
gives it) and `describe` (the text of --print-config).
Must not: build `Settings` (launch does, from what `resolve` gives), connect,
or print.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .config import SMTPS_PORT, config_path, history_path, implied_mode
from .errors import UsageError

__all__ = ["KEYS", "ConfigFile", "Key", "Setting", "describe", "read_config", "resolve"]


class Key(NamedTuple):
    """One setting of the config file."""

    name: str
    kinds: tuple[type, ...]
    meaning: str  # a few words, for --print-config's reader and examples/config.toml
    choices: tuple[object, ...] = ()
    server: bool = False  # names a server: only in a [profile.NAME] table
    path: bool = False  # ~ is expanded
    default: object = None


KEYS: dict[str, Key] = {key.name: key for key in (
    Key("host", (str,), "HOST, the server", server=True),
    Key("port", (int,), "-p; 465 implies tls", server=True),
    Key("tls", (str,), "--tls, --starttls or --plain", ("plain", "tls", "starttls"),
        server=True),
    Key("ehlo", (str,), "--ehlo"),
    Key("user", (str,), "--user: what the AUTH helpers typed bare take"),
    Key("cafile", (str,), "--cafile", path=True),
    Key("cert", (str,), "--cert", path=True),
    Key("key", (str,), "--key", path=True),
    Key("sni", (str,), "--sni"),
    Key("tls_min", (str,), "--tls-min", ("1.2", "1.3")),
    Key("tls_max", (str,), "--tls-max", ("1.2", "1.3")),
    Key("ciphers", (str,), "--ciphers"),
    Key("insecure", (bool,), "--insecure", default=False),
    Key("timeout", (int, float), "--timeout, seconds"),
    Key("source", (str,), "--source"),
    Key("ip", (int,), "-4 or -6", (4, 6)),
    Key("edit_mode", (str,), "--vi: the prompt's key bindings", ("emacs", "vi"),
        default="emacs"),
    Key("color", (str,), "--no-color, NO_COLOR, FORCE_COLOR: auto colours a terminal only",
        ("auto", "always", "never"), default="auto"),
    Key("explain", (bool,), "--explain", default=False),
    Key("history", (bool,), "--no-history: false keeps no history file", default=True),
)}


class Setting(NamedTuple):
    value: Any
    origin: str  # default, env:NAME, file:PATH:LINE, command line:--flag


class ConfigFile(NamedTuple):
    """A config file read and checked: its top-level settings and its profiles, each
    value with the line it stands on."""

    path: Path
    top: dict[str, tuple[Any, int]]
    profiles: dict[str, dict[str, tuple[Any, int]]]

    def origin(self, line: int) -> str:
        return f"file:{self.path}:{line}"


def read_config(path: Path) -> ConfigFile | None:
    """The config file, checked whole (a mistake in any table is refused now, with the
    file, the line and the key), or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    import tomllib  # only a run that has a config file pays for the parser

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: {err}", "the file is TOML: key = value, "
                                           "tables as [profile.NAME]") from None
    lines = _key_lines(text)

    def where(table: tuple[str, ...], key: str) -> tuple[str, int]:
        line = lines.get((*table, key), 0)
        return f"{path}:{line}" if line else str(path), line

    top: dict[str, tuple[Any, int]] = {}
    profiles: dict[str, dict[str, tuple[Any, int]]] = {}
    for key, value in data.items():
        if key == "profile" and isinstance(value, dict):
            for name, table in value.items():
                if not isinstance(table, dict):
                    place, _ = where(("profile",), name)
                    raise UsageError(f"{place}: profile.{name} must be a table",
                                     f"write it as [profile.{name}]")
                profiles[name] = {k: _checked(v, k, where(("profile", name), k), server=True)
                                  for k, v in table.items()}
        else:
            top[key] = _checked(value, key, where((), key), server=False)
    return ConfigFile(path, top, profiles)


def _checked(value: Any, key: str, where: tuple[str, int], *, server: bool
             ) -> tuple[Any, int]:
    place, line = where
    spec = KEYS.get(key)
    if spec is None:
        raise UsageError(f"{place}: unknown key {key!r}",
                         f"known keys: {', '.join(KEYS)} (never a password)")
    if spec.server and not server:
        raise UsageError(f"{place}: {key} names a server, so it belongs in a "
                         "[profile.NAME] table", "smtpshell --profile NAME uses it")
    if not isinstance(value, spec.kinds) or (isinstance(value, bool) and bool not in spec.kinds):
        raise UsageError(f"{place}: {key} must be a "
                         f"{' or '.join(_TYPE_NAMES[k] for k in spec.kinds)}, "
                         f"not {_TYPE_NAMES.get(type(value), type(value).__name__)}")
    if spec.choices and value not in spec.choices:
        raise UsageError(f"{place}: {key} must be one of "
                         f"{', '.join(_shown(c) for c in spec.choices)}")
    return (os.path.expanduser(str(value)) if spec.path else value), line


_TYPE_NAMES = {str: "string", int: "whole number", float: "number", bool: "true or false",
               list: "list", dict: "table"}
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")
_PART = re.compile(r"""\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:\.|$)""")


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """(table…, key) -> the line it is set on, for the flat tables this file has. A key
    this does not place (dotted keys, multi-line values) is named without a line."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        if header := _HEADER.match(line):
            table = tuple(part.strip("\"'") for part in _PART.findall(header[1]))
        elif key := _KEY.match(line):
            found.setdefault((*table, key[1].strip("\"'")), number)
    return found


def _shown(value: object) -> str:
    """A value as TOML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def resolve(flags: Mapping[str, tuple[Any, str]], env: Mapping[str, str],
            profile: str | None) -> dict[str, Setting]:
    """Every setting of KEYS with its value and origin. `flags`: what the command line
    set, by key, with the flag that set it."""
    settings = {name: Setting(key.default, "default") for name, key in KEYS.items()}
    settings.update(_from_env(env))
    config = read_config(config_path(env))
    if config is not None:
        settings.update({k: Setting(v, config.origin(line)) for k, (v, line) in config.top.items()})
    if profile is not None:
        if config is None:
            raise UsageError(f"no config file at {config_path(env)}",
                             f"create it with a [profile.{profile}] table")
        if profile not in config.profiles:
            raise UsageError(f"{config.path} has no [profile.{profile}] table")
        settings.update({k: Setting(v, config.origin(line))
                         for k, (v, line) in config.profiles[profile].items()})
    settings.update({k: Setting(v, f"command line:{flag}") for k, (v, flag) in flags.items()})
    return _implied(settings)


def _implied(settings: dict[str, Setting]) -> dict[str, Setting]:
    """The port and TLS mode nobody set, from each other: --tls means 465, 465 means TLS
    (an implied TLS comes from where the port did)."""
    port, mode = settings["port"], settings["tls"]
    if port.value is None:
        port = settings["port"] = Setting(SMTPS_PORT if mode.value == "tls" else 25, "default")
    if mode.value is None:
        implied = implied_mode(port.value, None, plain=False)
        settings["tls"] = Setting(implied, port.origin if implied == "tls" else "default")
    return settings


def _from_env(env: Mapping[str, str]) -> dict[str, Setting]:
    """What the environment says. NO_COLOR (no-color.org: any non-empty value) wins over
    FORCE_COLOR and CLICOLOR_FORCE, which force colour unless empty or 0."""
    found = {}
    forced = [name for name in ("FORCE_COLOR", "CLICOLOR_FORCE")
              if env.get(name, "") not in ("", "0", "false")]
    if env.get("NO_COLOR"):
        found["color"] = Setting("never", "env:NO_COLOR")
    elif forced:
        found["color"] = Setting("always", f"env:{forced[0]}")
    return found


def describe(settings: Mapping[str, Setting], env: Mapping[str, str],
             extra: Mapping[str, Setting]) -> str:
    """--print-config: one line a setting, `ORIGIN<TAB>key = value`, as
    `git config --show-origin --list` lays it out; unset values are (none)."""
    path = config_path(env)
    state = "XDG_STATE_HOME" if env.get("XDG_STATE_HOME") else None
    rows = [f"# config file: {path}{'' if path.exists() else ' (there is none)'}",
            *(_row(name, setting) for name, setting in {**settings, **extra}.items()),
            _row("history_file", Setting(str(history_path(env)),
                                         f"env:{state}" if state else "default"))]
    return "\n".join(rows) + "\n"


def _row(name: str, setting: Setting) -> str:
    value = "(none)" if setting.value is None else _shown(setting.value)
    return f"{setting.origin}\t{name} = {value}"

"""bench/run: options, the servers' lifetime, the tasks in order, the table."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from . import report, tasks
from .install import DEFAULT_CACHE, InstallFailed, Target, given, prepare
from .measure import rss_available
from .servers import STARTERS, Server, Starter, Unavailable, start_mta
from .tools import TOOLS, Kit

STARTED = time.monotonic()
KEYS = ("V", "T0", "T1", "T2", "T4", "T4p", "T3", "T5")
# Variables that would make the timed interpreters behave unlike a user's.
DROPPED = ("PYTHONUNBUFFERED", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONDEVMODE",
           "PYTHONWARNINGS", "PYTHONTRACEMALLOC", "PYTHONPROFILEIMPORTTIME", "PYTHONASYNCIODEBUG",
           "SMTPSHELL_DEBUG", "SSLKEYLOGFILE", "NO_COLOR", "COLUMNS", "LINES", "VIRTUAL_ENV")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run", description="smtpshell beside smtplib, swaks and openssl s_client: "
        "start-up, sessions, large messages, completion; one Markdown table.")
    p.add_argument("--quick", action="store_true",
                   help="3 runs, T4p as 10 processes, no 200 MB message (under 30 s)")
    p.add_argument("--runs", type=int, help="rounds per task (default 10, --quick 3)")
    p.add_argument("--only", metavar="KEYS",
                   help=f"comma-separated tasks among {','.join(KEYS)} (V: --version, --help)")
    p.add_argument("--markdown", metavar="FILE", help="also write the table, dated, to FILE")
    p.add_argument("--smtpshell", metavar="PATH",
                   help="time this smtpshell instead of the bench venv's wheel install")
    p.add_argument("--python", metavar="PATH",
                   help="with --smtpshell: the interpreter where it is importable")
    p.add_argument("--cache", metavar="DIR", type=Path, default=DEFAULT_CACHE,
                   help="where the private venvs live (default bench/.cache)")
    p.add_argument("--worktree", action="store_true",
                   help="install the work tree as it is, not the committed HEAD")
    p.add_argument("--mta", default="exim", metavar="NAMES",
                   help="the real MTAs from tests/mta, comma-separated (exim, postfix, "
                        "opensmtpd; default exim; none: no real MTA)")
    args = p.parse_args(argv)
    keys = set(KEYS) if args.only is None else set(args.only.split(","))
    if keys - set(KEYS):
        p.error(f"--only: unknown {','.join(sorted(keys - set(KEYS)))}; choose among "
                f"{','.join(KEYS)}")
    if args.runs is not None and args.runs < 1:
        p.error("--runs: at least 1")
    args.keys = keys
    return args


def say(text: str) -> None:
    """Progress, on standard error, with the seconds since bench/run started."""
    print(f"[{time.monotonic() - STARTED:5.1f}] {text}", file=sys.stderr, flush=True)


def target_of(args: argparse.Namespace) -> Target:
    if args.smtpshell is None:
        return prepare(args.cache.resolve(), args.worktree, say)
    path = shutil.which(args.smtpshell) or args.smtpshell
    return given(Path(path).resolve(), Path(args.python) if args.python else None)


def child_env(home: Path) -> dict[str, str]:
    """The environment every timed program gets: the user's, less what changes how
    Python runs, with empty configuration and state folders (no profile, no history)."""
    env = {key: value for key, value in os.environ.items() if key not in DROPPED}
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env[name] = str(home / name.lower())
    return env


def roles_needed(keys: set[str], plan: tasks.Plan, mtas: list[str]) -> list[str]:
    """The servers to start: practice, sink, and one `mta:NAME` role per real MTA."""
    roles = ["practice"] if keys & {"T0", "T1", "T2", "T4", "T4p"} else []
    roles += ["sink"] if keys & {"T2", "T3"} else []
    roles += [f"mta:{name}" for name in mtas] if keys & plan.mta_keys else []
    return roles


def start_servers(roles: list[str], target: Target, work: Path, env: dict[str, str],
                  notes: list[str]) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    for role in roles:
        kind, _, name = role.partition(":")
        starter: Starter = partial(start_mta, name=name) if name else STARTERS[kind]
        try:
            servers[role] = starter(target, work, env)
        except Unavailable as why:
            notes.append(f"{role} server skipped: {why}")
            say(f"bench: {role} server skipped: {why}")
    return servers


def run_tasks(bench: tasks.Bench, keys: set[str]) -> None:
    if "V" in keys:
        tasks.startup(bench)
    if "T0" in keys:
        tasks.prompts(bench)
    session_keys = keys & {"T1", "T2", "T4"}
    tasks.sessions(bench, tasks.session_tasks(bench.plan, bench.kit.work, session_keys))
    if "T4p" in keys:
        tasks.repeated(bench)
    if "T3" in keys:
        tasks.sessions(bench, tasks.session_tasks(bench.plan, bench.kit.work, {"T3"}))
    if "T5" in keys:
        tasks.completion(bench)


def measure_all(args: argparse.Namespace, target: Target) -> tasks.Bench:
    """Start the servers, run the tasks, stop the servers; the rows and notes."""
    plan = (tasks.QUICK if args.quick else tasks.FULL).scaled(args.runs)
    notes = [why for why in (tool.missing() for tool in TOOLS) if why]
    if not rss_available():
        notes.append("peak RSS: /usr/bin/time is not installed (apt-get install time)")
    installed = tuple(tool for tool in TOOLS if not tool.missing())
    with tempfile.TemporaryDirectory(prefix="smtpshell-bench-") as folder:
        work = Path(folder)
        env = child_env(work)
        mtas = [] if args.mta == "none" else args.mta.split(",")
        servers = start_servers(roles_needed(args.keys, plan, mtas), target, work, env, notes)
        bench = tasks.Bench(Kit(target, work), env, plan, servers, installed, say,
                            notes=notes)
        try:
            run_tasks(bench, args.keys)
        finally:
            for server in servers.values():
                server.stop()
    for tool in installed:
        if tool.note and any(row.tool == tool.name and row.seconds for row in bench.rows):
            bench.note(tool.note)
    return bench


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        target = target_of(args)
    except InstallFailed as err:
        say(f"bench: {err}")
        return 2
    measured = time.monotonic()
    bench = measure_all(args, target)
    say(f"bench: measured in {time.monotonic() - measured:.0f} s "
        f"({time.monotonic() - STARTED:.0f} s in all)")
    text = report.markdown(report.machine_line(target), bench.rows, bench.notes)
    print(text)
    if args.markdown:
        command = " ".join(["bench/run", *(argv if argv is not None else sys.argv[1:])])
        Path(args.markdown).write_text(f"# Benchmarks\n\n`{command}`\n\n{text}")
    return 0

"""What is timed: smtpshell installed from a wheel, as a user has it, with bytecode.

`prepare` keeps two virtualenvs under a cache folder (bench/.cache by default):
`venv`, where smtpshell is installed from a wheel as `pip install` would (and pip
compiles the bytecode, so a start reads .pyc files even where
PYTHONDONTWRITEBYTECODE is set), and `build`, which holds the build requirements
so a new wheel takes a second or two, not a fresh isolated build. The wheel is
built by default from the committed HEAD (`git archive`: no half-written file of
someone working in the same tree, no stale build/), with --worktree from the files
as they are. Nothing is rebuilt while what goes into the wheel (smtpshell/ and
pyproject.toml: for HEAD their git trees, for the work tree a hash of the files)
and the Python are the same; dependencies are installed again only when
pyproject.toml's change. `given` times an smtpshell installed elsewhere instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
DEFAULT_CACHE = BENCH / ".cache"
# what the wheel is built from
PACKAGED = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "man", "smtpshell")
STAMPED = ("pyproject.toml", "smtpshell")  # what changes what is timed
STAMP = "bench-stamp.json"


class InstallFailed(Exception):
    pass


@dataclass(frozen=True)
class Target:
    """The smtpshell to time and the interpreter that runs it (and the smtplib peer)."""

    smtpshell: Path
    python: Path
    origin: str  # for the report: where this smtpshell came from


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as err:
        raise InstallFailed(f"git {args[0]} in {REPO} failed ({err}); "
                            "or time an installed smtpshell with --smtpshell PATH") from None


def head() -> str:
    try:
        return git("rev-parse", "--short", "HEAD")
    except InstallFailed:
        return "?"


def _source_stamp(worktree: bool) -> str:
    if not worktree:
        return "HEAD trees " + git("rev-parse", *(f"HEAD:{path}" for path in STAMPED))
    digest = hashlib.sha256()
    for name in sorted(_worktree_files(STAMPED)):
        digest.update(name.encode() + b"\0" + (REPO / name).read_bytes() + b"\0")
    return "work tree " + digest.hexdigest()


def _worktree_files(paths: tuple[str, ...]) -> list[str]:
    listed = git("ls-files", "-co", "--exclude-standard", "--", *paths).splitlines()
    return [name for name in listed if (REPO / name).is_file()]


def _export(destination: Path, worktree: bool) -> None:
    """The packaged paths, from HEAD or as they are, into `destination`."""
    if worktree:
        for name in _worktree_files(PACKAGED):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
        return
    archive = destination.parent / "head.tar"
    git("archive", "--format=tar", "-o", str(archive), "HEAD", *PACKAGED)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise InstallFailed(f"{' '.join(argv[:5])}… failed:\n{result.stderr[-2000:]}")


def _read_stamp(folder: Path) -> dict[str, Any]:
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def _base_python() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def _pip(venv: Path) -> list[str]:
    return [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]


def _fresh_venv(venv: Path, python: str, say: Callable[[str], None]) -> None:
    say(f"bench: creating {venv} with {python}")
    shutil.rmtree(venv, ignore_errors=True)
    _run([python, "-m", "venv", str(venv)])


def _builder(cache: Path, python: str, requires: list[str], say: Callable[[str], None]
             ) -> Path:
    """The build venv, with the build requirements of pyproject.toml."""
    build = cache / "build"
    want = {"python": python, "requires": requires}
    if _read_stamp(build) != want:
        _fresh_venv(build, python, say)
        _run([*_pip(build), "install", *requires, "wheel"])
        (build / STAMP).write_text(json.dumps(want))
    return build


def _install(venv: Path, build: Path, source: Path, dependencies: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="smtpshell-bench-") as folder:
        _run([*_pip(build), "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir",
              folder, str(source)])
        wheel = str(next(Path(folder).glob("smtpshell-*.whl")))
        _run([*_pip(venv), "install", "--force-reinstall", "--no-deps", wheel])
        if dependencies:
            _run([*_pip(venv), "install", wheel])


def prepare(cache: Path, worktree: bool, say: Callable[[str], None]) -> Target:
    """The cached venv's smtpshell, built again if what it was built from changed."""
    venv = cache / "venv"
    python, smtpshell = venv / "bin" / "python", venv / "bin" / "smtpshell"
    origin = f"wheel of {'the work tree' if worktree else 'HEAD'} {head()}"
    base, source_stamp = _base_python(), _source_stamp(worktree)
    had = _read_stamp(venv)
    if smtpshell.exists() and had.get("source") == source_stamp and had.get("python") == base:
        return Target(smtpshell, python, origin)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smtpshell-bench-src-") as folder:
        source = Path(folder) / "src"
        source.mkdir()
        _export(source, worktree)
        project = tomllib.loads((source / "pyproject.toml").read_text())
        dependencies = project.get("project", {}).get("dependencies", [])
        requires = project.get("build-system", {}).get("requires", ["setuptools"])
        if had.get("python") != base or not python.exists():
            _fresh_venv(venv, base, say)
            had = {}
        say(f"bench: installing smtpshell ({origin}) into {venv}")
        build = _builder(cache, base, requires, say)
        _install(venv, build, source, dependencies != had.get("dependencies"))
    stamp = {"source": source_stamp, "python": base, "dependencies": dependencies}
    (venv / STAMP).write_text(json.dumps(stamp))
    say(f"bench: installed in {time.monotonic() - started:.1f} s")
    return Target(smtpshell, python, origin)


def given(smtpshell: Path, python: Path | None) -> Target:
    """--smtpshell PATH: its interpreter is the one its first line names, or --python."""
    if python is None:
        with smtpshell.open("rb") as handle:
            first = handle.readline()
        if not first.startswith(b"#!") or b" " in first.strip():
            raise InstallFailed(f"{smtpshell}: its first line names no interpreter; give "
                                "--python PATH (one where smtpshell is importable)")
        python = Path(first[2:].strip().decode())
    return Target(smtpshell, python, f"given: {smtpshell}")

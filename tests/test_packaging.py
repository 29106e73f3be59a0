"""The distributions, built as a release would be: `python -m build` makes the sdist,
then the wheel from the unpacked sdist (so the sdist is proved to be enough). The wheel
holds the package with its data, the man page, the license and the entry points, and
no tests.

Built without isolation, with the backend of the test extra: nothing is downloaded.
Built from a copy of the tree: setuptools writes an egg-info folder beside the sources,
and two runs of the suite at once (.ci/run's nox sessions) must not share one.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import NamedTuple

import pytest

from smtpshell import __version__

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCES = shutil.ignore_patterns(
    ".*", "__pycache__", "build", "dist", "*.egg-info",
    "bench")  # in no distribution; a working copy keeps its downloads there
DIST = f"smtpshell-{__version__}"


class Built(NamedTuple):
    package: set[str]  # smtpshell/… in the tree: what both distributions must hold
    sdist: set[str]  # names in the sdist, without its top folder
    wheel: zipfile.ZipFile


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    work = tmp_path_factory.mktemp("packaging")
    shutil.copytree(ROOT, work / "src", ignore=NOT_SOURCES)
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"),
         str(work / "src")], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    package = {path.relative_to(work / "src").as_posix()
               for path in (work / "src" / "smtpshell").rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    with tarfile.open(work / "dist" / f"{DIST}.tar.gz") as sdist:
        names = {name.partition("/")[2] for name in sdist.getnames()}
    with zipfile.ZipFile(work / "dist" / f"{DIST}-py3-none-any.whl") as wheel:
        yield Built(package, names, wheel)


def metadata(built: Built) -> Message:
    return HeaderParser().parsestr(built.wheel.read(f"{DIST}.dist-info/METADATA").decode())


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def test_the_wheel_holds_every_file_of_the_package(built: Built) -> None:
    # every module and every data file: a new data file nobody added to package-data fails
    assert {"smtpshell/cli.py", "smtpshell/course/01-greeting.toml"} <= built.package
    missing = sorted(built.package - set(built.wheel.namelist()))
    assert not missing, f"not in the wheel (pyproject.toml: package-data): {missing}"


def test_the_wheel_installs_the_man_page(built: Built) -> None:
    page = built.wheel.read(f"{DIST}.data/data/share/man/man1/smtpshell.1")
    assert page == (ROOT / "man" / "smtpshell.1").read_bytes()


def test_the_wheel_holds_the_license_and_nothing_but_the_package(built: Built) -> None:
    names = built.wheel.namelist()
    assert f"{DIST}.dist-info/licenses/LICENSE" in names
    assert {name.split("/")[0] for name in names} == {
        "smtpshell", f"{DIST}.dist-info", f"{DIST}.data"}  # so no tests/, bench/, man/


def test_the_wheel_declares_the_entry_points_of_pyproject(built: Built) -> None:
    found = configparser.ConfigParser(delimiters=("=",))
    found.optionxform = str  # type: ignore[assignment,method-assign]  # names keep their case
    found.read_string(built.wheel.read(f"{DIST}.dist-info/entry_points.txt").decode())
    project = pyproject()["project"]
    assert isinstance(project, dict)
    wanted = {"console_scripts": project["scripts"], **project["entry-points"]}
    assert {group: dict(found[group]) for group in found.sections()} == wanted
    assert found["console_scripts"]["smtpshell"] == "smtpshell.cli:main"
    assert len(found["pygments.lexers"]) == 4


def test_the_wheel_needs_at_run_time_only_the_dependencies(built: Built) -> None:
    meta = metadata(built)
    runtime = [req for req in meta.get_all("Requires-Dist") or [] if "extra ==" not in req]
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert runtime == project["dependencies"]
    assert not [req for req in runtime if req.startswith(("argparse-manpage", "build"))]
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    classifiers = meta.get_all("Classifier") or []
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in (11, 12, 13)} | {
        "Environment :: Console", "Topic :: Communications :: Email"} <= set(classifiers)


def test_the_sdist_holds_what_it_takes_to_build_again(built: Built) -> None:
    assert built.package <= built.sdist
    assert {"pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "man/smtpshell.1",
            "man/sections.roff", "scripts/make-manpage", "examples/config.toml"} <= built.sdist
    assert not [name for name in built.sdist if name.startswith(("tests/", "bench/"))]

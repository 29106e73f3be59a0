"""The man page: made by scripts/make-manpage from the --help parser, committed as
man/smtpshell.1, and read by man's formatters without a warning."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from smtpshell.cli import EXAMPLES, build_parser
from smtpshell.helpers import builtin_helpers

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "man" / "smtpshell.1"


def generator() -> ModuleType:
    """scripts/make-manpage, imported (it has no .py suffix: it is a command)."""
    loader = importlib.machinery.SourceFileLoader(
        "make_manpage", str(ROOT / "scripts" / "make-manpage"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def roff(text: str) -> str:
    return text.replace("-", "\\-")


def test_the_committed_page_is_what_the_generator_makes_now() -> None:
    assert generator().render() == PAGE.read_text("utf-8"), (
        "man/smtpshell.1 is out of date: run scripts/make-manpage")


def test_the_page_has_no_build_date(monkeypatch: pytest.MonkeyPatch) -> None:
    # argparse-manpage dates a page by SOURCE_DATE_EPOCH, else today: neither may count
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert generator().render() == PAGE.read_text("utf-8")


def test_every_long_option_of_the_parser_is_in_the_page() -> None:
    page = PAGE.read_text("utf-8")
    options = [option for action in build_parser()._actions
               for option in action.option_strings if option.startswith("--")]
    assert "--starttls" in options  # the parser is the real one
    missing = [option for option in options if f"\\fB{roff(option)}\\fR" not in page]
    assert not missing


def test_every_helper_and_example_is_in_the_page() -> None:
    page = PAGE.read_text("utf-8")
    missing = [name for name in builtin_helpers() if f"\\fB:{roff(name)}" not in page]
    missing += [name for name in ("inbox", "tutorial") if f"\\fB:{name}" not in page]
    unhyphenated = page.replace("\\%", "")  # the examples' words may not be hyphenated
    missing += [line.split("  ")[1] for line in EXAMPLES.splitlines()
                if line.startswith("  smtpshell") and roff(line.split("  ")[1]) not in unhyphenated]
    assert not missing


def test_the_json_events_come_only_with_their_schema(tmp_path: Path) -> None:
    without = generator().render(schema=tmp_path / "none.json")
    assert ".SH JSON EVENTS" not in without and ".SH EXIT STATUS" in without
    schema = tmp_path / "events.schema.json"
    schema.write_text('{"description": "One `event` a line.", "$defs": {'
                      '"when": {"type": "string"},'
                      '"hello": {"description": "The server said hello.", "properties": {'
                      '"event": {"const": "hello"}, "time": {"$ref": "#/$defs/when"},'
                      '"code": {"type": "integer", "description": "the code"},'
                      '"text": {"type": ["string", "null"]}}, "required": ["event", "code"]},'
                      '"bye": {"properties": {"event": {"const": "bye"},'
                      '"time": {"$ref": "#/$defs/when"}}}}}')
    page = generator().render(schema=schema)
    section = page.split(".SH JSON EVENTS\n", 1)[1].split("\n.SH ", 1)[0]
    flat = " ".join(section.split())  # the prose is wrapped where it falls
    assert "One \\fBevent\\fR a line." in flat
    assert "besides \\fBevent\\fR and \\fBtime\\fR." in flat  # what every kind has
    assert ".SS hello The server said hello. .TP" in flat
    assert "\\fBcode\\fR (\\fIinteger\\fR) the code" in flat
    assert "\\fBtext\\fR (\\fIstring or null\\fR, optional)" in flat
    assert ".SS bye" in section and ".SS when" not in section


FORMATTERS = {
    "mandoc": ["mandoc", "-T", "lint", "-W", "warning"],
    "groff": ["groff", "-man", "-Tutf8", "-ww", "-z"],
}


@pytest.mark.parametrize("name", FORMATTERS)
def test_the_page_formats_without_a_warning(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (apt-get install mandoc groff-base)")
    result = subprocess.run([*FORMATTERS[name], str(PAGE)], capture_output=True, text=True,
                            timeout=30)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_man_shows_every_section() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (apt-get install groff-base)")
    result = subprocess.run(["groff", "-man", "-Tascii", "-P-c", "-P-b", "-P-u", str(PAGE)],
                            capture_output=True, text=True, timeout=30, check=True)
    shown = [line for line in result.stdout.splitlines() if line[:1].isalpha()]
    assert shown[1:-1] == [
        "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "HELPERS", "SAFE MODE", "SCRIPTS",
        *(["JSON EVENTS"] if (ROOT / "smtpshell" / "events.schema.json").exists() else []),
        "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO", "BUGS"]

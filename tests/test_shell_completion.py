"""`smtpshell --print-completion bash|zsh`: each script run by the shell it is for.

bash: the completion function registered for smtpshell is driven with COMP_WORDS and
COMP_CWORD, as bash does at a Tab, and COMPREPLY is what it offers. zsh completes
only inside its line editor, so a real interactive zsh in a pseudo-terminal gets the
script installed as `_smtpshell` in its fpath and a Tab, and shows the line after it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

# Profiles the way people write them: bare, quoted with a space, literal, spaced out,
# a comment after the header; beside a top-level setting and a table that is none.
CONFIG = """\
explain = true

[profile.work]
host = "mail.example.com"   # HOST
port = 587

  [ profile . "my box" ]  # the one at home
host = 'box.example.org'

[profile.'lit']

[profile."a\\"b"]

[profile.dev-1_b]
"host" = "dev.example.net"

[other]
host = "not-a-profile.example"
"""
PROFILES = ["work", "my box", "lit", 'a"b', "dev-1_b"]
ESCAPED = ["work", r"my\ box", "lit", r'a\"b', "dev-1_b"]  # as bash offers them
HOSTS = ["mail.example.com", "box.example.org", "dev.example.net"]

# bash-completion's main file where distributions put it (Debian, Fedora, Homebrew)
BASH_COMPLETION = next(
    (path for path in ("/usr/share/bash-completion/bash_completion",
                       "/opt/homebrew/share/bash-completion/bash_completion",
                       "/usr/local/share/bash-completion/bash_completion")
     if Path(path).is_file()), None)

# Sources the script (after what $1 sets up), then completes the words after the script's
# path as bash does at a Tab on the last one; prints COMPREPLY, one a line.
DRIVER = r"""
eval "$1"; source "$2"; shift 2
spec=$(complete -p smtpshell) || exit 1
function=${spec##*-F }; function=${function%% *}
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$function" smtpshell "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
(( ${#COMPREPLY[@]} )) && printf '%s\n' "${COMPREPLY[@]}"
exit 0
"""


def environment(config: Path, **more: str) -> dict[str, str]:
    """This machine's environment without a shell start-up file; XDG_CONFIG_HOME is `config`."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("BASH_ENV", "ENV", "BASH_COMPLETION_USER_DIR")}
    return {**env, "XDG_CONFIG_HOME": str(config), **more}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two scripts, printed by the command line as a user gets them."""
    folder = tmp_path_factory.mktemp("scripts")
    made = {}
    for shell in ("bash", "zsh"):
        result = subprocess.run([sys.executable, "-m", "smtpshell", "--print-completion", shell],
                                capture_output=True, text=True, timeout=30,
                                env=environment(folder / "config"))
        assert (result.returncode, result.stderr) == (0, "")
        made[shell] = folder / f"smtpshell.{shell}"
        made[shell].write_text(result.stdout)
    return made


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An XDG_CONFIG_HOME whose config.toml holds CONFIG."""
    (tmp_path / "config" / "smtpshell").mkdir(parents=True)
    (tmp_path / "config" / "smtpshell" / "config.toml").write_text(CONFIG)
    return tmp_path / "config"


@pytest.fixture(params=["plain bash", "bash-completion loaded"])
def before(request: pytest.FixtureRequest) -> str:
    """What runs before the script: nothing, or bash-completion (its _filedir and friends)."""
    if request.param == "plain bash":
        return ""
    if BASH_COMPLETION is None:
        pytest.skip("bash-completion is not installed")
    return f"source {BASH_COMPLETION}"


def complete(scripts: dict[str, Path], before: str, config: Path, *words: str,
             cwd: Path | None = None, env: dict[str, str] | None = None) -> list[str]:
    """COMPREPLY for the command line `words` (the last one being completed); bash must say
    nothing on stderr."""
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", DRIVER, "bash", before, str(scripts["bash"]),
         "smtpshell", *words],
        capture_output=True, text=True, timeout=30, cwd=cwd, env=environment(config, **env or {}))
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout.splitlines()


def test_an_option_prefix_completes(scripts: dict[str, Path], before: str, config: Path) -> None:
    assert complete(scripts, before, config, "--star") == ["--starttls"]
    assert complete(scripts, before, config, "mail.example.com", "--tls-m") == [
        "--tls-min", "--tls-max"]


@pytest.mark.parametrize(("option", "choices"), [("--tls-min", ["1.2", "1.3"]),
                                                 ("--format", ["mermaid", "html"]),
                                                 ("--print-completion", ["bash", "zsh"])])
def test_choices_complete(scripts: dict[str, Path], before: str, config: Path, option: str,
                          choices: list[str]) -> None:
    assert complete(scripts, before, config, option, "") == choices


def test_profiles_come_from_the_config_file(scripts: dict[str, Path], before: str,
                                            config: Path) -> None:
    assert list(tomllib.loads(CONFIG)["profile"]) == PROFILES  # as smtpshell reads them
    assert complete(scripts, before, config, "--profile", "") == ESCAPED
    assert complete(scripts, before, config, "--demo", "--profile", "my") == [r"my\ box"]
    # inside a quote the name goes as it is: readline closes the quote
    assert complete(scripts, before, config, "--profile", '"my') == ["my box"]
    assert complete(scripts, before, config, "--profile", r"my\ b") == [r"my\ box"]


def test_no_config_file_is_no_profile_and_no_message(scripts: dict[str, Path], before: str,
                                                      tmp_path: Path) -> None:
    assert complete(scripts, before, tmp_path / "none", "--profile", "") == []
    assert complete(scripts, before, tmp_path / "none", "") == []


def test_host_completes_the_hosts_of_the_profiles(scripts: dict[str, Path], before: str,
                                                  config: Path) -> None:
    assert complete(scripts, before, config, "") == HOSTS
    assert complete(scripts, before, config, "--starttls", "d") == ["dev.example.net"]
    assert complete(scripts, before, config, "mail.example.com", "") == []


def test_a_path_option_completes_files(scripts: dict[str, Path], before: str, config: Path,
                                       tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    (folder / "my certs").mkdir(parents=True)
    for name in ("ca.pem", "cert.pem", "my certs/client.pem"):
        (folder / name).touch()
    assert sorted(complete(scripts, before, config, "--cafile", "", cwd=folder)) == [
        "ca.pem", "cert.pem", "my certs"]
    assert complete(scripts, before, config, "--key", "ce", cwd=folder) == ["cert.pem"]
    # the folder's name as typed, escaped or quoted: readline quotes what it inserts
    for typed in (r"my\ certs/", '"my certs/c', "'my certs/"):
        assert complete(scripts, before, config, "--cert", typed, cwd=folder) == [
            "my certs/client.pem"]


def test_secret_env_completes_exported_names(scripts: dict[str, Path], before: str,
                                             config: Path) -> None:
    env = {"SMTPSHELL_TEST_SECRET": "x"}
    assert complete(scripts, before, config, "--secret-env", "SMTPSHELL_TEST_SEC",
                    env=env) == ["SMTPSHELL_TEST_SECRET"]


def test_a_free_text_argument_completes_nothing(scripts: dict[str, Path], before: str,
                                                config: Path) -> None:
    assert complete(scripts, before, config, "--ehlo", "") == []
    assert complete(scripts, before, config, "--mx", "ex") == []


@pytest.mark.parametrize("awk", ["mawk", "gawk --posix", "original-awk", "busybox awk"])
def test_every_awk_reads_the_profiles(scripts: dict[str, Path], config: Path, awk: str) -> None:
    """The profiles are read by whatever awk the system has: POSIX awk only."""
    if shutil.which(awk.split()[0]) is None:
        pytest.skip(f"{awk.split()[0]} is not installed")
    before = f'awk() {{ {awk} "$@"; }}'
    assert complete(scripts, before, config, "--profile", "") == ESCAPED
    assert complete(scripts, before, config, "") == HOSTS


@pytest.mark.skipif(BASH_COMPLETION is None, reason="bash-completion is not installed")
def test_bash_completion_loads_the_installed_file(scripts: dict[str, Path], config: Path,
                                                   tmp_path: Path) -> None:
    """Installed as ~/.local/share/bash-completion/completions/smtpshell, bash-completion
    finds it at the first Tab on smtpshell."""
    folder = tmp_path / "share" / "bash-completion" / "completions"
    folder.mkdir(parents=True)
    shutil.copy(scripts["bash"], folder / "smtpshell")
    load = (f"source {BASH_COMPLETION}; "
            "_comp_load smtpshell 2>/dev/null || __load_completion smtpshell")
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                             f"{load}; complete -p smtpshell"],
                            capture_output=True, text=True, timeout=30,
                            env=environment(config, XDG_DATA_HOME=str(tmp_path / "share")))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("complete ") and result.stdout.endswith(" smtpshell\n")


needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")


@needs_zsh
def test_zsh_parses_the_script(scripts: dict[str, Path]) -> None:
    result = subprocess.run(["zsh", "-n", str(scripts["zsh"])], capture_output=True, text=True,
                            timeout=30)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.fixture
def zsh(scripts: dict[str, Path], config: Path, tmp_path: Path) -> Iterator[pexpect.spawn]:
    """An interactive zsh with the script installed as _smtpshell in its fpath, compinit
    run, and Ctrl-G printing the line as <LINE>."""
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    (tmp_path / "functions").mkdir()
    shutil.copy(scripts["zsh"], tmp_path / "functions" / "_smtpshell")
    (tmp_path / "ca.pem").touch()
    env = environment(config, HOME=str(tmp_path), ZDOTDIR=str(tmp_path), TERM="dumb")
    child = pexpect.spawn("zsh", ["-f", "-i"], env=env, cwd=tmp_path, encoding="utf-8",
                          timeout=15, dimensions=(24, 200))
    child.sendline(f"PS1='% '; fpath=({tmp_path / 'functions'} $fpath); autoload -Uz compinit; "
                   "compinit -u -D; show() { print -r -- \"<$BUFFER>\" }; zle -N show; "
                   "bindkey '^G' show; print RE''ADY")
    child.expect_exact("READY\r\n")
    yield child
    child.close(force=True)


def zsh_complete(child: pexpect.spawn, line: str) -> tuple[str, str]:
    """The line after a Tab at its end, and what zsh showed in between."""
    child.send(line + "\t\x07")
    child.expect(r"<(.*)>\r\n")
    after, shown = child.match.group(1), child.before
    child.sendcontrol("u")
    return after, shown


@needs_zsh
@pytest.mark.parametrize(("line", "completed"), [
    ("smtpshell --star", "smtpshell --starttls "),
    ("smtpshell --format h", "smtpshell --format html "),
    ("smtpshell --print-completion z", "smtpshell --print-completion zsh "),
    ("smtpshell --profile my", r"smtpshell --profile my\ box "),
    ("smtpshell --profile w", "smtpshell --profile work "),
    ("smtpshell --starttls ma", "smtpshell --starttls mail.example.com "),
    ("smtpshell --cafile ca", "smtpshell --cafile ca.pem "),
    ("smtpshell --secret-env ZDOTD", "smtpshell --secret-env ZDOTDIR "),
])
def test_zsh_completes(zsh: pexpect.spawn, line: str, completed: str) -> None:
    assert zsh_complete(zsh, line)[0] == completed


@needs_zsh
def test_zsh_without_a_config_file_offers_no_profile(zsh: pexpect.spawn, tmp_path: Path) -> None:
    (tmp_path / "config" / "smtpshell" / "config.toml").unlink()
    after, shown = zsh_complete(zsh, "smtpshell --profile ")
    assert after == "smtpshell --profile "
    assert "awk" not in shown and "config.toml" not in shown

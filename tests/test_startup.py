"""Start-up cost, as what is imported (not timed): `--version` and `--help` load nothing
but the command line; a script loads none of the heavy libraries its lines do not need."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from support import LOOPBACK, STEP, practice, run

HEAVY = ("prompt_toolkit", "cryptography", "aiosmtpd", "pygments", "dns", "email", "tomllib",
         "smtpshell.lessons", "smtpshell.sessionview", "smtpshell.codes")
PROBE = f"""
import sys
from smtpshell.cli import main
code = main(sys.argv[1:])
loaded = set(sys.modules)
print('HEAVY', sorted(h for h in {HEAVY!r} if h in loaded or any(m.startswith(h + '.')
                                                              for m in loaded)))
sys.exit(code)
"""
BARE = """
import sys
from smtpshell.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
ours = sorted(m for m in sys.modules if m.startswith('smtpshell'))
print('OURS', ours, 'ASYNCIO', 'asyncio' in sys.modules, 'SSL', 'ssl' in sys.modules)
"""


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_nothing_but_the_command_line(flag: str) -> None:
    out = subprocess.run([sys.executable, "-c", BARE, flag], capture_output=True, text=True,
                         timeout=STEP).stdout
    assert "OURS ['smtpshell', 'smtpshell.cli', 'smtpshell.errors'] ASYNCIO False SSL False" \
        in out, out


def test_script_mode_stays_light(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with practice() as server:
            ca = tmp_path / "ca.pem"
            ca.write_text(server.ca_pem)
            for extra in ([], ["--starttls", "--cafile", str(ca)]):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", PROBE, f"{LOOPBACK}:{server.port}", *extra,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
                async with asyncio.timeout(STEP):
                    out, _ = await proc.communicate(b"EHLO light.example\nNOOP\nRSET\n")
                assert proc.returncode == 0
                assert "HEAVY []" in out.decode(), out.decode()

    run(scenario())


def test_what_a_line_needs_is_loaded_when_it_comes(tmp_path: Path) -> None:
    """:send needs the email package; :explain the codes; :cert cryptography."""
    async def scenario() -> None:
        async with practice() as server:
            script = (b"EHLO light.example\n:explain 550 5.1.1\n"
                      b":send --from a@example.com --to b@example.com\n")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PROBE, f"{LOOPBACK}:{server.port}",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            async with asyncio.timeout(STEP):
                out, _ = await proc.communicate(script)
            assert proc.returncode == 0
            assert "HEAVY ['email', 'smtpshell.codes']" in out.decode(), out.decode()

    run(scenario())

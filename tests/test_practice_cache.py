"""--demo's practice CA is made once and kept private in the state directory, made again
when it nears expiry or is no longer private; a cached start needs no cryptography."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from pathlib import Path

from support import STEP

from smtpshell.tls import cached_practice_certs


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_made_once_private_and_then_reused(tmp_path: Path) -> None:
    folder = tmp_path / "practice"
    first = cached_practice_certs(str(folder))
    assert mode(folder) == 0o700
    assert {p.name: mode(p) for p in folder.iterdir()} == {
        "server.pem": 0o600, "ca.pem": 0o600, "expires": 0o600}
    again = cached_practice_certs(str(folder))
    assert again.ca_pem == first.ca_pem and again.cert_pem == first.cert_pem
    assert again.key_pem == first.key_pem and again.chain_file == str(folder / "server.pem")
    assert isinstance(again.server_context(), ssl.SSLContext)  # the cached pair loads


def test_made_again_when_near_expiry(tmp_path: Path) -> None:
    folder = tmp_path / "practice"
    first = cached_practice_certs(str(folder))
    (folder / "expires").write_text("1000")  # long past
    assert cached_practice_certs(str(folder)).ca_pem != first.ca_pem


def test_made_again_when_no_longer_private_and_never_through_a_link(tmp_path: Path) -> None:
    folder = tmp_path / "practice"
    first = cached_practice_certs(str(folder))
    (folder / "server.pem").chmod(0o644)
    second = cached_practice_certs(str(folder))
    assert second.ca_pem != first.ca_pem and mode(folder / "server.pem") == 0o600
    elsewhere = tmp_path / "elsewhere.pem"
    elsewhere.write_text("not touched")
    (folder / "server.pem").unlink()
    (folder / "server.pem").symlink_to(elsewhere)
    third = cached_practice_certs(str(folder))
    assert third.ca_pem != second.ca_pem and elsewhere.read_text() == "not touched"
    assert not (folder / "server.pem").is_symlink()


def test_a_cached_demo_start_needs_no_cryptography(tmp_path: Path) -> None:
    probe = ("import sys\nfrom smtpshell.cli import main\ncode = main(sys.argv[1:])\n"
             "print('CRYPTOGRAPHY', 'cryptography' in sys.modules)\nsys.exit(code)\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "NO_COLOR": "1"}
    outs = [subprocess.run([sys.executable, "-c", probe, "--demo"], input="NOOP\n",
                           capture_output=True, text=True, env=env, timeout=STEP).stdout
            for _ in range(2)]
    assert "CRYPTOGRAPHY True" in outs[0]  # made the first time
    assert "CRYPTOGRAPHY False" in outs[1] and "250" in outs[1], outs[1]

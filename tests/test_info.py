"""What the session knows, shown: :caps, :tls, :cert (on certificates made here), :status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from support import RecordingUI, engine_for, lines, practice, run

from smtpshell.config import TlsOptions
from smtpshell.errors import UsageError
from smtpshell.tls import make_practice_certs, summarize


def test_caps_explains_each_extension() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            with pytest.raises(UsageError, match="no capabilities yet"):
                await lines(engine, ":caps")
            await lines(engine, "EHLO info.example", ":starttls", ":caps")
            caps = ui.text.split(" offers ")[-1]
            assert "SIZE 33554432" in caps and "33.6 MB" in caps and "[RFC 1870]" in caps
            assert "AUTH CRAM-MD5 LOGIN PLAIN XOAUTH2" in caps
            assert "PIPELINING" in caps and "RFC 2920" in caps
            assert "HELP" in caps and "STARTTLS" not in caps  # forgotten after TLS

    run(scenario())


@pytest.mark.parametrize(("kind", "made", "shows"), [
    ("valid", {}, ["CN=localhost", "issuer:    CN=smtpshell practice CA",
                   "DNS:localhost, IP:127.0.0.1, IP:::1", "days left", "EC secp256r1 (256 bits)",
                   "ecdsa-with-SHA256", "verification: passed"]),
    ("expired", {"expired": True}, ["EXPIRED", "a check would fail: the certificate has expired"]),
    ("wrong host", {"names": ("mail.other.example",)},
     ["DNS:mail.other.example", "a check would fail: it was issued for other names than "
                                "127.0.0.1"]),
    ("self-signed", {"self_signed": True},
     ["(self-signed)", "a check would fail: the certificate is self-signed"]),
])
def test_cert_shows_the_fields_and_the_reason(kind: str, made: dict[str, Any],
                                              shows: list[str]) -> None:
    certs = make_practice_certs(**made)

    async def scenario() -> None:
        async with practice(certs=certs) as server:
            insecure = kind != "valid"
            engine, ui = await engine_for(server, tls=TlsOptions(cadata=certs.ca_pem,
                                                                 insecure=insecure))
            await lines(engine, "EHLO cert.example", ":starttls", ":cert", ":tls")
            for text in shows:
                assert text in ui.text, text
            summary = summarize(engine.state.tls.peer_der)  # type: ignore[union-attr, arg-type]
            assert summary.sha256 in ui.text and len(summary.sha256) == 95

    run(scenario())


def test_cert_pem_and_save(tmp_path: Path) -> None:
    saved = tmp_path / "server.pem"

    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server)
            with pytest.raises(UsageError, match="not TLS"):
                await lines(engine, ":cert")
            await lines(engine, "EHLO cert.example", ":starttls", ":cert pem",
                        f":cert save {saved}")
            assert "-----BEGIN CERTIFICATE-----" in ui.text
            assert saved.read_text() == server.certs.cert_pem
            with pytest.raises(UsageError, match="pem or save FILE"):
                await lines(engine, ":cert json")

    run(scenario())


def test_days_left() -> None:
    summary = summarize(_der(make_practice_certs(days=10)))
    assert summary.days_left() in (9, 10)
    now = summary.not_after + dt.timedelta(days=3)
    assert summary.days_left(now) == -3


def _der(certs: Any) -> bytes:
    import ssl

    return ssl.PEM_cert_to_DER_cert(certs.cert_pem)


def test_tls_and_status_before_and_after() -> None:
    async def scenario() -> None:
        async with practice() as server:
            engine, ui = await engine_for(server, RecordingUI())
            await lines(engine, ":tls", ":status")
            assert "no TLS on this connection" in ui.text and "TLS:        none" in ui.text
            await lines(engine, "EHLO s.example", ":starttls", ":authplain demo demo",
                        ":mail a@example.com", ":rcpt b@example.com", ":tls", ":status")
            assert "TLSv1.3, cipher TLS_AES_256_GCM_SHA384 (256 bits)" in ui.text
            assert "SNI: none (connected by address" in ui.text
            assert "certificate check: passed" in ui.text
            assert "user:       demo" in ui.text and "phase:      rcpt, 1 recipient(s)" in ui.text

    run(scenario())

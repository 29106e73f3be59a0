"""TLS: the client context, what a handshake tells us, and why one failed.

Owns: `client_context(TlsOptions)`, `describe(ssl_object) -> TlsInfo`, turning
ssl errors into one sentence, and the practice server's CA and certificate.
`cryptography` is imported only inside the functions that need it, so a
session that shows no certificate never pays for it.
Must not: open sockets or print.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import TlsOptions
from .errors import TlsFailed
from .session import TlsInfo

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "PracticeCerts",
    "client_context",
    "describe",
    "handshake_failure",
    "make_practice_certs",
]

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

# OpenSSL X509_V_ERR_* codes (openssl verify(1)) in the user's words.
_VERIFY_REASONS = {
    7: "its signature does not match the trusted CA of that name",
    9: "the certificate is not valid yet",
    10: "the certificate has expired",
    18: "the certificate is self-signed",
    19: "the chain ends in a self-signed certificate that is not trusted",
    20: "it is signed by an unknown certificate authority",
    21: "it is signed by an unknown certificate authority (the chain may be incomplete)",
    62: "it was issued for another host name",
    64: "it was issued for another IP address",
}


def client_context(opts: TlsOptions) -> ssl.SSLContext:
    """A verifying client context (system store, --cafile or the practice CA)."""
    try:
        ctx = ssl.create_default_context(cafile=opts.cafile, cadata=opts.cadata)
        if opts.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if opts.tls_min:
            ctx.minimum_version = _VERSIONS[opts.tls_min]
        if opts.tls_max:
            ctx.maximum_version = _VERSIONS[opts.tls_max]
        if opts.ciphers:
            ctx.set_ciphers(opts.ciphers)
        if opts.cert:
            ctx.load_cert_chain(opts.cert, opts.key)
        if opts.keylog:
            ctx.keylog_filename = opts.keylog
    except (OSError, ssl.SSLError, ValueError) as err:
        raise TlsFailed(f"cannot set up TLS: {_plain(err)}",
                        "check --cafile, --cert, --key and --ciphers") from None
    return ctx


def describe(ssl_object: ssl.SSLObject | ssl.SSLSocket, sni: str | None,
             insecure: bool) -> TlsInfo:
    """What the transport says about the TLS layer just negotiated."""
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    chain = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+: what was sent
    return TlsInfo(
        version=ssl_object.version() or "TLS",
        cipher=cipher[0] if cipher else "?",
        bits=cipher[2] if cipher else None,
        sni=sni,
        verified=not insecure,
        verify_error="not checked (--insecure)" if insecure else None,
        peer_der=der,
        peer_dict=dict(ssl_object.getpeercert() or {}),
        chain_der=tuple(chain() or ()) if chain else (),
    )


def handshake_failure(err: Exception, host: str) -> TlsFailed:
    """One sentence for a failed handshake, naming the certificate problem."""
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = _VERIFY_REASONS.get(err.verify_code, err.verify_message or "unknown reason")
        return TlsFailed(f"the certificate of {host} failed verification: {reason}",
                         "check the host name, or --cafile FILE to trust its CA; "
                         "--insecure connects anyway")
    if isinstance(err, ssl.SSLError) and err.reason in ("WRONG_VERSION_NUMBER",
                                                         "RECORD_LAYER_FAILURE"):
        return TlsFailed(f"the TLS handshake with {host} failed: the server answered with "
                         "plaintext, not TLS",
                         "if this followed STARTTLS it may be response injection; "
                         "for implicit TLS check the port (465) or use --starttls")
    return TlsFailed(f"the TLS handshake with {host} failed: {_plain(err)}",
                     "try --tls-min/--tls-max, or check that the port speaks TLS")


def _plain(err: BaseException) -> str:
    if isinstance(err, ssl.SSLError) and err.reason:
        return err.reason.replace("_", " ").lower()
    return str(err) or type(err).__name__


@dataclass(frozen=True)
class PracticeCerts:
    ca_pem: str
    cert_pem: str
    key_pem: str


def make_practice_certs(names: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
                        *, days: int = 30, expired: bool = False,
                        self_signed: bool = False) -> PracticeCerts:
    """A throwaway CA and a server certificate it signed, made in memory.

    `expired` dates both in the past; `self_signed` makes the server
    certificate sign itself (the CA is then unrelated to it).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    start, end = ((now - dt.timedelta(days=days + 1), now - dt.timedelta(days=1)) if expired
                  else (now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)))

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
                ca: bool) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None),
                               critical=True))

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = name("smtpshell practice CA")
    ca = (builder(ca_name, ca_name, ca_key, True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    subject = name(names[0])
    signer = key if self_signed else ca_key
    cert = (builder(subject, subject if self_signed else ca_name, key, False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(signer, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return PracticeCerts(ca.public_bytes(pem).decode(), cert.public_bytes(pem).decode(),
                         key_pem.decode())


def _san(name: str) -> x509.GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)

"""TLS: the client context, what a handshake tells us, and why one failed.

Owns: `client_context(TlsOptions)`, `describe(ssl_object) -> TlsInfo`, turning
ssl errors into one sentence, and the practice server's CA and certificate.
`cryptography` is imported only inside the functions that need it, so a
session that shows no certificate never pays for it.
Must not: open sockets or print.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import ssl
import stat
from typing import TYPE_CHECKING, NamedTuple

from .config import TlsOptions, open_private, private_dir, write_private
from .errors import TlsFailed
from .session import TlsInfo

if TYPE_CHECKING:
    import datetime as dt

    from cryptography import x509

__all__ = [
    "CertSummary",
    "PracticeCerts",
    "cached_practice_certs",
    "client_context",
    "describe",
    "handshake_failure",
    "make_practice_certs",
    "summarize",
    "would_fail",
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


@functools.cache
def client_context(opts: TlsOptions) -> ssl.SSLContext:
    """A verifying client context (system store, --cafile or the practice CA); built once
    for the same options (loading the CA bundle costs more than the rest of a start)."""
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
            open_private(opts.keylog).close()  # secrets: the file is created 0600
            ctx.keylog_filename = opts.keylog
    except (OSError, ssl.SSLError, ValueError) as err:
        raise TlsFailed(f"cannot set up TLS: {_plain(err)}",
                        "check --cafile, --cert, --key and --ciphers") from None
    return ctx


def describe(ssl_object: ssl.SSLObject | ssl.SSLSocket, sni: str | None, host: str,
             ctx: ssl.SSLContext) -> TlsInfo:
    """What the transport says about the TLS layer just negotiated.

    Without verification (--insecure) the certificate is checked here anyway,
    so the user still learns why a verifying client would have refused it.
    """
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    chain_of = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+: what was sent
    chain: tuple[bytes, ...] = tuple(chain_of() or ()) if chain_of else ()
    insecure = ctx.verify_mode == ssl.CERT_NONE
    verify_error = None
    if insecure:
        problem = would_fail(der, chain[1:], sni or host, ctx) if der else "no certificate"
        verify_error = f"not verified (--insecure); a check would {problem or 'have passed'}"
    return TlsInfo(
        version=ssl_object.version() or "TLS",
        cipher=cipher[0] if cipher else "?",
        bits=cipher[2] if cipher else None,
        sni=None if _is_address(sni) else sni,  # no SNI goes out for an address
        verified=not insecure,
        verify_error=verify_error,
        peer_der=der,
        peer_dict=dict(ssl_object.getpeercert() or {}),
        chain_der=chain,
    )


def _is_address(name: str | None) -> bool:
    """An IP address, not a name (socket's parser: ipaddress costs an import per start)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, name or "")
        except OSError:
            continue
        return True
    return False


def would_fail(der: bytes, intermediates: tuple[bytes, ...], host: str,
               ctx: ssl.SSLContext) -> str | None:
    """Why verification would fail ('fail: it has expired'), or None if it would pass."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    cert = x509.load_der_x509_certificate(der)
    now = dt.datetime.now(dt.UTC)
    if now > cert.not_valid_after_utc:
        return "fail: the certificate has expired"
    if now < cert.not_valid_before_utc:
        return "fail: the certificate is not valid yet"
    if not _name_matches(cert, host):
        return f"fail: it was issued for other names than {host}"
    trusted = _trust_store(ctx)
    if cert.issuer == cert.subject and der not in {c.public_bytes(Encoding.DER) for c in trusted}:
        return "fail: the certificate is self-signed"
    if not trusted:
        return "fail: no trusted certificate authorities could be read"
    try:
        name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        name = x509.DNSName(host)
    verifier = (PolicyBuilder().store(Store(trusted)).time(now)
                .build_server_verifier(name))  # type: ignore[arg-type]
    try:
        verifier.verify(cert, [x509.load_der_x509_certificate(d) for d in intermediates])
    except VerificationError:
        return "fail: it is signed by an unknown certificate authority"
    return None


def _name_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125: the SANs name the host (a wildcard covers one leftmost label)."""
    import ipaddress

    from cryptography import x509

    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pattern = host.lower().rstrip(".")
        return any(_dns_match(name.lower(), pattern)
                   for name in sans.get_values_for_type(x509.DNSName))
    return address in sans.get_values_for_type(x509.IPAddress)


def _dns_match(name: str, host: str) -> bool:
    if name.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return name == host


def _trust_store(ctx: ssl.SSLContext) -> list[x509.Certificate]:
    """The CAs the context trusts; the system's from its default paths if not loaded."""
    from cryptography import x509

    blobs: list[bytes] = list(ctx.get_ca_certs(binary_form=True))
    paths = ssl.get_default_verify_paths()
    files = [] if blobs else [paths.cafile] if paths.cafile else []
    if not blobs and paths.capath and os.path.isdir(paths.capath):
        files += [os.path.join(paths.capath, f) for f in sorted(os.listdir(paths.capath))]
    certs: list[x509.Certificate] = []
    import warnings

    with warnings.catch_warnings():  # some system roots break RFC 5280 in small ways
        warnings.simplefilter("ignore")
        for der in blobs:
            with contextlib.suppress(ValueError):
                certs.append(x509.load_der_x509_certificate(der))
        for path in files:
            with contextlib.suppress(OSError, ValueError), open(path, "rb") as handle:
                certs += x509.load_pem_x509_certificates(handle.read())
    return certs


class CertSummary(NamedTuple):
    """A certificate as a person checks it, parsed with cryptography."""

    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    key: str
    signature: str
    sha256: str
    serial: str
    self_signed: bool
    pem: str

    def days_left(self, now: dt.datetime | None = None) -> int:
        import datetime as dt

        return (self.not_after - (now or dt.datetime.now(dt.UTC))).days


def summarize(der: bytes) -> CertSummary:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        key_text = f"{'RSA' if isinstance(key, rsa.RSAPublicKey) else 'DSA'} {key.key_size} bits"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_text = f"EC {key.curve.name} ({key.key_size} bits)"
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key_text = type(key).__name__.removesuffix("PublicKey")
    else:
        key_text = type(key).__name__
    try:
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(f"DNS:{n}" for n in san_ext.get_values_for_type(x509.DNSName)) + tuple(
            f"IP:{a}" for a in san_ext.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        sans = ()
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    oid = cert.signature_algorithm_oid
    return CertSummary(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(), sans=sans,
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        key=key_text, signature=getattr(oid, "_name", None) or oid.dotted_string,
        sha256=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        serial=format(cert.serial_number, "X"), self_signed=cert.issuer == cert.subject,
        pem=cert.public_bytes(Encoding.PEM).decode())


def handshake_failure(err: Exception, host: str) -> TlsFailed:
    """One sentence for a failed handshake, naming the certificate problem."""
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = _VERIFY_REASONS.get(err.verify_code, err.verify_message or "unknown reason")
        return TlsFailed(f"the certificate of {host} failed verification: {reason}",
                         "check the host name, or --cafile FILE to trust its CA; "
                         "--insecure connects anyway")
    if getattr(err, "reason", None) in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"):
        return TlsFailed(f"the TLS handshake with {host} failed: the server answered with "
                         "plaintext, not TLS",
                         "if this followed STARTTLS it may be response injection; "
                         "for implicit TLS check the port (465) or use --starttls")
    return TlsFailed(f"the TLS handshake with {host} failed: {_plain(err)}",
                     "try --tls-min/--tls-max, or check that the port speaks TLS")


def _plain(err: BaseException) -> str:
    reason = getattr(err, "reason", None)  # not every SSLError has one
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()
    return str(err.args[0] if len(err.args) == 1 else err) or type(err).__name__


class PracticeCerts(NamedTuple):
    ca_pem: str
    cert_pem: str
    key_pem: str
    chain_file: str | None = None  # key and certificate in one private file (the cache)

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if self.chain_file is not None:
            ctx.load_cert_chain(self.chain_file)
            return ctx
        # ssl loads a key only from a file: write it privately, load it, remove it
        import tempfile

        with tempfile.TemporaryDirectory(prefix="smtpshell-") as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            for path, text in ((cert, self.cert_pem), (key, self.key_pem)):
                with open_private(path) as handle:
                    handle.write(text)
            ctx.load_cert_chain(cert, key)
        return ctx


CACHE_DAYS = 30  # a cached practice CA is made anew when fewer than one of them is left


def cached_practice_certs(folder: str) -> PracticeCerts:
    """The practice server's CA and certificate, kept in a private folder of the state
    directory: made once (cryptography, key generation) and made again when near
    expiry or not private, so --demo starts without them."""
    import time

    folder = private_dir(folder)
    chain, ca, expires = (os.path.join(folder, name)
                          for name in ("server.pem", "ca.pem", "expires"))
    try:
        if float(_read_private(expires)) > time.time() + 86400:
            key, end, cert = _read_private(chain).partition("-----END PRIVATE KEY-----\n")
            return PracticeCerts(_read_private(ca), cert, key + end, chain)
    except (OSError, ValueError):
        pass  # none yet, or not to be trusted: made afresh below
    certs = make_practice_certs(days=CACHE_DAYS)
    write_private(chain, certs.key_pem + certs.cert_pem)
    write_private(ca, certs.ca_pem)
    write_private(expires, str(time.time() + CACHE_DAYS * 86400 - 600))
    return certs._replace(chain_file=chain)


def _read_private(path: str) -> str:
    """A file of the cache, only if it is a regular file of ours that nobody else reads."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 or \
                info.st_uid != os.getuid():
            raise ValueError(f"{path} is not private")
        return handle.read()


def make_practice_certs(names: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
                        *, days: int = 30, expired: bool = False,
                        self_signed: bool = False) -> PracticeCerts:
    """A throwaway CA and a server certificate it signed, made in memory.

    `expired` dates both in the past; `self_signed` makes the server
    certificate sign itself (the CA is then unrelated to it).
    """
    import datetime as dt

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
    import ipaddress

    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)

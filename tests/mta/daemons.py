"""Real MTAs as child processes: Postfix, Exim and OpenSMTPD from Debian's packages.

`scripts/prepare-mtas` unpacks the packages into a cache directory
($SMTPSHELL_MTA_CACHE, default ~/.cache/smtpshell-mta); each class here writes a
configuration of its own into a temporary directory and runs the daemon from the
cache, in the foreground, through `reaper.py` (which stops it and everything it
started). Every daemon:

- listens on 127.0.0.1 only, on two ports the OS gave: STARTTLS on `port`, implicit
  TLS (as on 465) on `tls_port`, with a certificate from `make_practice_certs`;
- offers AUTH PLAIN and LOGIN for USER/PASSWORD, only once TLS is up;
- delivers INBOX and SECOND (in DOMAIN) to maildirs under the temporary directory,
  and refuses any other local part of DOMAIN at RCPT (UNKNOWN) with its own reply.

`start()` waits until both ports answer, then holds one session by hand (`replies`:
greeting, EHLO before and after STARTTLS, the refusal of UNKNOWN). A TLS failure
there fails the start, unless it is a known bug of the packaged daemon: Debian 12's
OpenSMTPD 6.8 cannot complete a TLS handshake under OpenSSL 3 (`tls_problem` says so,
and the cases about TLS skip with it).

`unavailable()` says, in one line, why a daemon cannot run here (not prepared, not
root, a library missing); the fixtures skip with it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from smtpshell.tls import PracticeCerts, make_practice_certs

CACHE_VARIABLE = "SMTPSHELL_MTA_CACHE"
DOMAIN = "mta.test"
USER = "tester"
PASSWORD = "Tr0ub4dor&3"
INBOX = f"inbox@{DOMAIN}"
SECOND = f"second@{DOMAIN}"
UNKNOWN = f"nobody-here@{DOMAIN}"
SENDER = "sender@example.com"
LOOPBACK = "127.0.0.1"
START_DEADLINE = 30.0  # seconds a daemon has to answer on both ports
REAPER = Path(__file__).with_name("reaper.py")


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "smtpshell-mta")


def free_ports(count: int) -> list[int]:
    """Ports the OS has free on loopback (asked for all at once, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def read_reply(reader: BinaryIO) -> bytes:
    """One whole reply, as the server sent it (every line, CRLF included)."""
    data = b""
    while True:
        line = reader.readline(4096)
        if not line:
            raise ConnectionError(f"the server closed the connection; it had sent {data!r}")
        data += line
        if len(line) < 4 or line[3:4] != b"-":
            return data


def answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


class Mta:
    """One daemon: its configuration, its process, its mailboxes."""

    name = ""  # the id in test names: postfix, exim, opensmtpd
    title = ""  # for people: Postfix, Exim, OpenSMTPD
    package = ""  # the Debian package whose version it is
    binaries: tuple[str, ...] = ()  # relative to the package's folder in the cache
    library_path: str = ""  # relative to the package's folder, for LD_LIBRARY_PATH
    users: tuple[str, ...] = ()  # system users and groups it insists on
    groups: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.cache = cache_dir()
        self.home = self.cache / self.package
        self.root = Path()
        self.port = self.tls_port = 0
        self.certs: PracticeCerts | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.replies: dict[str, bytes] = {}  # what converse() heard, raw
        self.tls_problem: str | None = None  # why STARTTLS cannot be had, if it cannot
        self.delivery_uid = pwd.getpwnam("nobody").pw_uid
        self.delivery_gid = pwd.getpwnam("nobody").pw_gid

    # -- can it run here? ------------------------------------------------------------

    @property
    def version(self) -> str:
        with contextlib.suppress(OSError):
            return (self.home / ".version").read_text().strip()
        return "?"

    def unavailable(self) -> str | None:
        """Why this daemon cannot run here, in one line; None when it can."""
        prepare = "(run scripts/prepare-mtas as root)"
        if os.geteuid() != 0:
            return f"{self.title}: needs root (it starts as root, then becomes its own users)"
        if not (self.home / ".version").is_file():
            return f"{self.title}: not prepared in {self.home} {prepare}"
        for binary in self.binaries:
            path = self.home / binary
            if not path.is_file():
                return f"{self.title}: {path} missing {prepare}"
            missing = self.missing_libraries(path)
            if missing:
                return f"{self.title}: {path.name} needs {missing}, not installed {prepare}"
        for user in self.users:
            try:
                pwd.getpwnam(user)
            except KeyError:
                return f"{self.title}: no system user {user} {prepare}"
        for group in self.groups:
            try:
                grp.getgrnam(group)
            except KeyError:
                return f"{self.title}: no system group {group} {prepare}"
        return self.unavailable_more()

    def unavailable_more(self) -> str | None:
        return None

    def missing_libraries(self, binary: Path) -> str:
        env = {**os.environ, "LD_LIBRARY_PATH": self.ld_library_path()}
        try:
            out = subprocess.run(["ldd", str(binary)], env=env, capture_output=True,
                                 text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as err:
            return f"ldd: {err}"
        return ", ".join(line.split()[0] for line in out.splitlines() if "not found" in line)

    def ld_library_path(self) -> str:
        return str(self.home / self.library_path) if self.library_path else ""

    # -- running ---------------------------------------------------------------------

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"smtpshell-{self.name}-"))
        self.root.chmod(0o755)  # the daemon's unprivileged processes come in here
        self.port, self.tls_port = free_ports(2)
        self.certs = make_practice_certs(names=("localhost", LOOPBACK))
        (self.root / "ca.pem").write_text(self.certs.ca_pem)
        self.write_file("cert.pem", self.certs.cert_pem)
        self.write_file("key.pem", self.certs.key_pem, mode=0o600)
        for local in ("inbox", "second"):
            self.maildir(local).parent.mkdir(parents=True, exist_ok=True)
        self.chown_tree(self.root / "mail", self.delivery_uid, self.delivery_gid)
        command = self.configure()
        log = (self.root / "daemon.out").open("wb")
        env = {**os.environ, "LD_LIBRARY_PATH": self.ld_library_path(), "LANG": "C"}
        self.process = subprocess.Popen([sys.executable, str(REAPER), *command],
                                        stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_DEADLINE
        waiting = [self.port, self.tls_port]
        while waiting:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.title} exited with status {self.process.returncode}"
                                   f" before listening:\n{self.logs()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.title} did not answer on port {waiting[0]} within"
                                   f" {START_DEADLINE:.0f} s:\n{self.logs()}")
            if answers(waiting[0]):
                waiting.pop(0)
            else:
                time.sleep(0.02)  # between connection attempts, under the deadline
        self.converse()
        if self.tls_problem is not None:
            known = self.known_tls_bug()
            if known is None:
                self.stop()
                raise RuntimeError(f"{self.title}: {self.tls_problem}:\n{self.logs()}")
            self.tls_problem = known

    def known_tls_bug(self) -> str | None:
        """Why TLS fails, when it is a known bug of the packaged daemon (else None:
        then a TLS failure is this fixture's, and start() fails)."""
        return None

    def converse(self) -> None:
        """One session by hand, kept raw in self.replies: the greeting, EHLO, the refusal
        of UNKNOWN, then STARTTLS and EHLO again (the recorded data in tests/data/)."""
        self.replies = {}
        with socket.create_connection((LOOPBACK, self.port), timeout=10) as sock:
            reader = sock.makefile("rb")

            def say(name: str, line: str) -> bytes:
                sock.sendall(line.encode() + b"\r\n")
                self.replies[name] = reply = read_reply(reader)
                return reply

            self.replies["greeting"] = read_reply(reader)
            say("ehlo", "EHLO client.example")
            say("mail", f"MAIL FROM:<{SENDER}>")
            say("rcpt-unknown", f"RCPT TO:<{UNKNOWN}>")
            say("rset", "RSET")
            if not say("starttls", "STARTTLS").startswith(b"220"):
                self.tls_problem = f"STARTTLS was answered {self.replies['starttls']!r}"
                return
            context = ssl.create_default_context(cafile=str(self.root / "ca.pem"))
            try:
                with context.wrap_socket(sock, server_hostname=LOOPBACK) as tls:
                    reader = tls.makefile("rb")
                    tls.sendall(b"EHLO client.example\r\n")
                    self.replies["ehlo-tls"] = read_reply(reader)
                    tls.sendall(b"QUIT\r\n")
                    read_reply(reader)
            except (OSError, ssl.SSLError) as err:
                self.tls_problem = f"the TLS handshake after STARTTLS failed ({err})"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        if self.root != Path() and self.root.is_dir():
            shutil.rmtree(self.root, ignore_errors=True)

    def logs(self, limit: int = 4000) -> str:
        text = ""
        for path in self.log_files():
            with contextlib.suppress(OSError):
                text += f"--- {path.name}\n{path.read_text(errors='replace')[-limit:]}"
        return text

    # -- configuration, per daemon -------------------------------------------------------

    def configure(self) -> list[str]:
        """Write the configuration under self.root; the command that runs the daemon."""
        raise NotImplementedError

    def maildir(self, local: str) -> Path:
        return self.root / "mail" / local

    def write_file(self, name: str, text: str, mode: int = 0o644) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    @staticmethod
    def chown_tree(top: Path, uid: int, gid: int) -> None:
        os.chown(top, uid, gid)
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                os.chown(os.path.join(folder, name), uid, gid)

    # -- what was delivered ------------------------------------------------------------

    def delivered(self, local: str = "inbox") -> Iterator[Path]:
        for sub in ("new", "cur"):
            folder = self.maildir(local) / sub
            if folder.is_dir():
                yield from sorted(folder.iterdir())

    def find_messages(self, token: bytes, local: str = "inbox") -> list[Path]:
        """The delivered messages whose header part holds `token`."""
        found = []
        for path in self.delivered(local):
            with path.open("rb") as file:
                head = file.read(64 * 1024)
            end = head.find(b"\n\n")
            if token in (head if end < 0 else head[:end]):
                found.append(path)
        return found

    def wait_for_messages(self, token: bytes, local: str = "inbox", count: int = 1,
                          timeout: float = 30.0) -> list[bytes]:
        """`count` delivered messages with `token` in their headers, polled with a
        deadline (delivery goes on after the 250 that queued them)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_messages(token, local)
            if len(found) >= count:
                assert len(found) == count, f"{len(found)} messages with {token!r}"
                return [path.read_bytes() for path in found]
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.title} delivered {len(found)} of {count} "
                                     f"message(s) with {token!r} to {local} within "
                                     f"{timeout:.0f} s:\n{self.logs()}")
            time.sleep(0.05)

    def wait_for_message(self, token: bytes, local: str = "inbox",
                         timeout: float = 30.0) -> bytes:
        return self.wait_for_messages(token, local, 1, timeout)[0]

    # -- what it logged ------------------------------------------------------------------

    def log_files(self) -> list[Path]:
        return sorted(self.root.glob("*.out")) + sorted(self.root.glob("log/*"))

    def log_mark(self) -> dict[Path, int]:
        """Where each log ends now, for complaints() to read what comes after."""
        return {path: path.stat().st_size for path in self.log_files()}

    def complaints(self, mark: dict[Path, int]) -> list[str]:
        """Lines logged since `mark` about pipelining or synchronization (Postfix:
        'improper command pipelining', Exim: 'SMTP protocol synchronization error')."""
        found = []
        for path in self.log_files():
            with path.open("rb") as file:
                file.seek(mark.get(path, 0))
                text = file.read().decode(errors="replace")
            found += [line for line in text.splitlines()
                      if re.search(r"pipelin|synchroni[sz]ation", line, re.I)]
        return found


class Postfix(Mta):
    """Postfix with Cyrus SASL (sasldb), delivering with virtual(8) to maildirs."""

    name, title, package = "postfix", "Postfix", "postfix"
    binaries = ("usr/lib/postfix/sbin/master", "usr/lib/postfix/sbin/smtpd")
    library_path = "usr/lib/postfix"
    users = ("postfix",)
    groups = ("postdrop",)

    def unavailable_more(self) -> str | None:
        saslpasswd2 = self.cache / "sasl2-bin/usr/sbin/saslpasswd2"
        if not saslpasswd2.is_file():
            return f"Postfix: {saslpasswd2} missing (run scripts/prepare-mtas as root)"
        plugins = [Path(p) for p in ("/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/sasl2")]
        found = {f.name.split(".")[0] for d in plugins if d.is_dir() for f in d.iterdir()}
        for plugin in ("libplain", "liblogin", "libsasldb"):
            if plugin not in found:
                return (f"Postfix: the Cyrus SASL plugin {plugin} is not installed "
                        f"(libsasl2-modules, libsasl2-modules-db: run scripts/prepare-mtas)")
        return None

    def maildir(self, local: str) -> Path:
        return self.root / "mail" / DOMAIN / local

    def configure(self) -> list[str]:
        home, root = self.home, self.root
        postfix = pwd.getpwnam("postfix")
        postdrop = grp.getgrnam("postdrop").gr_gid
        config = root / "etc"
        config.mkdir()
        (config / "dynamicmaps.cf").write_text("")
        spool = root / "spool"
        spool.mkdir(mode=0o755)
        queues = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
                  "incoming", "saved", "trace")
        for name, uid, gid, mode in (("pid", 0, 0, 0o755), ("private", postfix.pw_uid, 0, 0o700),
                                     ("public", postfix.pw_uid, postdrop, 0o710),
                                     ("maildrop", postfix.pw_uid, postdrop, 0o1730),
                                     *((queue, postfix.pw_uid, 0, 0o700) for queue in queues)):
            (spool / name).mkdir()
            os.chown(spool / name, uid, gid)
            (spool / name).chmod(mode)
        data = root / "data"
        data.mkdir()
        os.chown(data, postfix.pw_uid, postfix.pw_gid)
        self.write_file("etc/vmailbox", f"{INBOX} {DOMAIN}/inbox/\n{SECOND} {DOMAIN}/second/\n")
        sasldb = config / "sasldb2"
        self.write_file("etc/sasl/smtpd.conf", "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                        f"mech_list: PLAIN LOGIN\nsasldb_path: {sasldb}\n")
        subprocess.run([str(self.cache / "sasl2-bin/usr/sbin/saslpasswd2"), "-p", "-c", "-f",
                        str(sasldb), "-u", DOMAIN, USER], input=PASSWORD.encode(), check=True,
                       capture_output=True, timeout=30)
        os.chown(sasldb, postfix.pw_uid, postfix.pw_gid)  # smtpd reads it as postfix
        sasldb.chmod(0o600)
        lib = home / self.library_path
        self.write_file("etc/main.cf", f"""\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
daemon_directory = {home}/usr/lib/postfix/sbin
command_directory = {home}/usr/sbin
shlib_directory = {lib}
meta_directory = {config}
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH={lib}
mail_owner = postfix
setgid_group = postdrop
maillog_file = /dev/stdout
myhostname = postfix.{DOMAIN}
mydomain = {DOMAIN}
mydestination =
alias_maps =
alias_database =
inet_interfaces = {LOOPBACK}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
default_transport = discard
relay_transport = discard
message_size_limit = 52428800
virtual_mailbox_limit = 0
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{config}/vmailbox
virtual_uid_maps = static:{self.delivery_uid}
virtual_gid_maps = static:{self.delivery_gid}
virtual_minimum_uid = 1
smtpd_tls_cert_file = {root}/cert.pem
smtpd_tls_key_file = {root}/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {config}/sasl
smtpd_sasl_local_domain = {DOMAIN}
broken_sasl_auth_clients = yes
""")
        services = [  # name, type, private, wakeup, process limit, command; chroot: never
            ("cleanup", "unix", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "proxymap"),
            ("error", "unix", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "discard"),
            ("virtual", "unix", "-", "-", "-", "virtual"),
            ("anvil", "unix", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
        ]
        lines = [f"{LOOPBACK}:{self.port} inet n - n - - smtpd",
                 f"{LOOPBACK}:{self.tls_port} inet n - n - - smtpd"
                 " -o smtpd_tls_wrappermode=yes"]
        unprivileged = {"virtual": "n"}  # it becomes the mailbox owner: starts as root
        for name, kind, private, wakeup, limit, command in services:
            lines.append(f"{name} {kind} {private} {unprivileged.get(name, '-')} n {wakeup} "
                         f"{limit} {command}")
        self.write_file("etc/master.cf", "\n".join(lines) + "\n")
        return [str(home / "usr/lib/postfix/sbin/master"), "-c", str(config), "-d"]


class Exim(Mta):
    """Exim with its own plaintext authenticators, delivering with appendfile to maildirs.

    Exim runs a reception process as its user and, to deliver, re-executes its setuid
    binary; scripts/prepare-mtas strips set-id bits, so deliver_drop_privilege makes
    the reception process deliver as the Exim user itself.
    """

    name, title, package = "exim", "Exim", "exim4-daemon-light"
    binaries = ("usr/sbin/exim4",)
    users = ("Debian-exim",)  # its compiled-in exim_user

    def __init__(self) -> None:
        super().__init__()
        with contextlib.suppress(KeyError):  # deliver_drop_privilege: deliveries as Exim
            exim = pwd.getpwnam("Debian-exim")
            self.delivery_uid, self.delivery_gid = exim.pw_uid, exim.pw_gid

    def configure(self) -> list[str]:
        root = self.root
        exim = pwd.getpwnam("Debian-exim")
        for folder in ("spool", "log"):
            (root / folder).mkdir()
            os.chown(root / folder, exim.pw_uid, exim.pw_gid)
        os.chown(root / "key.pem", 0, exim.pw_gid)  # read after Exim dropped privileges
        (root / "key.pem").chmod(0o640)
        check = "${if and {{eq{%s}{" + USER + "}}{eq{%s}{" + PASSWORD + "}}}}"
        config = self.write_file("exim.conf", f"""\
exim_path = {self.home}/usr/sbin/exim4
primary_hostname = exim.{DOMAIN}
qualify_domain = {DOMAIN}
domainlist local_domains = {DOMAIN}
spool_directory = {root}/spool
log_file_path = {root}/log/%slog
pid_file_path = {root}/exim.pid
keep_environment =
local_interfaces = {LOOPBACK}
daemon_smtp_ports = {self.port} : {self.tls_port}
tls_on_connect_ports = {self.tls_port}
tls_advertise_hosts = *
tls_certificate = {root}/cert.pem
tls_privatekey = {root}/key.pem
auth_advertise_hosts = ${{if eq{{$tls_in_cipher}}{{}}{{}}{{*}}}}
host_lookup =
message_size_limit = 50M
# delivered by the reception process as the Exim user: no re-exec of a setuid binary
deliver_drop_privilege = true
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  require verify = recipient
  accept domains = +local_domains
  deny message = relay not permitted

begin routers

mailboxes:
  driver = accept
  domains = +local_domains
  local_parts = inbox : second
  transport = maildir_delivery

begin transports

maildir_delivery:
  driver = appendfile
  directory = {root}/mail/$local_part_data
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  mode = 0600

begin retry

*  *  F,1h,5m

begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = {check % ("$auth2", "$auth3")}
  server_set_id = $auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = {check % ("$auth1", "$auth2")}
  server_set_id = $auth1
""")
        return [str(self.home / "usr/sbin/exim4"), "-C", str(config), "-bdf"]


class OpenSmtpd(Mta):
    """OpenSMTPD with a `table` of credentials, delivering with mail.maildir.

    Debian's build has its paths compiled in (/var/spool/smtpd, /run/smtpd.sock,
    /usr/libexec/opensmtpd, /var/lib/opensmtpd/empty), so it runs in a mount namespace
    of its own (`unshare --mount`) in which those are this instance's folders under the
    temporary directory (and the cache's libexec): nothing outside changes, and two
    instances would not meet.
    """

    name, title, package = "opensmtpd", "OpenSMTPD", "opensmtpd"
    binaries = ("usr/sbin/smtpd", "usr/libexec/opensmtpd/mail.maildir",
                "usr/libexec/opensmtpd/encrypt")
    users = ("opensmtpd", "opensmtpq")  # Debian's names for _smtpd and _smtpq

    def known_tls_bug(self) -> str | None:
        deadline = time.monotonic() + 5  # its log line may come a moment after the alert
        while "SSL routines::EVP lib" not in self.logs():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        return (f"OpenSMTPD {self.version} cannot do TLS under OpenSSL 3: the handshake "
                "fails ('tlsv1 alert internal error'; its log: 'SSL routines::EVP lib', "
                "its key signing across privilege separation, upstream issue #1171, fixed "
                "in 2023 by PR #1208)")

    def unavailable_more(self) -> str | None:
        unshare = shutil.which("unshare")
        if unshare is None:
            return "OpenSMTPD: unshare (util-linux) not found, needed for its mount namespace"
        probe = subprocess.run([unshare, "--mount", "--propagation", "private", "true"],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode != 0:
            return (f"OpenSMTPD: cannot make a mount namespace for its compiled-in paths "
                    f"(unshare --mount: {probe.stderr.strip() or probe.returncode})")
        return None

    def configure(self) -> list[str]:
        root, home = self.root, self.home
        for folder, mode in (("var-spool/smtpd", 0o711), ("var-lib/opensmtpd/empty", 0o755),
                             ("run", 0o755)):
            (root / folder).mkdir(parents=True)
            (root / folder).chmod(mode)
        hashed = subprocess.run([str(home / "usr/libexec/opensmtpd/encrypt"), PASSWORD],
                                capture_output=True, text=True, check=True, timeout=30)
        self.write_file("creds", f"{USER} {hashed.stdout.strip()}\n", mode=0o600)
        self.write_file("users", "".join(
            f"{local} {self.delivery_uid}:{self.delivery_gid}:{self.maildir(local).parent}\n"
            for local in ("inbox", "second")))
        listen = f"pki localhost auth-optional <creds> hostname opensmtpd.{DOMAIN}"
        config = self.write_file("smtpd.conf", f"""\
pki localhost cert "{root}/cert.pem"
pki localhost key "{root}/key.pem"
table creds file:{root}/creds
table users file:{root}/users
listen on {LOOPBACK} port {self.port} tls {listen}
listen on {LOOPBACK} port {self.tls_port} smtps {listen}
action "deliver" maildir "{root}/mail/%{{user.username}}" userbase <users>
match from any for domain "{DOMAIN}" action "deliver"
""")
        mounts = (f"mount --bind {root}/var-spool /var/spool"
                  f" && mount --bind {root}/var-lib /var/lib"
                  f" && mount --bind {root}/run /run"
                  f" && mount --bind {home}/usr/libexec /usr/libexec")
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                f'{mounts} && exec "$0" "$@"', str(home / "usr/sbin/smtpd"), "-d", "-f",
                str(config)]

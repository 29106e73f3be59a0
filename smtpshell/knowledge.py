"""SMTP facts as data, each written once and cited to its source.

Owns: the verbs, the deadlines of RFC 5321 §4.5.3.2, the openssl s_client
habits the shell guards against, and the banners of other protocols.
Feeds `:help`, completion, explanations and the safe mode.
Must not: import anything of the shell, format for the screen, or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONNECT_TIMEOUT",
    "NON_SMTP_BANNERS",
    "REPLY_TIMEOUTS",
    "SCLIENT_TRAPS",
    "VERBS",
    "Verb",
    "reply_timeout",
]


@dataclass(frozen=True)
class Verb:
    """An SMTP command: how it is written, what it does, where it is defined."""

    name: str
    syntax: str
    meaning: str
    example: str
    rfc: str
    extension: str | None = None  # the EHLO keyword that must advertise it


VERBS: dict[str, Verb] = {
    v.name: v
    for v in (
        Verb("EHLO", "EHLO domain", "greet the server and ask for its extensions",
             "EHLO client.example.com", "RFC 5321 §4.1.1.1"),
        Verb("HELO", "HELO domain", "greet the server without extensions (old clients)",
             "HELO client.example.com", "RFC 5321 §4.1.1.1"),
        Verb("MAIL", "MAIL FROM:<reverse-path> [parameters]",
             "start a transaction and name the sender (the bounce address)",
             "MAIL FROM:<alice@example.com>", "RFC 5321 §4.1.1.2"),
        Verb("RCPT", "RCPT TO:<forward-path> [parameters]", "add one recipient",
             "RCPT TO:<bob@example.org>", "RFC 5321 §4.1.1.3"),
        Verb("DATA", "DATA", "send the message; end it with a line holding only '.'",
             "DATA", "RFC 5321 §4.1.1.4"),
        Verb("RSET", "RSET", "abort the current transaction, keep the connection",
             "RSET", "RFC 5321 §4.1.1.5"),
        Verb("VRFY", "VRFY string", "ask whether a user or mailbox exists (often disabled)",
             "VRFY postmaster", "RFC 5321 §4.1.1.6"),
        Verb("EXPN", "EXPN string", "ask for the members of a mailing list (often disabled)",
             "EXPN staff", "RFC 5321 §4.1.1.7"),
        Verb("HELP", "HELP [string]", "ask the server for help text", "HELP MAIL",
             "RFC 5321 §4.1.1.8"),
        Verb("NOOP", "NOOP", "do nothing; the server answers 250 (keeps a session alive)",
             "NOOP", "RFC 5321 §4.1.1.9"),
        Verb("QUIT", "QUIT", "end the session; the server answers 221 and closes",
             "QUIT", "RFC 5321 §4.1.1.10"),
        Verb("STARTTLS", "STARTTLS", "upgrade this connection to TLS (then EHLO again)",
             "STARTTLS", "RFC 3207 §4", "STARTTLS"),
        Verb("AUTH", "AUTH mechanism [initial-response]", "authenticate (after EHLO, over TLS)",
             "AUTH PLAIN AGRlbW8AZGVtbw==", "RFC 4954 §4", "AUTH"),
        Verb("BDAT", "BDAT size [LAST]", "send the next chunk of the message, exactly size octets",
             "BDAT 1024 LAST", "RFC 3030 §2", "CHUNKING"),
        Verb("ETRN", "ETRN [@#]domain", "ask the server to flush its queue for a domain",
             "ETRN example.com", "RFC 1985 §4", "ETRN"),
    )
}

# RFC 5321 §4.5.3.2: how long a client waits for each reply, in seconds.
REPLY_TIMEOUTS: dict[str, float] = {
    "greeting": 5 * 60,  # §4.5.3.2.1 initial 220
    "MAIL": 5 * 60,  # §4.5.3.2.2
    "RCPT": 5 * 60,  # §4.5.3.2.3
    "DATA": 2 * 60,  # §4.5.3.2.4 DATA initiation
    "data-block": 3 * 60,  # §4.5.3.2.5 each block of message text
    "data-end": 10 * 60,  # §4.5.3.2.6 the reply to the final "."
    "other": 5 * 60,  # §4.5.3.2.7 server timeout; used for every other command
}
CONNECT_TIMEOUT = 30.0  # RFC 5321 names none; swaks and most clients use 30 s


def reply_timeout(verb: str) -> float:
    """The RFC 5321 deadline for the reply to `verb` (or a pseudo-verb above)."""
    return REPLY_TIMEOUTS.get(verb, REPLY_TIMEOUTS["other"])


# What openssl s_client does with a line that is exactly this letter
# (s_client(1), "CONNECTED COMMANDS"), and what the user most likely meant.
# smtpshell sends nothing for them.
SCLIENT_TRAPS: dict[str, tuple[str, str]] = {
    "R": ("renegotiate the TLS session", "RCPT TO:<address> (any case works here)"),
    "Q": ("close the connection", "QUIT or :quit"),
    "k": ("send a TLS 1.3 key update", "nothing: key updates are not done by hand here"),
    "K": ("send a TLS 1.3 key update and ask the server for one",
          "nothing: key updates are not done by hand here"),
    "C": ("close the connection (in some builds)", "QUIT or :quit"),
}

# The first bytes other servers greet with: a reply that starts so is not SMTP.
NON_SMTP_BANNERS: dict[str, str] = {
    "SSH-": "an SSH server",
    "* OK": "an IMAP server",
    "* PREAUTH": "an IMAP server",
    "+OK": "a POP3 server",
    "HTTP/": "an HTTP server",
    "<html": "an HTTP server",
    "<!DOCTYPE": "an HTTP server",
    "\x15\x03": "a TLS server: it answered with a TLS alert (try --tls)",
}

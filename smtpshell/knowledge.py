"""SMTP facts as data, each written once and cited to its source.

Owns: the verbs, the deadlines of RFC 5321 §4.5.3.2, the openssl s_client
habits the shell guards against, and the banners of other protocols.
Feeds `:help`, completion, explanations and the safe mode.
Must not: import anything of the shell, format for the screen, or do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Container
from typing import NamedTuple

__all__ = [
    "AUTH_RESPONSE_LINE",
    "COMMAND_LINE",
    "CONNECT_TIMEOUT",
    "ENHANCED_CODE",
    "EXTENSIONS",
    "HEADERS",
    "MECHANISMS",
    "NON_SMTP_BANNERS",
    "NOT_PIPELINED",
    "PIPELINE_LAST",
    "REPLY_TIMEOUTS",
    "SCLIENT_TRAPS",
    "TEXT_LINE",
    "VERBS",
    "Extension",
    "Param",
    "Verb",
    "params_for",
    "reply_timeout",
]


class Verb(NamedTuple):
    """An SMTP command: how it is written, what it does, where it is defined."""

    name: str
    syntax: str
    meaning: str
    example: str
    rfc: str
    extension: str | None = None  # the EHLO keyword that must advertise it
    insert: str = ""  # what completion writes; default: the name, and a space if it takes args

    @property
    def completion(self) -> str:
        if self.insert:
            return self.insert
        return self.name + (" " if " " in self.syntax else "")


VERBS: dict[str, Verb] = {
    v.name: v
    for v in (
        Verb("EHLO", "EHLO domain", "greet the server and ask for its extensions",
             "EHLO client.example.com", "RFC 5321 §4.1.1.1"),
        Verb("HELO", "HELO domain", "greet the server without extensions (old clients)",
             "HELO client.example.com", "RFC 5321 §4.1.1.1"),
        Verb("MAIL", "MAIL FROM:<reverse-path> [parameters]",
             "start a transaction and name the sender (the bounce address)",
             "MAIL FROM:<alice@example.com>", "RFC 5321 §4.1.1.2", insert="MAIL FROM:<"),
        Verb("RCPT", "RCPT TO:<forward-path> [parameters]", "add one recipient",
             "RCPT TO:<bob@example.org>", "RFC 5321 §4.1.1.3", insert="RCPT TO:<"),
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
        Verb("ATRN", "ATRN [domain[,domain]]", "authenticated TURN: take the queued mail for "
             "your domains over this connection", "ATRN example.com", "RFC 2645 §3", "ATRN"),
        Verb("BURL", "BURL imap-url [LAST]", "have the server fetch the message from an IMAP "
             "URL instead of sending it", "BURL imap://user@imap.example/INBOX/;uid=20 LAST",
             "RFC 4468 §3", "BURL"),
    )
}

# SASL mechanisms a server may list after AUTH (IANA SASL registry), for completion.
MECHANISMS: dict[str, str] = {
    "PLAIN": "user and password in one base64 line; needs TLS (RFC 4616)",
    "LOGIN": "user and password as two base64 answers; needs TLS (draft-murchison-sasl-login)",
    "CRAM-MD5": "challenge-response: the password itself is not sent (RFC 2195)",
    "DIGEST-MD5": "challenge-response, historic (RFC 2831, obsoleted by RFC 6331)",
    "XOAUTH2": "an OAuth 2.0 bearer token (Google, Microsoft): :xoauth2 USER TOKEN",
    "OAUTHBEARER": "an OAuth 2.0 bearer token, the standard form (RFC 7628)",
    "SCRAM-SHA-1": "salted challenge-response (RFC 5802)",
    "SCRAM-SHA-256": "salted challenge-response with SHA-256 (RFC 7677)",
    "GSSAPI": "Kerberos (RFC 4752)",
    "NTLM": "Microsoft NTLM challenge-response (not an IETF standard)",
    "EXTERNAL": "identity from outside SASL, e.g. the TLS client certificate (RFC 4422)",
    "ANONYMOUS": "no credentials (RFC 4505)",
}

# Header fields for completion in DATA mode (RFC 5322 §3.6, MIME: RFC 2045 §3).
HEADERS: dict[str, str] = {
    "From": "the author(s) (RFC 5322 §3.6.2)",
    "To": "the primary recipients (RFC 5322 §3.6.3)",
    "Cc": "carbon-copy recipients (RFC 5322 §3.6.3)",
    "Bcc": "blind copies: servers should not see this header (RFC 5322 §3.6.3)",
    "Subject": "the topic (RFC 5322 §3.6.5)",
    "Date": "when the message was written, e.g. Mon, 1 Dec 2026 10:00:00 +0000 "
            "(RFC 5322 §3.6.1)",
    "Message-ID": "a unique id, <unique@your.domain> (RFC 5322 §3.6.4)",
    "Reply-To": "where replies should go (RFC 5322 §3.6.2)",
    "Sender": "who actually sent it, if not the author (RFC 5322 §3.6.2)",
    "In-Reply-To": "the Message-ID this answers (RFC 5322 §3.6.4)",
    "References": "the Message-IDs of the thread (RFC 5322 §3.6.4)",
    "MIME-Version": "1.0 — the message uses MIME (RFC 2045 §4)",
    "Content-Type": "text/plain; charset=utf-8, multipart/mixed; boundary=… (RFC 2045 §5)",
    "Content-Transfer-Encoding": "7bit, 8bit, quoted-printable or base64 (RFC 2045 §6)",
    "Content-Disposition": "inline or attachment; filename=… (RFC 2183)",
    "List-Unsubscribe": "how to unsubscribe (RFC 2369)",
    "Auto-Submitted": "auto-generated or auto-replied: no auto-reply to this (RFC 3834)",
}

class Param(NamedTuple):
    """A MAIL or RCPT parameter an extension adds (`KEY=VALUE` or a bare `KEY`)."""

    name: str
    command: str  # "MAIL" or "RCPT"
    meaning: str
    values: tuple[str, ...] = ()  # the allowed values; empty: see `shape`
    shape: str = "text"  # "none" (a bare keyword), "number", "text", or "list" (of `values`)
    room: tuple[int, str] = (0, "")  # octets it adds to the command's line limit, and where


class Extension(NamedTuple):
    """An EHLO keyword from the IANA SMTP Service Extensions registry."""

    keyword: str
    meaning: str
    rfc: str
    params: tuple[Param, ...] = ()


EXTENSIONS: dict[str, Extension] = {
    e.keyword: e
    for e in (
        Extension("8BITMIME", "accepts 8-bit message text (declare it with BODY=8BITMIME)",
                  "RFC 6152", (Param("BODY", "MAIL", "what the body holds",
                                     ("7BIT", "8BITMIME")),)),
        Extension("ATRN", "authenticated TURN: the server may send queued mail back to you",
                  "RFC 2645"),
        Extension("AUTH", "authentication; the words after it are the mechanisms offered",
                  "RFC 4954", (Param("AUTH", "MAIL", "the authenticated submitter, or <>",
                                     room=(500, "RFC 4954 §3")),)),
        Extension("BINARYMIME", "accepts binary message bodies (sent with BDAT only)",
                  "RFC 3030", (Param("BODY", "MAIL", "what the body holds", ("BINARYMIME",)),)),
        Extension("BURL", "the message may be fetched from an IMAP URL instead of sent",
                  "RFC 4468"),
        Extension("CHECKPOINT", "an interrupted transfer can resume where it stopped",
                  "RFC 1845", (Param("TRANSID", "MAIL", "a transaction id to resume"),)),
        Extension("CHUNKING", "BDAT: the message goes in sized chunks, no dot-stuffing",
                  "RFC 3030"),
        Extension("CONNEG", "content conversion can be negotiated", "RFC 4141"),
        Extension("CONPERM", "content conversion permission", "RFC 4141",
                  (Param("CONPERM", "MAIL", "conversions allowed"),)),
        Extension("DELIVERBY", "deliver by a deadline or return / note the delay",
                  "RFC 2852", (Param("BY", "MAIL", "seconds;R or seconds;N (return or notify)"),)),
        Extension("DSN", "delivery status notifications: ask for success/failure reports",
                  "RFC 3461", (
                      Param("RET", "MAIL", "return the full message or only its headers",
                            ("FULL", "HDRS"), room=(100, "RFC 3461 §3")),
                      Param("ENVID", "MAIL", "an envelope id echoed in the reports (xtext)",
                            room=(100, "RFC 3461 §3")),
                      Param("NOTIFY", "RCPT", "when to report: NEVER, or SUCCESS,FAILURE,DELAY",
                            ("NEVER", "SUCCESS", "FAILURE", "DELAY"), "list",
                            room=(500, "RFC 3461 §3")),
                      Param("ORCPT", "RCPT", "the original recipient, as rfc822;address",
                            room=(500, "RFC 3461 §3")),
                  )),
        Extension("ENHANCEDSTATUSCODES", "replies carry codes like 5.7.1 (class.subject.detail)",
                  "RFC 2034"),
        Extension("ETRN", "ask the server to flush its queue for a domain", "RFC 1985"),
        Extension("EXPN", "expand a mailing list", "RFC 5321 §4.1.1.7"),
        Extension("FUTURERELEASE", "hold the message and release it later", "RFC 4865", (
            Param("HOLDFOR", "MAIL", "seconds to hold the message", shape="number"),
            Param("HOLDUNTIL", "MAIL", "the time to release it (RFC 3339)"),
        )),
        Extension("HELP", "the server answers HELP", "RFC 5321 §4.1.1.8"),
        Extension("LIMITS", "the server states its limits (RCPTMAX, MAILMAX, RCPTDOMAINMAX)",
                  "RFC 9422"),
        Extension("MT-PRIORITY", "message priority from -9 (low) to 9 (high)", "RFC 6710",
                  (Param("MT-PRIORITY", "MAIL", "the priority",
                         tuple(str(n) for n in range(-9, 10))),)),
        Extension("MTRK", "message tracking", "RFC 3885",
                  (Param("MTRK", "MAIL", "a tracking authenticator and timeout"),)),
        Extension("NO-SOLICITING", "the server states solicitation keywords it refuses",
                  "RFC 3865", (Param("SOLICIT", "MAIL", "solicitation keywords"),)),
        Extension("PIPELINING", "several commands may be sent without waiting (:pipeline)",
                  "RFC 2920"),
        Extension("PRDR", "per-recipient replies after DATA",
                  "draft-hall-prdr", (Param("PRDR", "MAIL", "ask for per-recipient replies",
                                            shape="none"),)),
        Extension("REQUIRETLS", "the message may travel only over verified TLS", "RFC 8689",
                  (Param("REQUIRETLS", "MAIL", "require TLS on every hop", shape="none"),)),
        Extension("RRVS", "require that the recipient's mailbox has not been reassigned",
                  "RFC 7293", (Param("RRVS", "RCPT", "a date-time, optionally ;C or ;R"),)),
        Extension("SIZE", "the largest message accepted, in bytes (0: no fixed limit)",
                  "RFC 1870", (Param("SIZE", "MAIL", "the message size in bytes",
                                     shape="number", room=(26, "RFC 1870 §3")),)),
        Extension("SMTPUTF8", "UTF-8 in addresses and headers", "RFC 6531",
                  (Param("SMTPUTF8", "MAIL", "this message uses UTF-8 addresses",
                         shape="none", room=(10, "RFC 6531 §3.1")),)),
        Extension("STARTTLS", "the connection can be upgraded to TLS (:starttls)", "RFC 3207"),
        Extension("SUBMITTER", "the responsible submitter (Sender-ID)", "RFC 4405",
                  (Param("SUBMITTER", "MAIL", "the submitter's mailbox"),)),
        Extension("UTF8SMTP", "UTF-8 addresses, experimental and obsolete (now SMTPUTF8)",
                  "RFC 5336"),
        Extension("VRFY", "verify a mailbox", "RFC 5321 §4.1.1.6"),
    )
}


def params_for(command: str, capabilities: Container[str]) -> list[tuple[Param, Extension]]:
    """The MAIL or RCPT parameters the advertised extensions allow, in table order."""
    found = []
    for ext in EXTENSIONS.values():
        if ext.keyword in capabilities:
            found += [(p, ext) for p in ext.params if p.command == command]
    return found


# RFC 3463 §2: class.subject.detail, the class 2, 4 or 5; the one pattern every reader uses
ENHANCED_CODE = re.compile(r"([245])\.([0-9]{1,3})\.([0-9]{1,3})")

# Line limits, in octets with the CRLF.
COMMAND_LINE = (512, "RFC 5321 §4.5.3.1.4")  # MAIL and RCPT parameters may add room (Param.room)
TEXT_LINE = (1000, "RFC 5321 §4.5.3.1.6")  # the dot added for transparency does not count
AUTH_RESPONSE_LINE = (12288, "RFC 4954 §4")  # an answer to a 334 (the AUTH line itself: 512)

# RFC 2920 §3.1: these end a pipelined group (their reply decides what may follow).
# AUTH (RFC 4954 §4), STARTTLS (RFC 3207 §4.2) and BDAT with its payload are
# never sent by :pipeline at all.
PIPELINE_LAST = frozenset({"EHLO", "HELO", "DATA", "VRFY", "EXPN", "TURN", "QUIT", "NOOP",
                           "ETRN", "ATRN"})
NOT_PIPELINED = frozenset({"AUTH", "STARTTLS", "BDAT"})

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

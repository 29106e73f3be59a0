"""Helpers for the envelope and the message: :mail, :rcpt, :data, :bdat, :send.

Owns: brackets and parameters done right (checked against the advertised
extensions; a control character in any argument refuses the line before a
byte is written), message files streamed — never read whole — CRLF-normalised
then dot-stuffed with exactly one end-of-data, BDAT chunks, and whole messages
built with the `email` package.
Must not: send '.' after a partial body: an interrupted message closes the
connection instead, so nothing half-written is delivered.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from . import safety
from .commands import Args, Engine, helper
from .errors import UsageError
from .knowledge import EXTENSIONS
from .payload import Source, send_bdat, send_data
from .protocol import Command, Reply

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = ["MessageHelpers", "build_message"]

_BARE = {p.name for e in EXTENSIONS.values() for p in e.params if p.shape == "none"}


class MessageHelpers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @helper(":mail ADDR [PARAMS…]", "MAIL FROM:<ADDR> with its parameters checked "
            "(SIZE=, BODY=, SMTPUTF8, RET=, ENVID=, REQUIRETLS…)", min_args=1, max_args=None,
            needs_connection=True)
    async def mail(self, args: Args) -> None:
        address, *params = args.positional
        await self.envelope_line("MAIL", address, params, check=True)

    @helper(":rcpt ADDR… [PARAMS…]", "RCPT TO:<ADDR> for each address (NOTIFY=, ORCPT=…)",
            min_args=1, max_args=None, needs_connection=True)
    async def rcpt(self, args: Args) -> None:
        params = [w for w in args.positional if _is_param(w)]
        addresses = [w for w in args.positional if not _is_param(w)]
        if not addresses:
            raise UsageError(":rcpt needs at least one address", "usage: :rcpt ADDR… [PARAMS…]")
        if await self.checked("RCPT", addresses, params):
            for address in addresses:
                await self.envelope_line("RCPT", address, params)

    async def checked(self, verb: str, addresses: list[str], params: list[str]) -> bool:
        """Every argument free of control characters, every parameter advertised."""
        engine = self.engine
        for text in (*addresses, *params):
            if not await engine.allowed(safety.check_argument(text, f"the argument {text!r}")):
                return False
        return await engine.allowed(safety.check_params(verb, params, engine.state))

    async def envelope_line(self, verb: str, address: str, params: list[str],
                            check: bool = False) -> Reply | None:
        if check and not await self.checked(verb, [address], params):
            return None
        return await self.engine.send_command(self.envelope(verb, address, params))

    def envelope(self, verb: str, address: str, params: list[str]) -> str:
        """`MAIL FROM:<a@b> PARAMS` or `RCPT TO:<a@b> PARAMS`, brackets done right."""
        address = _bare(address)
        if verb == "RCPT" and not address:
            raise UsageError("a recipient needs an address; <> is only for MAIL FROM (a bounce)")
        caps = self.engine.state.capabilities
        if verb == "MAIL" and not address.isascii() and caps and "SMTPUTF8" in caps and \
                "SMTPUTF8" not in (p.upper() for p in params):
            params = [*params, "SMTPUTF8"]  # RFC 6531 §3.4: a UTF-8 address declares it
        keyword = "FROM" if verb == "MAIL" else "TO"
        return " ".join([f"{verb} {keyword}:<{address}>", *params])

    @helper(":data [FILE]", "DATA, then FILE streamed (CRLF-normalised, dot-stuffed, "
            "checked line by line, one final '.'); FILE may be a pipe or - for stdin; "
            "without FILE, type the message", max_args=1, needs_connection=True,
            takes_files=True)
    async def data(self, args: Args) -> None:
        if not args.positional:
            await self.engine.send_command("DATA")
            return
        source = await Source.open(_path(args.positional[0]))
        try:
            await send_data(self.engine, source)
        finally:
            source.close()

    @helper(":bdat FILE", "CHUNKING: FILE in BDAT chunks, the sizes computed, the last "
            "marked LAST; after MAIL … BODY=BINARYMIME the bytes go untouched", min_args=1,
            max_args=1, needs_connection=True, takes_files=True)
    async def bdat(self, args: Args) -> None:
        engine = self.engine
        if not await engine.allowed(safety.helper_needs(
                ":bdat", "CHUNKING", engine.state, "would be refused", "use :data FILE")):
            return
        source = await Source.open(_path(args.positional[0]))
        try:
            await send_bdat(engine, source, binary=engine.state.machine.body == "BINARYMIME")
        finally:
            source.close()

    @helper(":send --from A --to B [--to C…] [--cc C] [--subject S] [--body T | --body-file F]"
            " [--header 'K: V'] [--attach F]",
            "a whole transaction with a well-formed message (Date, Message-ID, MIME)",
            options=("--from=", "--to=*", "--cc=*", "--subject=", "--body=", "--body-file=",
                     "--header=*", "--attach=*"), needs_connection=True, takes_files=True)
    async def send(self, args: Args) -> None:
        composed = build_message(args)
        sender, recipients = composed.sender, composed.recipients
        if not await self.checked("MAIL", [sender, *recipients], []):
            return
        data = composed.message.as_bytes()
        if not await self.engine.allowed(safety.message_bytes(data, self.engine.state)):
            return
        message = Source("the message", data=data, size=len(data))
        caps = self.engine.state.capabilities
        if caps is not None and "PIPELINING" in caps:
            envelope = [self.envelope("MAIL", sender, []),
                        *(self.envelope("RCPT", address, []) for address in recipients)]
            await send_data(self.engine, message, lambda: self._pipelined(envelope))
            return
        reply = await self.envelope_line("MAIL", sender, [])
        if reply is None or reply.code != 250:
            return
        accepted = 0
        for address in recipients:
            reply = await self.envelope_line("RCPT", address, [])
            accepted += reply is not None and reply.code in (250, 251)
        if not accepted:
            await self._give_up("no recipient was accepted")
            return
        await send_data(self.engine, message)

    async def _pipelined(self, envelope: list[str]) -> Reply | None:
        """RFC 2920: MAIL, every RCPT and DATA in one group, one round trip; DATA's
        reply, or None when the group did not go (or the server hung up)."""
        engine = self.engine
        for line in envelope:
            if not await engine.allowed(safety.check_command(line, engine.state, order=False)):
                return None
        replies = await engine.request_all([Command(line) for line in (*envelope, "DATA")])
        reply = replies[-1] if len(replies) == len(envelope) + 1 else None
        if reply is not None and reply.code != 354:
            accepted = any(r.code in (250, 251) for r in replies[1:-1])
            await self._give_up(f"DATA was not accepted ({reply.code})" if accepted
                                else "no recipient was accepted")
        return reply

    async def _give_up(self, why: str) -> None:
        self.engine.note(f"{why}; RSET ends the transaction", "warning")
        await self.engine.request(Command("RSET"), judged=False)


class Composed(NamedTuple):
    message: EmailMessage
    sender: str  # the envelope: bare addresses, Bcc included, never in the headers
    recipients: tuple[str, ...]


def build_message(args: Args) -> Composed:
    """A well-formed message from :send's options, with the `email` package.

    A --header names a field :send would write itself (Subject, Date, …)
    replaces it; Bcc goes to the envelope only; Content-Type text/SUBTYPE
    sets the body's type. Non-ASCII text is sent quoted-printable (7-bit safe).
    """
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import formatdate, getaddresses, make_msgid, parseaddr

    sender = parseaddr(args.value("--from") or "")[1]
    fields = {"From": args.value("--from") or "", "To": ", ".join(args.values("--to")),
              "Cc": ", ".join(args.values("--cc")),
              "Subject": args.value("--subject") or "smtpshell test message",
              "Date": formatdate(localtime=True),
              "Message-ID": make_msgid(domain=sender.rpartition("@")[2] or None)}
    for name, value in map(_header, args.values("--header")):
        known = next((k for k in fields if k.lower() == name.lower()), name)
        fields[known] = value
    bcc, subtype = fields.pop("Bcc", ""), _subtype(fields.pop("Content-Type", ""))
    message = EmailMessage(policy=SMTP)
    try:
        for name, value in fields.items():
            if value:
                _no_controls(value, f"the {name} header")
                message[name] = value
        body = _body(args)
        message.set_content(body, subtype=subtype,
                            cte="7bit" if body.isascii() else "quoted-printable")
    except ValueError as err:  # what the email package refuses, in its words
        raise UsageError(f"cannot build the message: {err}") from None
    for path in args.values("--attach"):
        _attach(message, path)
    listed = [f for f in (fields["To"], fields["Cc"], bcc) if f]  # 3.13 refuses empty fields
    recipients = [a for _, a in getaddresses(listed) if a]
    if not sender or not recipients:
        raise UsageError(":send needs --from and at least one --to",
                         "addresses may be bare or Name <address>")
    return Composed(message, sender, tuple(dict.fromkeys(recipients)))


def _subtype(content_type: str) -> str:
    if not content_type:
        return "plain"
    main, _, sub = content_type.split(";", 1)[0].strip().lower().partition("/")
    if main != "text" or not sub:
        raise UsageError(f"--header Content-Type: {content_type} is not text/…",
                         "the body is text; give other content with --attach")
    return sub


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or " " in name.strip():
        raise UsageError(f"--header {text!r} is not 'Name: value'")
    return name.strip(), value.strip()


def _no_controls(value: str, what: str) -> None:
    problem = safety.control_problem(value)
    if problem:
        raise UsageError(f"{what} holds {problem}; header values may not contain line breaks",
                         "nothing was sent")


def _body(args: Args) -> str:
    path = args.value("--body-file")
    if path is not None and args.value("--body") is not None:
        raise UsageError("give --body or --body-file, not both")
    if path is None:
        return args.value("--body") or "Sent by smtpshell.\n"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read the body file {path}: {err}") from None


def _attach(message: EmailMessage, path: str) -> None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise UsageError(f"cannot read the attachment {path}: {err.strerror}") from None
    import mimetypes

    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    maintype, _, subtype = kind.partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype,
                           filename=os.path.basename(path))


def _bare(address: str) -> str:
    """`<a@b>` or `Name <a@b>` -> `a@b`; anything else as given."""
    address = address.strip()
    if address.endswith(">") and "<" in address:
        return address[address.rindex("<") + 1:-1]
    return address


def _is_param(word: str) -> bool:
    return "=" in word or word.upper() in _BARE


def _path(word: str) -> str:
    """`-` is standard input, as for every Unix tool."""
    return "/dev/stdin" if word == "-" else word

"""Helpers that show what the session knows: :caps, :tls, :cert, :status.

Owns: those four helpers. TLS facts come from the transport (TlsInfo), the
certificate is parsed with cryptography only when asked for.
Must not: send anything to the server.
"""

from __future__ import annotations

from .commands import Args, Engine, helper
from .errors import UsageError
from .knowledge import ENHANCED_CODE
from .render import format_caps, format_cert, format_explain, format_tls
from .tls import summarize

__all__ = ["InfoHelpers"]


class InfoHelpers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @helper(":caps", "the EHLO capabilities, parsed, each explained in a line")
    async def caps(self, args: Args) -> None:
        caps = self.engine.state.capabilities
        if caps is None:
            raise UsageError("no capabilities yet", "send EHLO (or :ehlo) first")
        self.engine.ui.show(format_caps(caps, self.engine.ui.width()))

    @helper(":tls", "TLS protocol, cipher, SNI and the certificate check")
    async def tls(self, args: Args) -> None:
        self.engine.ui.show(format_tls(self.engine.state.tls))

    @helper(":cert [pem | save FILE]", "the server certificate: subject, issuer, names, "
            "validity, key, fingerprint (pem: as PEM; save FILE: write it)", max_args=2,
            takes_files=True)
    async def cert(self, args: Args) -> None:
        tls = self.engine.state.tls
        if tls is None or not tls.peer_der:
            raise UsageError("there is no server certificate: this connection is not TLS",
                             ":starttls first, or connect with --tls")
        ders = [tls.peer_der, *tls.chain_der[1:]]
        summaries = [summarize(der) for der in ders]
        mode = args.positional[0].lower() if args.positional else ""
        if mode == "pem":
            self.engine.note("".join(s.pem for s in summaries).rstrip("\n"))
        elif mode == "save" and len(args.positional) == 2:
            path = args.positional[1]
            try:
                with open(path, "w", encoding="ascii") as handle:
                    handle.write("".join(s.pem for s in summaries))
            except OSError as err:
                raise UsageError(f"cannot write {path}: {err.strerror}") from None
            self.engine.note(f"wrote {len(summaries)} certificate(s) to {path}")
        elif mode == "save":
            raise UsageError(":cert save needs a FILE to write")
        elif mode:
            raise UsageError(f":cert takes pem or save FILE, not {mode!r}")
        else:
            for index, summary in enumerate(summaries):
                self.engine.ui.show(format_cert(
                    summary, "certificate" if index == 0 else f"chain [{index}]",
                    self.engine.ui.width()))
            check = "passed" if tls.verified else tls.verify_error
            self.engine.note(f"verification: {check}")

    @helper(":explain [on|off|CODE [ENHANCED]|ENHANCED]", "reply codes explained (RFC 5321, "
            "RFC 3463 registry); on: a line under every reply; no argument: the last reply",
            max_args=2)
    async def explain(self, args: Args) -> None:
        engine, words = self.engine, list(args.positional)
        if words and words[0].lower() in ("on", "off"):
            engine.state.explain = words[0].lower() == "on"
            engine.note(f"explanations are {words[0].lower()}")
            return
        if not words:
            reply = engine.last_reply
            if reply is None or reply.code is None:
                raise UsageError("no reply to explain yet", ":explain 550 5.7.1, for example")
            words = [str(reply.code)] + ([reply.enhanced] if reply.enhanced else [])
        code, enhanced = _code_words(words)
        engine.ui.show(format_explain(code, enhanced, engine.ui.width()))

    @helper(":status", "connection, TLS, authentication, phase, safe mode, transcript")
    async def status(self, args: Args) -> None:
        engine, state = self.engine, self.engine.state
        peer = f"{state.peer[0]}:{state.peer[1]}" if state.peer else "none"
        lines = [
            "the session:",
            f"connection: {peer} ({'open' if state.connected else 'closed'})",
            f"TLS:        {f'{state.tls.version} {state.tls.cipher}' if state.tls else 'none'}",
            f"EHLO:       {'done' if state.greeted else 'not yet'}",
            f"user:       {state.auth_user or 'not authenticated'}",
            f"phase:      {state.phase.value}"
            + (f", {state.recipients} recipient(s)" if state.recipients else ""),
            f"safe mode:  {'on' if state.safe else 'off'}",
            f"transcript: {engine.transcript.path if engine.transcript else 'off'}",
        ]
        if state.closing:
            lines.append("the server said it is closing the connection")
        if state.out_of_step:
            lines.append("OUT OF STEP: a reply was given up on; :resync, or :reconnect")
        engine.note("\n  ".join(lines))


def _code_words(words: list[str]) -> tuple[int | None, str | None]:
    """'550', '550 5.7.1' or '5.7.26' alone -> (basic code, enhanced code)."""
    first, rest = words[0], words[1:]
    if ENHANCED_CODE.fullmatch(first) and not rest:
        return None, first
    if first.isdigit() and len(first) == 3 and (not rest or ENHANCED_CODE.fullmatch(rest[0])):
        return int(first), rest[0] if rest else None
    raise UsageError(f"{' '.join(words)!r} is not a reply code",
                     "write it as 550, 550 5.7.1, or 5.7.1 alone")

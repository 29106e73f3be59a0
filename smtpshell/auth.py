"""Helpers that do the base64 for you: AUTH in every common mechanism, and
encode/decode-only helpers that send nothing.

Owns: :authplain, :authlogin, :authcram, :xoauth2, :auth, :b64, :unb64,
:b64plain. Each AUTH helper passes the safe mode first (AUTH without TLS
asks), asks for a missing password hidden, shows every line it sends and
every 334 decoded, and answers a challenge it cannot decode with `*`.
Must not: store or print a password except as the user typed it.
"""

from __future__ import annotations

import json

from . import safety
from .commands import Args, Engine, helper
from .errors import UsageError
from .escapes import unescape
from .protocol import Command, Reply, auth_plain, b64, cram_md5, unb64, xoauth2

__all__ = ["PREFERENCE", "AuthHelpers"]

# Strongest first, of those a password can drive (:auth picks the first offered).
PREFERENCE = ("CRAM-MD5", "PLAIN", "LOGIN")
MAX_ROUNDS = 4  # 334 challenges one exchange may take before we cancel it


class AuthHelpers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @helper(":authplain USER [PASS] [--authzid ID]", "AUTH PLAIN with base64(\\0USER\\0PASS)",
            options=("--authzid=",), max_args=2, needs_connection=True,
            secret_from=1)
    async def authplain(self, args: Args) -> None:
        user = self._user(args)
        password = await self._credentials("PLAIN", args)
        if password is not None:
            blob = auth_plain(user, password, args.value("--authzid") or "")
            await self._exchange(Command(f"AUTH PLAIN {blob}", secret=True), [])

    @helper(":authlogin USER [PASS] [--initial]", "AUTH LOGIN, answering both 334 prompts "
            "(--initial sends the user with the command)", options=("--initial",),
            max_args=2, needs_connection=True, secret_from=1)
    async def authlogin(self, args: Args) -> None:
        user = self._user(args)
        password = await self._credentials("LOGIN", args)
        if password is None:
            return
        answers = [Command(b64(password), kind="auth-answer", secret=True)]
        if args.flag("--initial"):
            first = Command(f"AUTH LOGIN {b64(user)}")
        else:
            first = Command("AUTH LOGIN")
            answers.insert(0, Command(b64(user), kind="auth-answer"))
        await self._exchange(first, answers)

    @helper(":authcram USER [PASS]", "AUTH CRAM-MD5: the password never crosses the wire",
            max_args=2, needs_connection=True, secret_from=1)
    async def authcram(self, args: Args) -> None:
        user = self._user(args)
        password = await self._credentials("CRAM-MD5", args)
        if password is None:
            return
        reply = await self.engine.request(Command("AUTH CRAM-MD5"))
        if reply.code != 334:
            return
        try:
            challenge = unb64(reply.texts[0])
        except ValueError:
            await self._cancel("the CRAM-MD5 challenge is not valid base64")
            return
        await self._exchange(Command(cram_md5(user, password, challenge), kind="auth-answer",
                                     secret=True), [])

    @helper(":xoauth2 USER TOKEN", "AUTH XOAUTH2 with an OAuth 2.0 bearer token",
            max_args=2, needs_connection=True, secret_from=1)
    async def xoauth2(self, args: Args) -> None:
        user = self._user(args)
        token = await self._credentials("XOAUTH2", args, what="token")
        if token is None:
            return
        reply = await self.engine.request(Command(f"AUTH XOAUTH2 {xoauth2(user, token)}",
                                                  secret=True))
        if reply.code == 334:  # the error, as base64 JSON; an empty line ends the exchange
            self.engine.note(f"the server says: {_json_error(reply)}", "warning")
            await self.engine.request(Command("", kind="auth-answer"))

    @helper(":auth USER [PASS]", f"AUTH with the strongest mechanism offered "
            f"({', '.join(PREFERENCE)})", max_args=2, needs_connection=True,
            secret_from=1)
    async def auth(self, args: Args) -> None:
        caps = self.engine.state.capabilities
        offered = caps.auth_mechanisms if caps else ()
        choice = next((m for m in PREFERENCE if m in offered), None)
        if choice is None:
            raise UsageError(f"the server offers no mechanism :auth can use "
                             f"({', '.join(offered) or 'no AUTH advertised'})",
                             "send EHLO first (after :starttls), or use a helper by name")
        self.engine.note(f"using {choice}")
        run = {"CRAM-MD5": self.authcram, "PLAIN": self.authplain, "LOGIN": self.authlogin}
        await run[choice](args)

    @helper(":b64 TEXT", "base64 of TEXT (\\0 \\t \\r \\n \\xNN escapes); nothing is sent",
            min_args=1, max_args=None, secret_from=0)
    async def b64(self, args: Args) -> None:
        self.engine.note(b64(unescape(args.raw)))

    @helper(":unb64 BASE64", "decode base64; nothing is sent", min_args=1, max_args=1,
            secret_from=0)
    async def unb64(self, args: Args) -> None:
        try:
            data = unb64(args.positional[0])
        except ValueError as err:
            raise UsageError(str(err)) from None
        text = data.decode("utf-8", "backslashreplace").replace("\0", "\\0")
        self.engine.note(f'"{text}"')

    @helper(":b64plain USER PASS", "the AUTH PLAIN blob for USER and PASS; nothing is sent",
            min_args=2, max_args=2, secret_from=1)
    async def b64plain(self, args: Args) -> None:
        user, password = args.positional
        self.engine.note(f"{auth_plain(user, password)}    (base64 of \\0{user}\\0********)")

    # -- the exchange ----------------------------------------------------------

    def _user(self, args: Args) -> str:
        """USER as given, or the profile's `user` when the helper is typed bare."""
        if args.positional:
            return args.positional[0]
        if self.engine.settings.user:
            return self.engine.settings.user
        raise UsageError("which user?", "give USER, or set user = … in your --profile")

    async def _credentials(self, mechanism: str, args: Args, what: str = "password"
                           ) -> str | None:
        """Pass the safe mode for AUTH, then the password: given, or asked hidden."""
        line = f"AUTH {mechanism}"
        if not await self.engine.allowed(safety.check_command(line, self.engine.state)):
            return None
        user = self._user(args)
        secret: str | None
        if len(args.positional) > 1:
            secret = args.positional[1]
        else:
            secret = await self.engine.ui.secret(f"{what} for {user}: ")
            if not secret:
                self.engine.note(f"no {what} given; nothing was sent")
                return None
        self.engine.state.remember_secret(secret, hidden=len(args.positional) == 1)
        return secret

    async def _exchange(self, first: Command, answers: list[Command]) -> Reply:
        """Send the AUTH command; answer each 334 in turn; cancel a server that keeps asking."""
        reply = await self.engine.request(first)
        rounds = 0
        while reply.code == 334:
            rounds += 1
            if not answers or rounds > MAX_ROUNDS:
                return await self._cancel("the server asked for more than this mechanism sends")
            reply = await self.engine.request(answers.pop(0))
        return reply

    async def _cancel(self, why: str) -> Reply:
        self.engine.note(f"{why}; cancelling the exchange with '*' (RFC 4954 §4)", "warning")
        return await self.engine.request(Command("*", kind="auth-answer"))


def _json_error(reply: Reply) -> str:
    """The XOAUTH2 error: JSON as sent, or at least the decoded text."""
    text = reply.texts[0] if reply.texts else ""
    try:
        decoded = unb64(text).decode("utf-8", "backslashreplace")
    except ValueError:
        return text or "(nothing)"
    try:
        return json.dumps(json.loads(decoded), sort_keys=True)
    except ValueError:
        return decoded

"""Helpers that do the base64 for you: AUTH in every common mechanism, and
encode/decode-only helpers that send nothing.

Owns: :authplain, :authlogin, :authcram, :xoauth2, :auth, :b64, :unb64,
:b64plain. Each AUTH helper passes the safe mode first (AUTH without TLS
asks), asks for a missing password hidden, shows every line it sends and
every 334 decoded, answers a challenge it cannot decode with `*`, and keeps
the AUTH line within 512 octets: a longer initial response (a real OAuth
token) goes after the 334 instead (RFC 4954 §4).
Must not: store or print a password except as the user typed it.
"""

from __future__ import annotations

from collections.abc import Callable

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
            await self._start("PLAIN", blob, [])

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
            await self._start("LOGIN", b64(user), answers, secret=False)
        else:
            await self._start("LOGIN", None, [Command(b64(user), kind="auth-answer"), *answers])

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
        await self._start("XOAUTH2", xoauth2(user, token), [], last_word=self._oauth_error)

    def _oauth_error(self, reply: Reply) -> Command:
        """A 334 after the token carries the error as base64 JSON; an empty line ends it."""
        self.engine.note(f"the server says: {_json_error(reply)}", "warning")
        return Command("", kind="auth-answer")

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
            self.engine.state.remember_secret(secret)
        else:  # asked hidden: it must not show on the screen in any form either
            secret = await self.engine.ask_secret(f"{what} for {user}: ")
            if not secret:
                self.engine.note(f"no {what} given; nothing was sent")
                return None
        return secret

    async def _start(self, mechanism: str, response: str | None, answers: list[Command],
                     secret: bool = True, last_word: Callable[[Reply], Command] | None = None
                     ) -> Reply:
        """AUTH MECH with its initial response, if the line stays within 512 octets;
        else AUTH MECH alone, and the response after the 334 (RFC 4954 §4)."""
        if response is None:
            return await self._exchange(Command(f"AUTH {mechanism}"), answers, last_word)
        line = f"AUTH {mechanism} {response}"
        limit, source = safety.command_limit(line)
        if len(line) + 2 <= limit:
            return await self._exchange(Command(line, secret=secret), answers, last_word)
        self.engine.note(f"with its initial response the AUTH line would be {len(line) + 2} "
                         f"octets, over the {limit} of {source}: the response goes after the "
                         "334 instead (RFC 4954 §4)")
        first_answer = Command(response, kind="auth-answer", secret=secret)
        return await self._exchange(Command(f"AUTH {mechanism}"), [first_answer, *answers],
                                    last_word)

    async def _exchange(self, first: Command, answers: list[Command],
                        last_word: Callable[[Reply], Command] | None = None) -> Reply:
        """Send the AUTH command; answer each 334 in turn; cancel a server that keeps asking.
        `last_word` answers one 334 more (XOAUTH2's error)."""
        reply = await self.engine.request(first)
        rounds = 0
        while reply.code == 334:
            rounds += 1
            if answers and rounds <= MAX_ROUNDS:
                reply = await self.engine.request(answers.pop(0))
            elif last_word is not None:
                reply = await self.engine.request(last_word(reply))
                last_word = None
            else:
                return await self._cancel("the server asked for more than this mechanism sends")
        return reply

    async def _cancel(self, why: str) -> Reply:
        self.engine.note(f"{why}; cancelling the exchange with '*' (RFC 4954 §4)", "warning")
        return await self.engine.request(Command("*", kind="auth-answer"))


def _json_error(reply: Reply) -> str:
    """The XOAUTH2 error: JSON as sent, or at least the decoded text."""
    import json

    text = reply.texts[0] if reply.texts else ""
    try:
        decoded = unb64(text).decode("utf-8", "backslashreplace")
    except ValueError:
        return text or "(nothing)"
    try:
        return json.dumps(json.loads(decoded), sort_keys=True)
    except ValueError:
        return decoded

"""SMTP reply codes as data: the basic three-digit codes and the enhanced status codes.

Owns: what each reply code means to a person debugging a mail server, what to do
next, and where it is defined. Built only from the RFCs and the IANA "Simple Mail
Transfer Protocol (SMTP) Enhanced Status Codes" registry (RFC 5248).
Must not: import anything of the shell, format for the screen, or do I/O.

`EnhancedCode.classes` says which class digits (2, 4, 5) an entry goes with. The
registry keeps one entry per "X.subject.detail"; it states classes only through
the entry's associated basic status codes (5xx means class 5) and its wording
("only useful for permanent failures", "persistent transient"). Both are read
here and joined, with the defining RFC where it says more (RFC 3886 allows only
2.1.9). Where all are silent, all three classes apply, as RFC 3463 §2 makes the
subject and detail valid under every class.
"""

from __future__ import annotations

from dataclasses import dataclass

from .knowledge import ENHANCED_CODE

__all__ = [
    "BASIC_CODES",
    "CLASSES",
    "ENHANCED_CODES",
    "SUBJECTS",
    "BasicCode",
    "EnhancedCode",
    "basic",
    "describe_class",
    "enhanced",
]


@dataclass(frozen=True)
class BasicCode:
    """A three-digit SMTP reply code."""

    code: int  # e.g. 550
    meaning: str  # one line, plain English: what the server is saying
    next_step: str  # one line: what the user should do next
    rfc: str  # e.g. "RFC 5321 §4.2.3"


@dataclass(frozen=True)
class EnhancedCode:
    """An enhanced status code entry of the IANA registry, without its class digit."""

    detail: str  # "subject.detail", e.g. "7.8"
    name: str  # the registry's sample text, e.g. "Authentication credentials invalid"
    meaning: str  # one line, plain English
    next_step: str  # one line: what to do next
    rfc: str  # e.g. "RFC 4954 §6"
    classes: tuple[int, ...]  # the classes (2, 4, 5) the registry gives it


# RFC 3463 §2: the class sub-code.
CLASSES: dict[int, str] = {
    2: "Success: the delivery action worked; the detail may note a change made on the way",
    4: "Persistent transient failure: the message is fine, but a temporary condition "
       "stopped it; sending again later may work",
    5: "Permanent failure: resending the same message will not work; the message or "
       "the destination must change first",
}

# RFC 3463 §2: the subject sub-code.
SUBJECTS: dict[int, str] = {
    0: "Other or undefined: no more detail about the cause",
    1: "Addressing: the sender or recipient address (its syntax or whether it exists)",
    2: "Mailbox: the recipient's mailbox, which its owner controls",
    3: "Mail system: the receiving system, which its administrator controls",
    4: "Network and routing: DNS, routes and connections between the systems",
    5: "Mail delivery protocol: the SMTP conversation itself",
    6: "Message content or media: the message's format, encoding or conversion",
    7: "Security or policy: authentication, encryption, filtering or local policy",
}

_RFC5321 = "RFC 5321 §4.2.3"

BASIC_CODES: dict[int, BasicCode] = {
    b.code: b
    for b in (
        BasicCode(211, "system status, or a reply to a help request",
                  "read the text; nothing else is needed", _RFC5321),
        BasicCode(214, "help text meant for a person to read",
                  "read it; the commands it lists are what this server claims to know", _RFC5321),
        BasicCode(220, "the server is ready (after STARTTLS: start the TLS handshake now)",
                  "send EHLO with your host name", _RFC5321),
        BasicCode(221, "the server is closing the connection, normally after QUIT",
                  "nothing; connect again to send more mail", _RFC5321),
        BasicCode(235, "authentication succeeded",
                  "go on with MAIL FROM", "RFC 4954 §6"),
        BasicCode(250, "the command worked",
                  "go on with the next command of the transaction", _RFC5321),
        BasicCode(251, "the recipient is not local, but the server accepts it and will forward it",
                  "nothing; note the new address if the text gives one", _RFC5321),
        BasicCode(252, "the server will not say whether the mailbox exists, but will try to "
                       "deliver", "send the message; VRFY cannot prove this address", _RFC5321),
        BasicCode(334, "the server waits for the next step of the AUTH exchange (base64 text)",
                  "send the base64 answer, or a line with '*' to cancel", "RFC 4954 §4"),
        BasicCode(354, "the server is ready for the message: headers, a blank line, the body",
                  "type the message and end it with a line holding only '.'", _RFC5321),
        BasicCode(421, "the server is closing this connection (overload, timeout, shutdown "
                       "or too many connections)",
                  "connect again later; if it repeats, send more slowly", _RFC5321),
        BasicCode(432, "a password transition is needed before this AUTH mechanism works",
                  "authenticate once with AUTH PLAIN over TLS, then try this mechanism again",
                  "RFC 4954 §6"),
        BasicCode(450, "the mailbox is unavailable for now (busy, or held back by policy such "
                       "as greylisting)",
                  "try again in a few minutes; a greylisting server accepts the retry", _RFC5321),
        BasicCode(451, "the server hit a temporary error of its own (DNS, disk, a filter)",
                  "try again later; if it lasts, give the reply text to the server's admin",
                  _RFC5321),
        BasicCode(452, "the server is short of storage, or got more recipients than it takes "
                       "at once",
                  "try again later, or split the recipients over several transactions", _RFC5321),
        BasicCode(454, "temporary failure of AUTH or STARTTLS on the server's side",
                  "try again later; do not change the password, it was not the problem",
                  "RFC 4954 §6; RFC 3207"),
        BasicCode(455, "the server cannot honour a MAIL or RCPT parameter right now",
                  "try again later, or leave out the parameter the text names", _RFC5321),
        BasicCode(500, "the server did not understand the command (unknown word or line too "
                       "long)",
                  "check the spelling; EHLO or HELP shows what the server knows", _RFC5321),
        BasicCode(501, "the command is known but its argument is malformed",
                  "fix the argument; addresses go in angle brackets: MAIL FROM:<a@example.com>",
                  _RFC5321),
        BasicCode(502, "the server knows this command but does not implement it",
                  "use another command; EHLO lists the extensions the server has", _RFC5321),
        BasicCode(503, "the command came out of order (RCPT before MAIL, DATA without RCPT, "
                       "or AUTH needed first)",
                  "keep the order EHLO, MAIL, RCPT, DATA; RSET starts the transaction over",
                  _RFC5321),
        BasicCode(504, "the command is known but not with this parameter (e.g. an AUTH "
                       "mechanism it lacks)",
                  "use a parameter the server advertises in its EHLO reply", _RFC5321),
        BasicCode(521, "this host does not accept mail at all",
                  "do not retry here; look up the domain's MX records for its real mail server",
                  "RFC 7504"),
        BasicCode(530, "the server wants authentication (or STARTTLS) before this command",
                  "run STARTTLS if offered, then AUTH, then repeat the command",
                  "RFC 4954 §6; RFC 3207"),
        BasicCode(534, "the AUTH mechanism is weaker than the server allows for this user",
                  "use a stronger mechanism from the EHLO AUTH list, or STARTTLS first",
                  "RFC 4954 §6"),
        BasicCode(535, "authentication failed: the user name, password or token was rejected",
                  "check the user name and password; some servers want the full address as "
                  "the user", "RFC 4954 §6"),
        BasicCode(538, "this AUTH mechanism is allowed only on an encrypted connection",
                  "run STARTTLS (or connect with implicit TLS) and authenticate again",
                  "RFC 4954 §6"),
        BasicCode(550, "refused: no such mailbox, no access, or rejected by policy",
                  "read the text (and enhanced code, if any); check the address, or log in "
                  "before relaying",
                  _RFC5321),
        BasicCode(551, "the recipient is not local here; the server names another address",
                  "send to the address given in the reply text", _RFC5321),
        BasicCode(552, "a storage limit was exceeded (mailbox quota or message size)",
                  "send a smaller message, or tell the recipient the mailbox is full", _RFC5321),
        BasicCode(553, "the mailbox name is not allowed (bad syntax, or a sender you may not use)",
                  "check the address syntax and send from an address you own", _RFC5321),
        BasicCode(554, "the transaction failed; as a greeting: no SMTP service for you here",
                  "read the text (often a block list or policy); do not resend unchanged",
                  _RFC5321),
        BasicCode(555, "a MAIL FROM or RCPT TO parameter is not recognised or not implemented",
                  "drop parameters the server did not advertise in its EHLO reply", _RFC5321),
        BasicCode(556, "the recipient's domain does not accept mail (it publishes a null MX)",
                  "the address cannot receive mail; check the domain for a typo", "RFC 7504"),
    )
}

_OK = (2,)
_TEMP = (4,)
_PERM = (5,)
_FAIL = (4, 5)
_OK_PERM = (2, 5)
_ANY = (2, 4, 5)


def _e(detail: str, classes: tuple[int, ...], rfc: str, name: str, meaning: str,
       next_step: str) -> EnhancedCode:
    return EnhancedCode(detail, name, meaning, next_step, rfc, classes)


# The comment after an entry gives the registry's associated basic status codes.
ENHANCED_CODES: dict[str, EnhancedCode] = {
    e.detail: e
    for e in (
        _e("0.0", _ANY, "RFC 3463 §3.1", "Other undefined Status",
           "no detail: only the class (success, temporary, permanent) is known",
           "read the reply text; it is the only explanation given"),  # any
        _e("1.0", _ANY, "RFC 3463 §3.2", "Other address status",
           "something about an address caused this",
           "check both the sender and the recipient address"),
        _e("1.1", _FAIL, "RFC 3463 §3.2", "Bad destination mailbox address",
           "the recipient mailbox does not exist (the part left of '@' is wrong)",
           "check the spelling of the recipient address, or ask the person for it"),  # 451, 550
        _e("1.2", _PERM, "RFC 3463 §3.2", "Bad destination system address",
           "the recipient's domain does not exist or cannot take mail",
           "check the domain for a typo and that it has MX records"),
        _e("1.3", _PERM, "RFC 3463 §3.2", "Bad destination mailbox address syntax",
           "the recipient address is not a valid address",
           "write it as RCPT TO:<user@example.com>, no spaces or stray characters"),  # 501
        _e("1.4", _ANY, "RFC 3463 §3.2", "Destination mailbox address ambiguous",
           "the address matches more than one mailbox on the server",
           "use the recipient's exact, full address"),
        _e("1.5", _OK, "RFC 3463 §3.2", "Destination address valid",
           "the recipient address is accepted",
           "nothing; add more recipients or send DATA"),  # 250
        _e("1.6", _PERM, "RFC 3463 §3.2", "Destination mailbox has moved, No forwarding address",
           "the address used to exist but no longer takes mail",
           "remove it from your list; find the person's new address another way"),
        _e("1.7", _ANY, "RFC 3463 §3.2", "Bad sender's mailbox address syntax",
           "the sender (MAIL FROM) address is not a valid address",
           "write it as MAIL FROM:<you@example.com>, or <> for a bounce"),
        _e("1.8", _FAIL, "RFC 3463 §3.2", "Bad sender's system address",
           "the sender's domain does not exist or cannot take replies",
           "send from a domain with working DNS (MX or A records)"),  # 451, 501
        _e("1.9", _OK, "RFC 3886 §3.3.4", "Message relayed to non-compliant mailer",
           "the address was valid, but the message went on to a system that cannot report back",
           "nothing to fix; no further tracking is possible past that system"),
        _e("1.10", _PERM, "RFC 7505", "Recipient address has null MX",
           "the recipient's domain says in DNS (null MX) that it accepts no mail",
           "the address cannot receive mail; check the domain for a typo"),  # 556
        _e("2.0", _ANY, "RFC 3463 §3.3", "Other or undefined mailbox status",
           "the mailbox exists, but something about it caused this",
           "read the reply text; contact the recipient another way if it persists"),
        _e("2.1", _FAIL, "RFC 3463 §3.3", "Mailbox disabled, not accepting messages",
           "the mailbox exists but is switched off, for now or for good",
           "contact the recipient another way; retry later only if the code is 4.2.1"),
        _e("2.2", _FAIL, "RFC 3463 §3.3", "Mailbox full",
           "the recipient's mailbox is over its quota",
           "retry later, or tell the recipient another way to clear space"),  # 552
        _e("2.3", _PERM, "RFC 3463 §3.3", "Message length exceeds administrative limit",
           "the message is larger than this mailbox accepts",
           "send a smaller message, or share big files by link"),  # 552
        _e("2.4", _FAIL, "RFC 3463 §3.3", "Mailing list expansion problem",
           "the address is a mailing list that could not be expanded",
           "tell the list owner; retry later if the code is 4.2.4"),  # 450, 452
        _e("3.0", _ANY, "RFC 3463 §3.4", "Other or undefined mail system status",
           "something about the receiving system caused this",
           "read the reply text; if it is a failure, retry later or ask its admin"),
        # 221, 250, 421, 451, 550, 554
        _e("3.1", _TEMP, "RFC 3463 §3.4", "Mail system full",
           "the receiving system is out of storage",
           "retry later; the admin there has to free space"),  # 452
        _e("3.2", _FAIL, "RFC 3463 §3.4", "System not accepting network messages",
           "the receiving host refuses mail (shutting down, overloaded, or maintenance)",
           "retry later; if permanent, check the domain's MX records"),  # 453, 521
        _e("3.3", _ANY, "RFC 3463 §3.4", "System not capable of selected features",
           "the receiving system lacks a feature the message asked for",
           "send again without the extension or option that was refused"),
        _e("3.4", _PERM, "RFC 3463 §3.4", "Message too big for system",
           "the message is larger than the server's size limit",
           "check the SIZE value in the EHLO reply and send a smaller message"),  # 552, 554
        _e("3.5", _ANY, "RFC 3463 §3.4", "System incorrectly configured",
           "the receiving system is misconfigured and cannot take this message",
           "tell the receiving domain's admin; nothing on your side will fix it"),
        _e("3.6", _OK, "RFC 6710", "Requested priority was changed",
           "accepted, but at another priority than the MT-PRIORITY asked for",
           "nothing; the reply text gives the priority used"),  # 250
        _e("4.0", _ANY, "RFC 3463 §3.5", "Other or undefined network or routing status",
           "something went wrong with the network or routing",
           "retry later; check DNS and the route to the destination"),
        _e("4.1", _TEMP, "RFC 3463 §3.5", "No answer from host",
           "the next mail server did not answer the connection",
           "retry later; check the destination's MX hosts and firewalls"),  # 451
        _e("4.2", _TEMP, "RFC 3463 §3.5", "Bad connection",
           "the connection broke or timed out during the transaction",
           "retry; if it repeats, look for network trouble or timeouts"),  # 421
        _e("4.3", _FAIL, "RFC 3463 §3.5", "Directory server failure",
           "a directory server, usually DNS, could not be reached",
           "retry later; check that the server's DNS resolver works"),  # 451, 550
        _e("4.4", _FAIL, "RFC 3463 §3.5", "Unable to route",
           "no route to the destination could be found in DNS (e.g. no MX or A record)",
           "check the domain's MX and A/AAAA records"),
        _e("4.5", _TEMP, "RFC 3463 §3.5", "Mail system congestion",
           "the mail system is congested",
           "retry later and send more slowly"),  # 451
        _e("4.6", _TEMP, "RFC 3463 §3.5", "Routing loop detected",
           "the message went round in circles (too many hops)",
           "check MX records and forwarding rules for a loop"),
        _e("4.7", _ANY, "RFC 3463 §3.5", "Delivery time expired",
           "the message waited in a queue too long and was given up",
           "find out why earlier attempts failed, fix that, then send again"),
        _e("5.0", _ANY, "RFC 3463 §3.6", "Other or undefined protocol status",
           "something went wrong in the SMTP exchange",
           "read the reply text; check the command you just sent"),
        # 220, 250-253, 451, 452, 454, 458, 459, 501-503, 554
        _e("5.1", _FAIL, "RFC 3463 §3.6", "Invalid command",
           "the command is out of sequence or not supported",
           "keep the order EHLO, MAIL, RCPT, DATA; use only advertised extensions"),
        # 430, 500, 501, 503, 530, 550, 554, 555
        _e("5.2", _PERM, "RFC 3463 §3.6", "Syntax error",
           "the server could not parse the command",
           "check the spelling and the argument syntax"),  # 500, 501, 502, 550, 555
        _e("5.3", _TEMP, "RFC 3463 §3.6", "Too many recipients",
           "more recipients than the server takes in one transaction",
           "send the rest in another transaction after this one"),  # 451
        _e("5.4", _FAIL, "RFC 3463 §3.6", "Invalid command arguments",
           "a valid command got an argument out of range or unknown",
           "check the parameters against the EHLO reply"),  # 451, 501-504, 550, 555
        _e("5.5", _ANY, "RFC 3463 §3.6", "Wrong protocol version",
           "the two sides disagree on the protocol version",
           "use EHLO (or HELO for an old server) and plain SMTP"),
        _e("5.6", _FAIL, "RFC 4954 §6", "Authentication Exchange line is too long",
           "an AUTH response line was longer than the server accepts",
           "use a shorter credential or another mechanism"),  # 500
        _e("6.0", _ANY, "RFC 3463 §3.7", "Other or undefined media error",
           "something about the message content caused this",
           "read the reply text; check the message headers and encoding"),
        _e("6.1", _PERM, "RFC 3463 §3.7", "Media not supported",
           "the message's content type or encoding is not supported on the way",
           "send the content in a more common format or encoding"),
        _e("6.2", _ANY, "RFC 3463 §3.7", "Conversion required and prohibited",
           "the content must be converted to be delivered, but conversion is forbidden",
           "send it in a form the destination takes directly (e.g. 7-bit safe)"),
        _e("6.3", _PERM, "RFC 3463 §3.7", "Conversion required but not supported",
           "the content must be converted (e.g. 8-bit to 7-bit) but no one on the way can",
           "encode the body as quoted-printable or base64 and send again"),  # 554
        _e("6.4", _OK_PERM, "RFC 3463 §3.7", "Conversion with loss performed",
           "the message was converted and some content was lost on the way",
           "check what arrived; send in a simpler format if the loss matters"),  # 250
        _e("6.5", _FAIL, "RFC 3463 §3.7", "Conversion Failed",
           "a needed conversion of the content failed",
           "simplify the message's structure or encoding and send again"),
        _e("6.6", _FAIL, "RFC 4468 §5", "Message content not available",
           "the server could not fetch the message content (BURL) from the remote system",
           "check the URL and the IMAP server it points to"),  # 554
        _e("6.7", _PERM, "RFC 6531 §4.2", "Non-ASCII addresses not permitted for that "
           "sender/recipient", "the server does not accept a non-ASCII (internationalised) "
           "address here", "use an ASCII address, or a server that offers SMTPUTF8"),
        # 550, 553
        _e("6.8", _OK_PERM, "RFC 6531 §4.2", "UTF-8 string reply is required, but not "
           "permitted by the SMTP client",
           "the answer contains UTF-8, but the client did not ask for SMTPUTF8",
           "repeat the command with the SMTPUTF8 parameter, if the server offers it"),
        # 252, 550, 553
        _e("6.9", _PERM, "RFC 6531 §4.2", "UTF-8 header message cannot be transferred to one "
           "or more recipients, so the message must be rejected",
           "the message has UTF-8 headers and a server on the way lacks SMTPUTF8",
           "send with ASCII-only headers and addresses"),  # 550
        # the registry gives X.6.10 no classes; it takes those of X.6.8, which it duplicates
        _e("6.10", _OK_PERM, "RFC 6531 §4.2", "(deprecated: duplicate of X.6.8)",
           "the old code for a needed but refused UTF-8 reply, now replaced by X.6.8",
           "treat it as X.6.8: use SMTPUTF8 if the server offers it"),
        _e("7.0", _ANY, "RFC 3463 §3.8", "Other or undefined security status",
           "a security or policy rule applied (2.7.0 after AUTH means success)",
           "read the reply text; you may need STARTTLS or AUTH first"),
        # 220, 235, 450, 454, 500, 501, 503, 504, 530, 535, 550
        _e("7.1", _FAIL, "RFC 3463 §3.8", "Delivery not authorized, message refused",
           "policy refused the message: relaying denied, sender blocked, or spam filter",
           "log in before relaying; otherwise read the text for the block list or rule"),
        # 451, 454, 502, 503, 533, 550, 551
        _e("7.2", _PERM, "RFC 3463 §3.8", "Mailing list expansion prohibited",
           "you are not allowed to send to this mailing list",
           "ask the list owner to let you post, or subscribe first"),  # 550
        _e("7.3", _PERM, "RFC 3463 §3.8", "Security conversion required but not possible",
           "the message's security format could not be converted for delivery",
           "send it with a security format the destination supports"),
        _e("7.4", _PERM, "RFC 3463 §3.8", "Security features not supported",
           "a requested security feature is not supported here",
           "leave the feature out, or use one the server advertises"),  # 504
        _e("7.5", _ANY, "RFC 3463 §3.8", "Cryptographic failure",
           "a key or certificate needed to check or decrypt the message is missing or bad",
           "check the keys and certificates involved"),
        _e("7.6", _ANY, "RFC 3463 §3.8", "Cryptographic algorithm not supported",
           "the message uses a cryptographic algorithm the system does not support",
           "use a more common algorithm"),
        _e("7.7", _ANY, "RFC 3463 §3.8", "Message integrity failure",
           "the message was altered or corrupted on the way, so it failed validation",
           "send again; look for a relay that rewrites the message"),
        _e("7.8", _PERM, "RFC 4954 §6", "Authentication credentials invalid",
           "authentication failed: the user name, password or token was rejected",
           "check the user name and password; some servers want the full address as the user"),
        # 535, 554
        _e("7.9", _PERM, "RFC 4954 §6", "Authentication mechanism is too weak",
           "the AUTH mechanism is weaker than the server allows for this user",
           "pick a stronger mechanism from the EHLO AUTH list"),  # 534
        _e("7.10", _PERM, "RFC 5248 §2.4", "Encryption Needed",
           "this AUTH mechanism needs an encrypted connection",
           "run STARTTLS first, or use a stronger mechanism"),  # 523
        _e("7.11", _PERM, "RFC 4954 §6", "Encryption required for requested authentication "
           "mechanism", "this AUTH mechanism is allowed only over TLS",
           "run STARTTLS (or use implicit TLS) and authenticate again"),  # 524, 538
        _e("7.12", _TEMP, "RFC 4954 §6", "A password transition is needed",
           "log in once with PLAIN before this AUTH mechanism will work",
           "authenticate once with AUTH PLAIN over TLS, then retry"),  # 422, 432
        _e("7.13", _PERM, "RFC 5248 §2.4", "User Account Disabled",
           "the login worked but the account is disabled",
           "contact the mail provider's administrator; retyping the password will not help"),
        # 525
        _e("7.14", _PERM, "RFC 5248 §2.4", "Trust relationship required",
           "the submission server needs a trust set up with a third-party server (e.g. BURL)",
           "send the message content directly instead of by reference"),  # 535, 554
        _e("7.15", _FAIL, "RFC 6710", "Priority Level is too low",
           "the MT-PRIORITY asked for is below what the server takes now",
           "retry later, or send with a higher priority if you may"),  # 450, 550, 4xx, 5xx
        _e("7.16", _FAIL, "RFC 6710", "Message is too big for the specified priority",
           "the message is too large for the MT-PRIORITY asked for",
           "send a smaller message, or retry later"),  # 552, 4xx, 5xx
        _e("7.17", _PERM, "RFC 7293", "Mailbox owner has changed",
           "the mailbox has had a new owner since the RRVS date you gave",
           "confirm the person's address before sending again"),  # 5xx
        _e("7.18", _PERM, "RFC 7293", "Domain owner has changed",
           "the recipient's domain has had a new owner since the RRVS date you gave",
           "confirm the person's address before sending again"),  # 5xx
        _e("7.19", _PERM, "RFC 7293", "RRVS test cannot be completed",
           "the server cannot check the RRVS date: it has no record of it",
           "decide whether to send again without RRVS"),  # 5xx
        _e("7.20", _PERM, "RFC 7372 §3.1", "No passing DKIM signature found",
           "the message has no DKIM signature that verifies",
           "sign outgoing mail with DKIM and check the public key in DNS"),  # 550
        _e("7.21", _PERM, "RFC 7372 §3.1", "No acceptable DKIM signature found",
           "a DKIM signature verified, but none is acceptable to the receiver",
           "sign with your own domain's key and a strong algorithm"),  # 550
        _e("7.22", _PERM, "RFC 7372 §3.1", "No valid author-matched DKIM signature found",
           "no valid DKIM signature matches the From address's domain",
           "sign with a key of the domain in the From header"),  # 550
        _e("7.23", _PERM, "RFC 7372 §3.2", "SPF validation failed",
           "the sending IP is not allowed by the sender domain's SPF record",
           "add this server to the domain's SPF record, or send through an allowed one"),
        # 550
        _e("7.24", _FAIL, "RFC 7372 §3.2", "SPF validation error",
           "checking SPF failed with an error (bad record or DNS failure)",
           "check the SPF record's syntax and DNS lookup count"),  # 451, 550
        _e("7.25", _PERM, "RFC 7372 §3.3", "Reverse DNS validation failed",
           "the sending IP's reverse DNS (PTR) is missing or does not match",
           "set a PTR record for the IP that resolves back to the same IP"),  # 550
        _e("7.26", _PERM, "RFC 7372 §3.4", "Multiple authentication checks failed",
           "more than one check (SPF, DKIM, ...) failed",
           "fix SPF and DKIM so they pass and align with the From domain"),  # 550
        _e("7.27", _PERM, "RFC 7505", "Sender address has null MX",
           "the sender's domain says in DNS (null MX) that it accepts no mail",
           "send from a domain that can receive replies and bounces"),  # 550
        # basic codes for X.7.28 not confirmed from the registry; a flood is never a success
        _e("7.28", _FAIL, "RFC 5248 registry entry; no RFC defines it", "Mail flood detected",
           "the message looks like part of a flood of similar abusive messages",
           "stop sending, check for abuse or a loop, then send more slowly"),
        _e("7.29", _PERM, "RFC 8617", "ARC validation failure",
           "the message failed ARC (Authenticated Received Chain) validation",
           "check the ARC headers added by forwarders on the way"),  # 550
        _e("7.30", _PERM, "RFC 8689", "REQUIRETLS support required",
           "the message requires REQUIRETLS, but a server on the way does not offer it",
           "send without REQUIRETLS, or through servers that support it"),  # 550
    )
}


_SEVERITY: dict[str, str] = {
    "2": "Success (2yz): the command was accepted and done.",
    "3": "More input needed (3yz): the command was accepted and the server waits for the "
         "rest (message text after DATA, the next AUTH step).",
    "4": "Transient failure (4yz): nothing was done, but the same command may work if "
         "tried again later.",
    "5": "Permanent failure (5yz): nothing was done, and repeating the same command "
         "unchanged will fail again.",
}

_CATEGORY: dict[str, str] = {
    "0": "It is about syntax: a malformed, unknown or unimplemented command.",
    "1": "It gives information, such as status or help.",
    "2": "It is about the connection (the transmission channel).",
    "3": "Its category (x3z) is left unspecified by RFC 5321 §4.2.1.",
    "4": "Its category (x4z) is left unspecified by RFC 5321 §4.2.1.",
    "5": "It is about the mail system: the mailbox, the message or the transfer.",
}


def basic(code: int) -> BasicCode | None:
    """The entry for exactly this reply code, or None."""
    return BASIC_CODES.get(code)


def enhanced(code: str) -> EnhancedCode | None:
    """The entry for a full enhanced code such as "5.7.8", or None.

    None also when the class is not one the registry gives that entry
    (e.g. "2.7.8"), and for anything malformed or unregistered.
    """
    match = ENHANCED_CODE.fullmatch(code.strip())
    if match is None:
        return None
    entry = ENHANCED_CODES.get(f"{match.group(2)}.{match.group(3)}")
    if entry is None or int(match.group(1)) not in entry.classes:
        return None
    return entry


def describe_class(code: int) -> str:
    """A sentence about any reply code from its first two digits (RFC 5321 §4.2.1)."""
    digits = str(code)
    if len(digits) != 3 or digits[0] not in _SEVERITY:
        return f"{code} is not an SMTP reply code: RFC 5321 §4.2 uses 200 to 559."
    category = _CATEGORY.get(
        digits[1], f"Its second digit ({digits[1]}) is outside RFC 5321's categories x0z-x5z.")
    return f"{_SEVERITY[digits[0]]} {category}"

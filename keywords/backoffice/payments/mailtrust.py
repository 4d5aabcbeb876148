"""Which mails may carry a payment: configured senders whose DKIM signature verifies.

A statement or a payment notification attached to a mail is evidence of money only when we
can tell the bank sent it. Anyone can put a bank's address in ``From``; only the bank's
mail server can sign for its domain. So a mail counts when all of these hold:

- it has exactly one ``From`` address, and that address is one of ``PAYMENT_SENDERS``
  (``powiadomienia@bank.pl`` or ``*@bank.pl``);
- it carries a DKIM signature that verifies (dkimpy) for the ``From`` domain or a parent
  of it (the alignment DMARC asks for: a valid signature of another domain proves nothing
  about this sender);
- that signature covers ``From`` and ``Content-Type`` (so the parts cannot be re-cut) and
  the whole body (no ``l=`` tag: a body length lets anyone append an attachment).

Anything else is refused with its reason and never counts as a payment. The public key is
looked up in DNS by dkimpy (dnspython); tests and closed networks pass ``dnsfunc`` instead.
A DNS failure is not a verdict: ``DnsUnavailable`` says to try again later.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dkim
from dkim.dnsplug import get_txt

from backoffice.errors import ApplicationError

#: Refusal codes.
FROM_AMBIGUOUS = "PAYMENT_MAIL_FROM_AMBIGUOUS"
SENDER_NOT_CONFIGURED = "PAYMENT_MAIL_SENDER_NOT_CONFIGURED"
UNSIGNED = "PAYMENT_MAIL_UNSIGNED"
BAD_SIGNATURE = "PAYMENT_MAIL_BAD_SIGNATURE"
DOMAIN_MISMATCH = "PAYMENT_MAIL_DOMAIN_MISMATCH"
PARTIAL_SIGNATURE = "PAYMENT_MAIL_PARTIAL_SIGNATURE"

DnsFunc = Callable[..., bytes | None]
#: Headers a trusted signature must cover, when the mail has them.
_MUST_SIGN = (b"from", b"content-type")


class DnsUnavailable(ApplicationError):
    """The signer's public key could not be looked up (DNS down or timing out)."""

    code = "PAYMENT_MAIL_DNS_UNAVAILABLE"


@dataclass(frozen=True)
class MailVerdict:
    """Whether a mail may carry a payment, and why not when it may not."""

    trusted: bool
    sender: str
    code: str = ""
    reason: str = ""
    domain: str = ""
    selector: str = ""


def sender_allowed(address: str, senders: Sequence[str]) -> bool:
    """``address`` is one of ``senders`` (exact, or ``*@domain``); case-insensitive."""
    address = address.lower()
    domain = address.rpartition("@")[2]
    return any(
        entry == address or (entry.startswith("*@") and entry[2:] == domain) for entry in senders
    )


def check_mail(raw: bytes, senders: Sequence[str], dnsfunc: DnsFunc | None = None) -> MailVerdict:
    """The verdict on one raw mail (RFC 5322 bytes) for ``senders`` (see module doc)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    froms = message.get_all("From") or []
    addresses = [addr for _name, addr in email.utils.getaddresses([str(f) for f in froms]) if addr]
    if len(froms) != 1 or len(addresses) != 1 or "@" not in addresses[0]:
        return MailVerdict(
            False,
            ", ".join(addresses),
            FROM_AMBIGUOUS,
            f"the mail has {len(froms)} From headers naming {len(addresses)} addresses; a "
            "payment mail must name exactly one sender",
        )
    sender = addresses[0].lower()
    if not sender_allowed(sender, senders):
        return MailVerdict(
            False,
            sender,
            SENDER_NOT_CONFIGURED,
            f"{sender} is not one of the configured payment senders (BACKOFFICE_PAYMENT_SENDERS"
            f"{': ' + ', '.join(senders) if senders else ' is empty'}); its statement does not "
            "count as a payment",
        )
    signatures = message.get_all("DKIM-Signature") or []
    if not signatures:
        return MailVerdict(
            False,
            sender,
            UNSIGNED,
            f"the mail from {sender} has no DKIM signature, so nothing shows the bank sent it; "
            "its statement does not count as a payment",
        )
    return _verify(raw, sender, len(signatures), dnsfunc)


def _verify(raw: bytes, sender: str, count: int, dnsfunc: DnsFunc | None) -> MailVerdict:
    from_domain = sender.rpartition("@")[2]
    lookup = _Lookup(dnsfunc or get_txt)
    checker = dkim.DKIM(raw)
    refusals: list[MailVerdict] = []
    for index in range(count):
        try:
            prepared = checker.verify_headerprep(index)
        except dkim.DKIMException as exc:
            refusals.append(
                _refused(sender, BAD_SIGNATURE, f"its DKIM signature is malformed: {exc}")
            )
            continue
        if not prepared:
            continue
        sig, include_headers, _headers = prepared
        domain = sig.get(b"d", b"").decode("ascii", "replace").lower().rstrip(".")
        selector = sig.get(b"s", b"").decode("ascii", "replace")
        if not (from_domain == domain or from_domain.endswith("." + domain)):
            refusals.append(
                _refused(
                    sender,
                    DOMAIN_MISMATCH,
                    f"its DKIM signature is by {domain}, not by the sender's domain "
                    f"{from_domain}; a signature of another domain says nothing about the sender",
                    domain,
                    selector,
                )
            )
            continue
        if b"l" in sig:
            refusals.append(
                _refused(
                    sender,
                    PARTIAL_SIGNATURE,
                    "its DKIM signature covers only the first part of the body (l= tag), so "
                    "anything after it (an attachment) may have been added by someone else",
                    domain,
                    selector,
                )
            )
            continue
        missing = [h.decode() for h in _MUST_SIGN if _has(raw, h) and h not in include_headers]
        if missing:
            refusals.append(
                _refused(
                    sender,
                    BAD_SIGNATURE,
                    f"its DKIM signature does not cover {', '.join(missing)}",
                    domain,
                    selector,
                )
            )
            continue
        try:
            ok = checker.verify(index, dnsfunc=lookup)
        except dkim.DKIMException as exc:
            ok, detail = False, str(exc)
        else:
            detail = "the signed headers or the body were changed after signing, or the key "
            detail += "in DNS is not the one that signed"
        if lookup.failed:
            raise DnsUnavailable(
                f"the DKIM key {selector}._domainkey.{domain} could not be looked up "
                f"({lookup.failed}); the mail from {sender} is checked again on the next run"
            )
        if ok:
            return MailVerdict(True, sender, domain=domain, selector=selector)
        refusals.append(
            _refused(
                sender,
                BAD_SIGNATURE,
                f"its DKIM signature by {domain} does not verify: {detail}",
                domain,
                selector,
            )
        )
    if not refusals:
        return MailVerdict(False, sender, UNSIGNED, f"the mail from {sender} has no DKIM signature")
    first = refusals[0]
    return MailVerdict(
        False,
        sender,
        first.code,
        f"the mail from {sender} does not count as a payment: {first.reason}",
        first.domain,
        first.selector,
    )


def _refused(
    sender: str, code: str, reason: str, domain: str = "", selector: str = ""
) -> MailVerdict:
    return MailVerdict(False, sender, code, reason, domain, selector)


def _has(raw: bytes, header: bytes) -> bool:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return any(
        line.split(b":", 1)[0].strip().lower() == header
        for line in head.splitlines()
        if line[:1] not in (b" ", b"\t")
    )


class _Lookup:
    """The DNS lookup dkimpy calls, noting a failure so it is not taken for a bad signature."""

    def __init__(self, dnsfunc: DnsFunc) -> None:
        self._dnsfunc = dnsfunc
        self.failed = ""

    def __call__(self, name: bytes, timeout: float = 5) -> bytes | None:
        try:
            return self._dnsfunc(name, timeout=timeout)
        except dkim.DnsTimeoutError as exc:
            self.failed = str(exc) or "timeout"
            raise

"""Bounces (DSN) read back from the mailbox and turned into exceptions.

Three steps, in two places:

1. *detect* (:func:`detect_bounce`, in intake's reader processes): a cheap look at the
   headers picks the few messages that may be delivery reports; only those are parsed
   again. Standard reports (RFC 3464 ``multipart/report; report-type=delivery-status``,
   as Postfix, Exim, Exchange and Gmail send them) are read field by field with the
   standard library (Final-Recipient, Action, Status, Diagnostic-Code, and the original
   message's Message-ID from its ``message/rfc822`` or ``text/rfc822-headers`` part);
   for the others (qmail, old Exim, provider formats) flufl.bounce, Mailman's bounce
   detectors, finds the failed recipients. The result, :class:`Bounce`, is small and
   picklable.
2. *match* (:func:`match_outbox`): to the outbox row by the original Message-ID (ours
   are derived from the idempotency key, so they are unique), else by the failed
   recipient among the mails sent in the last :data:`MATCH_DAYS` days, when exactly one
   fits.
3. *record* (:func:`record_bounce`, in intake's transaction for the batch): a permanent
   failure makes the row ``bounced`` with an event and an ``OUTBOX_BOUNCED`` review item;
   a delay is an event only; a report that matches nothing is a ``BOUNCE_UNMATCHED``
   review item on the stored message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from email.utils import parseaddr
from typing import Any

from flufl.bounce import all_failures
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.outbox.compose import envelope_address, normalise_message_id
from backoffice.outbox.service import BOUNCED, IN_DOUBT, SENT, _event, _review
from backoffice.store.models import OutboxMessage, ReviewItem

log = logging.getLogger(__name__)
# flufl.bounce logs one INFO line per detector it tries: noise in a robot's log.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

#: Event status of a delivery report that says the mail is delayed (the row stays as is).
DELAYED = "delayed"
#: Review codes.
OUTBOX_BOUNCED = "OUTBOX_BOUNCED"
BOUNCE_UNMATCHED = "BOUNCE_UNMATCHED"
#: Reason code of a stored message that is a delivery report.
BOUNCE = "BOUNCE"
#: How far back a bounce without the original Message-ID is matched by its recipient.
MATCH_DAYS = 30
#: Longest diagnostic kept per recipient.
MAX_DIAGNOSTIC = 1000

_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_ORIGINAL_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_ORIGINAL_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/global-headers"})
_BOUNCE_SENDER = re.compile(
    r"^(mailer[-_.]?daemon|postmaster|mail[-_.]?delivery[-_.]?(subsystem|system)?|"
    r"mdaemon|mail[-_.]?router|bounces?)@",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed|failed|incomplete|delayed|notification)|"
    r"failure notice|returned mail|mail delivery failed|could not be delivered|"
    r"non[- ]?delivery|not delivered|"
    r"niedostarcz|nie dostarczono|nie można dostarczyć|"
    r"не доставлен|недоставлен|невозможно доставить|ошибка доставки",
    re.IGNORECASE,
)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID_LINE = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")


@dataclass(frozen=True)
class BounceRecipient:
    """What a delivery report says about one recipient."""

    address: str
    #: failed | delayed | delivered | relayed | expanded (RFC 3464 Action)
    action: str
    #: RFC 3463 status code such as ``5.1.1``; empty when the report gives none.
    status: str
    #: The remote server's answer, e.g. ``smtp; 550 5.1.1 user unknown``.
    diagnostic: str

    def describe(self) -> str:
        """One line: address, code and diagnostic."""
        parts = [self.address, self.status, self.diagnostic]
        return ": ".join(p for p in parts if p)


@dataclass(frozen=True)
class Bounce:
    """A delivery report found in an incoming message (plain data, sent between processes)."""

    recipients: tuple[BounceRecipient, ...]
    #: Message-ID of the mail it reports on, from its attached copy or headers.
    original_message_id: str = ""
    original_subject: str = ""
    #: In-Reply-To and References of the report itself (some servers thread it).
    reference_ids: tuple[str, ...] = ()
    reporting_mta: str = ""
    #: True for an RFC 3464 report, False for one recognised by its text.
    standard: bool = True

    @property
    def failed(self) -> tuple[BounceRecipient, ...]:
        """Recipients that failed for good."""
        return tuple(r for r in self.recipients if r.action == "failed")

    @property
    def delayed(self) -> tuple[BounceRecipient, ...]:
        """Recipients the mail is still on its way to."""
        return tuple(r for r in self.recipients if r.action == "delayed")

    def summary(self) -> str:
        """The message's reason line: what the report says, about which mail."""
        if self.failed:
            what = "delivery failed for " + "; ".join(r.describe() for r in self.failed)
        elif self.delayed:
            what = "delivery delayed for " + "; ".join(r.describe() for r in self.delayed)
        elif self.recipients:
            what = "delivery report: " + "; ".join(
                f"{r.action} {r.address}" for r in self.recipients
            )
        else:
            what = "delivery report naming no recipient"
        about = f" (about {self.original_message_id})" if self.original_message_id else ""
        return f"A delivery report, not a document: {what}{about}."


# --- detect --------------------------------------------------------------------------


def might_be_bounce(content_type: str, sender: str, subject: str, return_path: str) -> bool:
    """Cheap test on a few headers: False means surely not a delivery report."""
    ctype = content_type.lower()
    if "multipart/report" in ctype and "delivery-status" in ctype:
        return True
    if _BOUNCE_SENDER.match(sender or ""):
        return True
    if _BOUNCE_SUBJECT.search(subject or ""):
        return True
    return return_path.strip() == "<>" and "multipart/report" in ctype


def detect_bounce(
    raw: bytes,
    *,
    content_type: str,
    sender: str,
    subject: str,
    return_path: str = "",
    reference_ids: Sequence[str] = (),
) -> Bounce | None:
    """The delivery report in ``raw``, or None when it is not one. Never raises.

    The header values are those the intake parser already read, so ordinary mail costs
    a few string tests. A standard report is always a :class:`Bounce`, also when no
    recipient could be read from it (its attachments are our own mail coming back).
    """
    if not might_be_bounce(content_type, sender, subject, return_path):
        return None
    standard = "delivery-status" in content_type.lower()
    try:
        # compat32: the object model flufl.bounce's detectors are written against.
        msg = message_from_bytes(raw, policy=compat32)
        return _detect(msg, tuple(reference_ids))
    except Exception:  # bad input must not stop intake: read it as mail, or an empty report
        log.warning("a possible delivery report could not be read", exc_info=True)
        return Bounce((), reference_ids=tuple(reference_ids)) if standard else None


def _detect(msg: Message, reference_ids: tuple[str, ...]) -> Bounce | None:
    recipients, reporting_mta, standard = _dsn_recipients(msg)
    if not any(r.action in ("failed", "delayed") for r in recipients):
        recipients = _merge(recipients, _heuristic_recipients(msg))
    if not recipients and not standard:
        return None
    original_id, original_subject = _original_headers(msg)
    return Bounce(
        recipients=tuple(recipients),
        original_message_id=original_id,
        original_subject=original_subject,
        reference_ids=reference_ids,
        reporting_mta=reporting_mta,
        standard=standard,
    )


def _dsn_recipients(msg: Message) -> tuple[list[BounceRecipient], str, bool]:
    """Per-recipient fields of every delivery-status part; whether there was one."""
    recipients: list[BounceRecipient] = []
    reporting_mta = ""
    standard = False
    for part in msg.walk():
        if part.get_content_type() not in _DSN_TYPES:
            continue
        standard = True
        for block in _status_blocks(part):
            if not reporting_mta and block.get("Reporting-MTA"):
                reporting_mta = _unfold(block["Reporting-MTA"]).partition(";")[2].strip()
            recipient = _recipient_block(block)
            if recipient is not None:
                recipients.append(recipient)
    return recipients, reporting_mta, standard


def _status_blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status part (per-message, then per-recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    # Parsed as text (e.g. message/global-delivery-status): split into blocks ourselves.
    data = part.get_payload(decode=True) or b""
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")
    return [HeaderParser().parsestr(chunk) for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def _recipient_block(block: Message) -> BounceRecipient | None:
    recipient = _address_field(block.get("Original-Recipient")) or _address_field(
        block.get("Final-Recipient")
    )
    if not recipient:
        return None
    status = _status_code(_unfold(block.get("Status", "")))
    action = _unfold(block.get("Action", "")).lower().split(" ")[0].strip("();,")
    if action == "error":  # non-standard (opensmtpd) for failed
        action = "failed"
    if action not in _ACTIONS:
        action = {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "")
    if not action:
        return None
    diagnostic = _unfold(block.get("Diagnostic-Code", ""))[:MAX_DIAGNOSTIC]
    return BounceRecipient(recipient, action, status, diagnostic)


def _heuristic_recipients(msg: Message) -> list[BounceRecipient]:
    """Failed and delayed recipients by flufl.bounce, with the code and text near each."""
    temporary, permanent = all_failures(msg)
    if not temporary and not permanent:
        return []
    text = _text_of(msg)
    found = []
    for action, addresses in (("failed", permanent), ("delayed", temporary)):
        for raw_address in sorted(addresses):
            address = raw_address.decode("ascii", "replace").strip("<> ")
            status, diagnostic = _near(text, address)
            if action == "delayed" and status.startswith("5"):
                status = ""  # a code quoted from an earlier failure, not this delay
            found.append(BounceRecipient(address, action, status, diagnostic))
    return found


def _merge(first: list[BounceRecipient], second: list[BounceRecipient]) -> list[BounceRecipient]:
    seen = {r.address.lower() for r in second}
    return second + [r for r in first if r.address.lower() not in seen]


def _near(text: str, address: str) -> tuple[str, str]:
    """The status code and the lines of a plain-text bounce that follow ``address``."""
    lines = text.splitlines()
    lowered = address.lower()
    for index, line in enumerate(lines):
        if lowered not in line.lower():
            continue
        around: list[str] = []
        for candidate in lines[index : index + 6]:
            if around and (not candidate.strip() or candidate.lstrip().startswith("---")):
                break
            around.append(candidate.strip())
        snippet = " ".join(s for s in around if s)[:MAX_DIAGNOSTIC]
        return _status_code(snippet), snippet
    return "", ""


def _original_headers(msg: Message) -> tuple[str, str]:
    """Message-ID and Subject of the mail the report is about, where it says."""
    for part in msg.walk():
        ctype = part.get_content_type()
        headers: Message | None = None
        if ctype in _ORIGINAL_MESSAGE_TYPES:
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                headers = payload[0]
        elif ctype in _ORIGINAL_HEADER_TYPES:
            headers = BytesHeaderParser(policy=compat32).parsebytes(
                part.get_payload(decode=True) or b""
            )
        if headers is not None and headers.get("Message-ID"):
            return _message_id(headers["Message-ID"]), _decoded(headers.get("Subject", ""))
    # Plain-text bounces quote the original header block in their body.
    text = _text_of(msg)
    match = _MESSAGE_ID_LINE.search(text)
    if match is None:
        return "", ""
    start = text.rfind("\n\n", 0, match.start()) + 1
    end = text.find("\n\n", match.end())
    block = HeaderParser().parsestr(text[start : end if end >= 0 else len(text)].strip())
    return match.group(1), _decoded(block.get("Subject", ""))


def _text_of(msg: Message) -> str:
    """The text/plain parts of the report, newest mail client line endings."""
    texts = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                texts.append(data.decode(charset, "replace"))
            except LookupError:
                texts.append(data.decode("utf-8", "replace"))
    return "\n\n".join(texts).replace("\r\n", "\n")


def _address_field(value: Any) -> str:
    """``rfc822; a@b`` (or ``<a@b>``) → ``a@b``; empty when there is none."""
    text = _unfold(value or "")
    if ";" in text:
        text = text.partition(";")[2]
    address = parseaddr(text.strip())[1] or text.strip().strip("<>")
    return address if "@" in address else ""


def _status_code(text: str) -> str:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else ""


def _message_id(value: Any) -> str:
    found = re.search(r"<[^<>\s]+>", str(value))
    return found.group(0) if found else normalise_message_id(str(value).split()[0])


def _unfold(value: Any) -> str:
    return " ".join(str(value).split())


def _decoded(value: Any) -> str:
    try:
        return _unfold(make_header(decode_header(str(value))))
    except Exception:  # a broken encoded word: keep it as it came
        return _unfold(value)


# --- match ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """The outbox row a bounce reports on, and how it was found; ``row`` None: why not."""

    row: OutboxMessage | None
    matched_by: str
    why: str = ""


def match_outbox(session: Session, bounce: Bounce, *, days: int = MATCH_DAYS) -> Match:
    """Find the outbox row: by the original Message-ID, else by a unique failed recipient."""
    ids = [normalise_message_id(i) for i in (bounce.original_message_id, *bounce.reference_ids)]
    ids = [i for i in dict.fromkeys(ids) if i]
    if ids:
        rows = {
            row.message_id: row
            for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.message_id.in_(ids)).with_for_update()
            )
        }
        for ident in ids:
            if ident in rows:
                return Match(rows[ident], "message_id")
    addresses = sorted(
        {r.address.lower() for r in bounce.recipients if r.action in ("failed", "delayed")}
    )
    if not addresses:
        why = "The delivery report names no failed recipient"
        if bounce.original_message_id:
            why += f" and no mail we sent has the Message-ID {bounce.original_message_id}"
        return Match(None, "", why + ".")
    candidates = _sent_to(session, addresses, days)
    if bounce.original_subject and len(candidates) > 1:
        same = [r for r in candidates if _unfold(r.subject) == bounce.original_subject]
        candidates = same or candidates
    who = ", ".join(addresses)
    about = (
        f"no mail we sent has its Message-ID {bounce.original_message_id}, and "
        if bounce.original_message_id
        else "it does not name the original Message-ID, and "
    )
    if not candidates:
        return Match(
            None,
            "",
            f"The report is about {who}: {about}no mail to {who} was sent in the last {days} days.",
        )
    if len(candidates) > 1:
        listed = ", ".join(str(r.id) for r in candidates[:10])
        return Match(
            None,
            "",
            f"The report is about {who}: {about}{len(candidates)} mails to {who} were "
            f"sent in the last {days} days (outbox {listed}); it does not say which one.",
        )
    row = session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == candidates[0].id).with_for_update()
    )
    return Match(row, "recipient")


def _sent_to(session: Session, addresses: list[str], days: int) -> list[OutboxMessage]:
    since = utcnow() - timedelta(days=days)
    columns = [
        func.lower(cast(column, String), type_=String)
        for column in (OutboxMessage.to_addrs, OutboxMessage.cc_addrs)
    ]
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status.in_((SENT, IN_DOUBT, BOUNCED)),
            or_(OutboxMessage.sent_at >= since, OutboxMessage.created_at >= since),
            or_(*(c.contains(a, autoescape=True) for c in columns for a in addresses)),
        )
        .order_by(OutboxMessage.id)
    ).all()
    wanted = set(addresses)
    # The LIKE above only narrows; the parsed addresses decide.
    return [
        row
        for row in rows
        if wanted & {parseaddr(a)[1].lower() for a in [*row.to_addrs, *row.cc_addrs]}
    ]


# --- record --------------------------------------------------------------------------


def record_bounce(
    session: Session,
    bounce: Bounce,
    *,
    message_pk: int,
    evidence: dict[str, Any],
    worker: str = "",
) -> str:
    """Record what a stored delivery report means, in the caller's transaction.

    Returns what was done: ``bounced``, ``delayed``, ``known`` (the failure was already
    recorded from another report), ``reported`` (a success report, an event only) or
    ``unmatched``. ``evidence`` is the stored message's (sender, subject, raw path).
    """
    match = match_outbox(session, bounce)
    row = match.row
    report = {**evidence, "bounce_message": message_pk}
    if row is None:
        if not bounce.failed and not bounce.delayed and bounce.recipients:
            return "reported"  # "delivered"/"relayed" about a mail not ours: nothing to do
        session.add(
            ReviewItem(
                subject_type="message",
                subject_ref=str(message_pk),
                reason_code=BOUNCE_UNMATCHED,
                reason=match.why
                + " Check which mail it was and whether its address must be fixed.",
                evidence={
                    **report,
                    "recipients": [_as_dict(r) for r in bounce.recipients],
                    "original_message_id": bounce.original_message_id,
                    "original_subject": bounce.original_subject,
                },
            )
        )
        return "unmatched"
    how = (
        "matched by the original Message-ID"
        if match.matched_by == "message_id"
        else f"matched by the failed recipient: the only mail to it sent in the last "
        f"{MATCH_DAYS} days (the report does not carry the original Message-ID)"
    )
    where = f"(delivery report: message {message_pk}, {how})"
    if bounce.failed:
        # The review item's own sender/subject/raw are the original mail's (see _review).
        report = {f"bounce_{k}" if k != "bounce_message" else k: v for k, v in report.items()}
        return _bounced(session, row, bounce, report, match.matched_by, where, worker)
    if bounce.delayed:
        for recipient in bounce.delayed:
            _event(session, row, DELAYED, f"delayed: {recipient.describe()} {where}", worker)
        return "delayed"
    for recipient in bounce.recipients:
        _event(
            session, row, row.status, f"{recipient.action}: {recipient.describe()} {where}", worker
        )
    return "reported"


def _bounced(
    session: Session,
    row: OutboxMessage,
    bounce: Bounce,
    report: dict[str, Any],
    matched_by: str,
    where: str,
    worker: str,
) -> str:
    item = session.scalar(
        select(ReviewItem).where(
            ReviewItem.subject_type == "outbox",
            ReviewItem.subject_ref == str(row.id),
            ReviewItem.reason_code == OUTBOX_BOUNCED,
        )
    )
    earlier: list[dict[str, Any]] = []
    if item is not None and item.status == "open" and row.status == BOUNCED:
        earlier = list((item.evidence or {}).get("bounces", []))
    known = {entry.get("recipient", "").lower() for entry in earlier}
    # An address that bounced before and that staff have since replaced: a late report
    # about the old attempt, which must not mark the corrected mail bounced again.
    current = {envelope_address(a).lower() for a in [*row.to_addrs, *row.cc_addrs]}
    replaced = {
        entry.get("recipient", "").lower()
        for entry in ((item.evidence or {}).get("bounces", []) if item is not None else [])
    } - current
    for recipient in bounce.failed:
        if recipient.address.lower() in replaced:
            _event(
                session,
                row,
                row.status,
                f"late report about a replaced recipient, ignored: {recipient.describe()} {where}",
                worker,
            )
    new = [r for r in bounce.failed if r.address.lower() not in known | replaced]
    if not new:
        return "known"
    for recipient in new:
        _event(session, row, BOUNCED, f"bounced: {recipient.describe()} {where}", worker)
    before = row.status
    if row.status in (SENT, IN_DOUBT):
        row.status = BOUNCED
    entries = earlier + [
        {**_as_dict(r), "bounce_message": report["bounce_message"], "matched_by": matched_by}
        for r in new
    ]
    about = f" It was about {row.subject_type} {row.subject_ref}." if row.subject_type else ""
    still = (
        f" The outbox row stays {before}: it was not marked sent when the report came."
        if row.status != BOUNCED
        else ""
    )
    failed = "; ".join(
        f"{e['recipient']} ({e['status'] or 'no code'}: {e['diagnostic']})" for e in entries
    )
    reason = (
        f"The mail '{row.subject}' could not be delivered: {failed}.{about}{still} "
        "Fix the address with the customer or supplier, then send the mail again."
    )
    _review(
        session,
        row,
        OUTBOX_BOUNCED,
        reason,
        {
            **report,
            "bounces": entries,
            "about_type": row.subject_type,
            "about_ref": row.subject_ref,
            "matched_by": matched_by,
        },
    )
    return "bounced"


def _as_dict(recipient: BounceRecipient) -> dict[str, str]:
    return {
        "recipient": recipient.address,
        "action": recipient.action,
        "status": recipient.status,
        "diagnostic": recipient.diagnostic,
    }

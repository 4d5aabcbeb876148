"""The outbox: every outgoing mail is a row first, then sent at most once.

``enqueue`` records a mail (idempotent on its key, inside the caller's transaction if
given); ``send_due`` hands due mail to the configured transport (the embedded Maildir or
SMTP with a fallback server), retries with backoff and settles what a crashed robot left
behind. See ``service`` for the states and ``transports`` for the delivery contract;
``bounces`` turns delivery reports read back by intake into ``bounced`` rows.
"""

from backoffice.outbox.bounces import (
    BOUNCE_UNMATCHED,
    OUTBOX_BOUNCED,
    Bounce,
    BounceRecipient,
    detect_bounce,
    record_bounce,
)
from backoffice.outbox.compose import InvalidOutgoingMail, OutgoingAttachment, make_message_id
from backoffice.outbox.service import (
    BOUNCED,
    OUTBOX_BROKEN,
    OUTBOX_FAILED,
    OUTBOX_IN_DOUBT,
    OUTBOX_RECIPIENTS_REFUSED,
    OUTBOX_REJECTED,
    OutboxDetails,
    OutboxEntry,
    OutboxStateError,
    SendOutcome,
    SendReport,
    Transports,
    backoff_delay,
    enqueue,
    events,
    mark_sent,
    resend,
    send_due,
    show,
    withdraw,
)
from backoffice.outbox.transports import (
    JournalUnavailableError,
    MaildirTransport,
    PermanentSendError,
    SendResult,
    SmtpTransport,
    TransientSendError,
    Transport,
    UncertainSendError,
)

__all__ = [
    "BOUNCED",
    "BOUNCE_UNMATCHED",
    "OUTBOX_BOUNCED",
    "OUTBOX_BROKEN",
    "OUTBOX_FAILED",
    "OUTBOX_IN_DOUBT",
    "OUTBOX_RECIPIENTS_REFUSED",
    "OUTBOX_REJECTED",
    "Bounce",
    "BounceRecipient",
    "InvalidOutgoingMail",
    "JournalUnavailableError",
    "MaildirTransport",
    "OutboxDetails",
    "OutboxEntry",
    "OutboxStateError",
    "OutgoingAttachment",
    "PermanentSendError",
    "SendOutcome",
    "SendReport",
    "SendResult",
    "SmtpTransport",
    "TransientSendError",
    "Transport",
    "Transports",
    "UncertainSendError",
    "backoff_delay",
    "detect_bounce",
    "enqueue",
    "events",
    "make_message_id",
    "mark_sent",
    "record_bounce",
    "resend",
    "send_due",
    "show",
    "withdraw",
]

"""Named errors of statement reading: a file that cannot be trusted as a statement at all.

Each is a business error (bad data: retrying will not help); its ``code`` is what the record
and the staff queue show. Smaller faults that still leave a usable statement (a balance that
does not add up, an invalid counterparty IBAN) are ``Problem`` entries on the statement.
"""

from __future__ import annotations

from backoffice.errors import BusinessError


class StatementError(BusinessError):
    """The file cannot be read as a bank statement."""

    code = "STATEMENT_UNREADABLE"


class UnknownStatementFormat(StatementError):
    """Neither CAMT XML nor MT940 text."""

    code = "STATEMENT_UNKNOWN_FORMAT"


class StatementTooLarge(StatementError):
    """Larger than any real statement file; refused before parsing."""

    code = "STATEMENT_TOO_LARGE"


class XmlMalformed(StatementError):
    """The XML is not well-formed (cut short, wrong encoding, not XML)."""

    code = "STATEMENT_XML_MALFORMED"


class XmlUnsafe(StatementError):
    """The XML declares a DTD, entities or external references (XXE, billion laughs)."""

    code = "STATEMENT_XML_UNSAFE"


class NotCamt(StatementError):
    """Well-formed XML, but not an ISO 20022 bank-to-customer statement or notification."""

    code = "STATEMENT_NOT_CAMT"


class StatementTruncated(StatementError):
    """The statement ends before its closing balance (a cut file or a lost attachment part)."""

    code = "STATEMENT_TRUNCATED"


class FieldInvalid(StatementError):
    """A mandatory field is missing or cannot be read (date, amount, account)."""

    code = "STATEMENT_FIELD_INVALID"


class UnknownCurrency(StatementError):
    """A currency code that is not in ISO 4217."""

    code = "STATEMENT_UNKNOWN_CURRENCY"


class AccountInvalid(StatementError):
    """The statement's own account looks like an IBAN but its checksum fails."""

    code = "STATEMENT_ACCOUNT_INVALID"


class ForeignAccount(StatementError):
    """The statement is for an account that is not one of ours."""

    code = "STATEMENT_FOREIGN_ACCOUNT"

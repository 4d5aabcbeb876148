"""Payments: bank statements (CAMT.053, CAMT.054, CAMT.052, MT940) read into one model.

``read_statement_file(path)`` returns one ``Statement`` per account and currency, each with
signed ``Decimal`` balances and ``BankTransaction`` entries whose ``id`` is stable across
overlapping statements and repeated imports. Bad files raise a ``StatementError`` (a
business error with a code); smaller faults are ``Problem`` entries on the statement.
"""

from backoffice.payments.errors import ForeignAccount, StatementError
from backoffice.payments.model import (
    Balance,
    BankTransaction,
    IdBasis,
    Problem,
    Statement,
    StatementFormat,
)
from backoffice.payments.statements import (
    check_own_account,
    check_own_accounts,
    parse_statement,
    read_statement_file,
)

__all__ = [
    "Balance",
    "BankTransaction",
    "ForeignAccount",
    "IdBasis",
    "Problem",
    "Statement",
    "StatementError",
    "StatementFormat",
    "check_own_account",
    "check_own_accounts",
    "parse_statement",
    "read_statement_file",
]

"""Named errors of the core.

Every error the robots can meet is either a *business* failure (the input is wrong:
retrying will not help, a person or the sender must act) or an *application* failure
(something outside us is down: retry later). Keyword libraries map them to Robot's
BUSINESS / APPLICATION failures; the code is an UPPER_SNAKE string staff can search for.
"""

from __future__ import annotations


class BackofficeError(Exception):
    """Base of all errors the core raises on purpose."""

    code = "BACKOFFICE_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def reason(self) -> str:
        """The plain-language reason, as stored on the record."""
        return str(self)


class BusinessError(BackofficeError):
    """Bad data: do not retry, record the reason and go on with the next item."""

    code = "INVALID_DATA"


class ApplicationError(BackofficeError):
    """A part outside the data failed (server down, timeout): retry later."""

    code = "APPLICATION_ERROR"


class ConfigurationError(ApplicationError):
    """A setting is missing or wrong; nothing can run until it is fixed."""

    code = "CONFIGURATION_ERROR"

"""The decision over a checked invoice, and the correction request sent to its sender.

``decide(result, findings)`` turns the rules' findings into one outcome:

- ``review`` when any finding needs a person (a changed bank account, a duplicate, a field
  read with low confidence) or the document is not a plain invoice: never answered
  automatically;
- else ``correction_requested`` when any finding is something the sender can fix;
- else ``accepted``.

``correction_email(result, findings, lang)`` writes the polite, precise reply that lists each
fixable problem with the value found, in the invoice's language (pl, ru, en; else English).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from backoffice.invoices import messages as M
from backoffice.invoices.model import ExtractionResult
from backoffice.invoices.rules import (
    FIXABLE,
    LOW_CONFIDENCE_THRESHOLD,
    REVIEW,
    Finding,
    kind_finding,
    low_confidence_findings,
)

Outcome = Literal["accepted", "correction_requested", "review"]
ACCEPTED: Outcome = "accepted"
CORRECTION_REQUESTED: Outcome = "correction_requested"
NEEDS_REVIEW: Outcome = "review"


class NothingToCorrect(ValueError):
    """A correction email was asked for findings that hold nothing the sender can fix."""


@dataclass(frozen=True)
class Decision:
    """The outcome and the findings behind it (for ``accepted``: the info findings)."""

    outcome: Outcome
    reasons: tuple[Finding, ...]

    def to_json(self) -> dict[str, object]:
        """JSON form: the outcome and each reason."""
        return {"outcome": self.outcome, "reasons": [reason.to_json() for reason in self.reasons]}


def decide(
    result: ExtractionResult,
    findings: Iterable[Finding],
    confidence_threshold: float = LOW_CONFIDENCE_THRESHOLD,
) -> Decision:
    """Decide what happens to the invoice read as ``result`` given the rules' ``findings``.

    The document's kind and the confidence of its key fields are checked here too, so a
    caller that ran only some rules still never accepts an uncertain reading; pass the same
    ``confidence_threshold`` as the ``RuleContext`` the rules ran with.
    """
    findings = list(findings)
    codes = {finding.code for finding in findings}
    kind = kind_finding(result)
    if kind is not None and kind.code not in codes:
        findings.append(kind)
    if "LOW_CONFIDENCE" not in codes:
        findings.extend(low_confidence_findings(result, confidence_threshold))
    review = tuple(finding for finding in findings if finding.severity == REVIEW)
    if review:
        return Decision(NEEDS_REVIEW, review)
    fixable = tuple(finding for finding in findings if finding.severity == FIXABLE)
    if fixable:
        return Decision(CORRECTION_REQUESTED, fixable)
    return Decision(ACCEPTED, tuple(findings))


def email_language(result: ExtractionResult, lang: str | None = None) -> str:
    """The language to answer in: ``lang`` if given, else the invoice's; English otherwise."""
    chosen = lang or result.language
    return chosen if chosen in M.LANGUAGES else M.FALLBACK_LANGUAGE


def correction_email(
    result: ExtractionResult, findings: Iterable[Finding], lang: str | None = None
) -> tuple[str, str]:
    """Subject and plain-text body asking the sender to correct the invoice.

    Lists every fixable finding with the value found, numbered, in ``lang`` (default: the
    invoice's language; pl, ru or en, else English). Findings that need a person are left
    out: they are ours to settle, not the sender's. Raises ``NothingToCorrect`` when none
    is fixable.
    """
    language = email_language(result, lang)
    fixable = [finding for finding in findings if finding.severity == FIXABLE]
    if not fixable:
        raise NothingToCorrect("no finding is something the sender can correct")
    number_value = result.value("invoice_number")
    number = (
        number_value
        if isinstance(number_value, str) and number_value
        else M.UNNUMBERED.in_language(language)
    )
    issued = result.value("issue_date")
    if isinstance(issued, dt.date):
        intro = M.CORRECTION_INTRO.render(number=number, date=issued)
    else:
        intro = M.CORRECTION_INTRO_UNDATED.render(number=number)
    subject = M.CORRECTION_SUBJECT.render(number=number).in_language(language)
    problems = [
        f"{index}. {finding.message(language)}"
        for index, finding in enumerate(_distinct(fixable), start=1)
    ]
    body = "\n\n".join(
        [
            M.CORRECTION_GREETING.in_language(language),
            intro.in_language(language) + "\n\n" + "\n".join(problems),
            M.CORRECTION_REQUEST.in_language(language),
            M.CORRECTION_CLOSING.in_language(language),
        ]
    )
    return subject, body + "\n"


def _distinct(findings: list[Finding]) -> list[Finding]:
    # Two rules may word the same problem alike (say, a mismatch seen twice); say it once.
    seen: set[str] = set()
    kept = []
    for finding in findings:
        text = finding.message_by_lang.en
        if text not in seen:
            seen.add(text)
            kept.append(finding)
    return kept

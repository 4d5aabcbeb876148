"""Issuing our own invoices: gapless numbers, the PDF for people, Factur-X and KSeF FA(3).

The flow (docs/DESIGN.md, C.3): an ``IssueRequest`` (from ``backoffice invoice issue``,
the robot's queue of requests, or later a signed contract) is checked and priced
(``model``), numbered in the transaction that stores the invoice (``numbering``,
``service``), then rendered (``pdf``, ``cii``, ``ksef``) and emailed through the outbox,
once per invoice, in the customer's language.
"""

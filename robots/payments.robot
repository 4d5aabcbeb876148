*** Settings ***
Documentation     Payments (contract to cash): bank statements (CAMT.053, CAMT.054, MT940) that
...               came as mail attachments or were dropped in the watch folder are taken in once;
...               every bank transaction is stored once, however statements overlap. Mailed ones
...               count only from the configured payment senders whose DKIM signature verifies.
...               Each credit is matched to the invoice it pays by the number in its title, else
...               by amount and customer; part payments add up, and over-, under- and unmatched
...               payments go to staff with the reason.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Take In Bank Statements
    [Documentation]    Each new statement once; bad ones and other accounts' go to staff.
    ${report}    Take In The New Bank Statements
    Log Run Report    ${report}

Match Payments To Invoices
    [Documentation]    Paid, part paid, or a review item that says why.
    ${report}    Match The Payments To The Invoices
    Log Run Report    ${report}

*** Settings ***
Documentation     Incoming invoices (accounts payable): every invoice that arrived by mail is
...               read, checked and decided. A clean invoice is exported for accounting; one
...               the sender can fix gets a reply in the same thread and language, listing
...               each problem, and the corrected invoice is matched back to it; anything
...               unsure (a changed bank account, a duplicate, an uncertain reading) waits
...               for staff with the evidence. Suppliers who do not answer get one reminder.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Check New Invoices
    [Documentation]    Read each new invoice once, check it against the rules and decide.
    ${report}    Check The New Invoices And Decide
    Log Run Report    ${report}

Hand Accepted Invoices To Accounting
    [Documentation]    Export each accepted invoice and call the accounting hook, once each.
    ${report}    Hand The Accepted Invoices To Accounting
    Log Run Report    ${report}

Remind Suppliers Who Owe A Correction
    [Documentation]    One reminder per unanswered correction request; then staff take over.
    ${report}    Remind Suppliers Who Owe A Correction
    Log Run Report    ${report}

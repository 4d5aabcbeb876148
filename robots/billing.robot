*** Settings ***
Documentation     Issuing invoices (contract to cash): each invoice request is issued once,
...               with the next number of its series without gaps, a PDF in the customer's
...               language with the same invoice embedded as Factur-X XML (and a KSeF FA(3)
...               file for a Polish seller), and emailed to the customer through the outbox.
...               Requests come from validly signed contracts and from the queue
...               (``backoffice invoice issue --queue``, the Queue Invoice Requests From keyword).

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Queue Invoices For Signed Contracts
    [Documentation]    Each validly signed contract gets one invoice request, once.
    ${queued}    Queue Invoices For Signed Contracts
    Log    ${queued} signed contract(s) queued for invoicing

Issue Due Invoices
    [Documentation]    Number, draw and email every queued request once; bad ones go to staff.
    ${report}    Issue The Invoices That Are Due
    Log Run Report    ${report}

Send The Invoices
    [Documentation]    Hand the queued invoice emails to the mail server, at most once each.
    ${report}    Send The Mail That Is Due
    Log Run Report    ${report}

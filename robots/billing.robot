*** Settings ***
Documentation     Issuing invoices (contract to cash): each invoice request is issued once,
...               with the next number of its series without gaps, a PDF in the customer's
...               language with the same invoice embedded as Factur-X XML (and a KSeF FA(3)
...               file for a Polish seller), and emailed to the customer through the outbox.
...               Requests come from the queue (``backoffice invoice issue --queue``, the
...               Queue Invoice Requests From keyword); signed contracts will join it here.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Issue Due Invoices
    [Documentation]    Number, draw and email every queued request once; bad ones go to staff.
    # Seam for contract to cash: a step "Queue Invoices For Signed Contracts" goes before
    # this one once signed contracts are stored (backoffice.billing.contracts).
    ${report}    Issue The Invoices That Are Due
    Log Run Report    ${report}

Send The Invoices
    [Documentation]    Hand the queued invoice emails to the mail server, at most once each.
    ${report}    Send The Mail That Is Due
    Log Run Report    ${report}

*** Settings ***
Documentation     Access (contract to cash): once an invoice is paid in full, the customer's
...               access to the service is provisioned exactly once - a signed webhook and/or
...               a command, retried with the same idempotency key - and the customer gets a
...               welcome email in their language, in the invoice's thread.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Grant Access For Paid Invoices
    [Documentation]    Provision each invoice paid in full once; refusals go to staff.
    ${report}    Grant Access For Paid Invoices
    Log Run Report    ${report}

Send The Welcome Emails
    [Documentation]    Hand the queued welcome emails to the mail server, at most once each.
    ${report}    Send The Mail That Is Due
    Log Run Report    ${report}

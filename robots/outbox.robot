*** Settings ***
Documentation     Outbox: every outgoing email was first recorded in the store; this robot
...               sends what is due, retries with backoff, switches to the fallback SMTP
...               server when the primary keeps failing, and never sends one email twice.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Send Due Mail
    [Documentation]    Send queued mail and settle sends that a stopped robot left in doubt.
    ${report}    Send The Mail That Is Due
    Log Run Report    ${report}

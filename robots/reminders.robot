*** Settings ***
Documentation     Receivables: chase invoices that are not paid. Pending bank statements are
...               imported first, so a paid invoice is never chased; then a reminder 7 days
...               before the due date and daily from 3 days before (in the customer's language,
...               in the invoice's thread), a task for the account manager the day after it is
...               overdue, and an escalation to the manager past the configured days.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Chase Unpaid Invoices
    [Documentation]    Import statements, then take today's reminders, tasks and escalations once.
    ${report}    Chase Unpaid Invoices
    Log Run Report    ${report}

Send The Reminders
    [Documentation]    Hand the queued reminders and staff emails to the mail server, once each.
    ${report}    Send The Mail That Is Due
    Log Run Report    ${report}

*** Settings ***
Documentation     Mail intake: every new message in the mailbox is stored once with its
...               raw email, headers and attachments, and each attachment becomes a
...               document classified as invoice, signed contract, bank statement or other.
...               A message is moved to Processed only after the store committed it.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Take In New Mail
    [Documentation]    Read the mailbox and record what arrived, with a reason for anything bad.
    ${report}    Take In New Mail From The Mailbox
    Log Run Report    ${report}

*** Settings ***
Documentation     Contract to cash end to end: the real robots (robots/*.robot, in the order
...               ``make run`` runs them) against the real Dovecot and SMTP servers and a
...               local provisioning service. A customer's form becomes a contract in the
...               customer's mailbox; the digitally signed reply is invoiced, and the invoice
...               PDF carries the same totals as Factur-X XML; a statement paying it lands in
...               the watch folder; the service is provisioned once and the customer welcomed
...               in the invoice's thread. The same statement again changes nothing.
...               (Mailed statements count only with a DKIM signature checked in DNS, which
...               the test machines lack: tests/test_contract_to_cash_e2e.py covers that path.)

Library           Process
Library           ../support/ContractToCashLibrary.py

Suite Teardown    Stop The Provisioning Service


*** Variables ***
${ROBOTS}    ${CURDIR}/../../robots
${OUTPUT}    ${OUTPUT DIR}/contract-to-cash


*** Test Cases ***
The Customer's Form Brings The Contract
    [Documentation]    The offer and the contract arrive in the customer's mailbox.
    Run The Robots    form
    The Customer Got The Contract

The Digitally Signed Contract Is Invoiced
    [Documentation]    Signed, invoiced in the same run, the invoice PDF states its totals.
    The Customer Returns The Contract Signed Digitally
    Run The Robots    signed
    ${status}    Contract Status
    Should Be Equal    ${status}    signed
    The Customer Got The Invoice With Its Totals Embedded

The Payment Grants Access Once
    [Documentation]    Paid in full, one signed webhook call, the welcome in the thread.
    The Bank Statement Paying The Invoice Lands In The Watch Folder    wyciag.xml
    Run The Robots    paid
    ${status}    Invoice Status
    Should Be Equal    ${status}    paid in full
    The Provisioning Service Was Called Once With A Valid Signature
    The Customer Got The Welcome Email In The Invoice Thread

The Same Statement Again Changes Nothing
    [Documentation]    No new transaction, payment, grant, call or email; nor on a rerun.
    ${before}    The Money State
    The Bank Statement Paying The Invoice Lands In The Watch Folder    wyciag-ponownie.xml
    Run The Robots    again
    Run The Robots    rerun
    ${after}    The Money State
    Should Be Equal    ${after}    ${before}
    ${calls}    Provisioning Calls
    ${mail}    Mail The Customer Received
    Should Be Equal As Integers    ${calls}    1
    Should Be Equal As Integers    ${mail}    3


*** Keywords ***
Run The Robots
    [Documentation]    Every contract-to-cash robot once, in the order of ``make run``.
    [Arguments]    ${run}
    ${env}    Robot Environment
    ${forms}    Forms Folder
    ${result}    Run Process    ${{sys.executable}}    -m    robot    --pythonpath    ${CURDIR}/../../keywords
    ...    --outputdir    ${OUTPUT}/${run}    --variable    CONTRACT_FORMS:${forms}
    ...    ${ROBOTS}/intake.robot    ${ROBOTS}/payments.robot    ${ROBOTS}/invoices.robot
    ...    ${ROBOTS}/contracts.robot    ${ROBOTS}/billing.robot    ${ROBOTS}/access.robot
    ...    ${ROBOTS}/reminders.robot    ${ROBOTS}/outbox.robot    env=${env}    timeout=600s
    Should Be Equal As Integers    ${result.rc}    0    ${result.stdout}${result.stderr}

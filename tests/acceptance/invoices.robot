*** Settings ***
Documentation    The invoices robot end to end against the real Dovecot and SMTP servers:
...              a supplier mails two invoices; intake, invoices and outbox run as
...              scheduled; the clean invoice is exported, the wrong one gets a Polish
...              correction request in the supplier's thread, and the corrected reply
...              closes the case.

Library          Process
Library          InvoiceTestLibrary.py

Suite Setup      The Supplier Mails A Clean Invoice And One With A Wrong Nip


*** Variables ***
${ROBOTS}    ${CURDIR}/../../robots
${OUTPUT}    ${OUTPUT DIR}/invoices-robot


*** Test Cases ***
A Clean Invoice Is Exported And A Wrong One Gets A Correction Request
    [Documentation]    One invoice exported, one case waiting, the reply in the thread.
    Run The Robots    first
    ${exported}    Invoice Cases In State    exported
    ${waiting}    Invoice Cases In State    waiting
    ${files}    Exported Invoices
    Should Be Equal As Integers    ${exported}    1
    Should Be Equal As Integers    ${waiting}    1
    Should Be Equal As Integers    ${files}    1
    The Supplier Got A Polish Correction Request In The Thread

The Corrected Invoice Sent As A Reply Closes The Case
    [Documentation]    The reply is matched to the waiting case, accepted and exported.
    The Supplier Replies With The Corrected Invoice
    Run The Robots    second
    ${exported}    Invoice Cases In State    exported
    ${waiting}    Invoice Cases In State    waiting
    ${files}    Exported Invoices
    Should Be Equal As Integers    ${exported}    2
    Should Be Equal As Integers    ${waiting}    0
    Should Be Equal As Integers    ${files}    2

Running The Robots Again Changes Nothing
    [Documentation]    No second export, no second mail to the supplier.
    Run The Robots    third
    ${files}    Exported Invoices
    ${mail}    Mail The Supplier Received
    Should Be Equal As Integers    ${files}    2
    Should Be Equal As Integers    ${mail}    1


*** Keywords ***
Run The Robots
    [Documentation]    Run intake, invoices and outbox as the scheduler would, in that order.
    [Arguments]    ${run}
    ${env}    Robot Environment
    ${result}    Run Process    ${{sys.executable}}    -m    robot    --pythonpath    ${CURDIR}/../../keywords
    ...    --outputdir    ${OUTPUT}/${run}    ${ROBOTS}/intake.robot    ${ROBOTS}/invoices.robot
    ...    ${ROBOTS}/outbox.robot    env=${env}    timeout=600s
    Should Be Equal As Integers    ${result.rc}    0    ${result.stdout}${result.stderr}

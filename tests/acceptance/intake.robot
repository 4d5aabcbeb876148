*** Settings ***
Documentation       The intake robot, end to end against the real Dovecot IMAP server:
...                 sample mail goes in, every message is stored once and moved to Processed.

Library             OperatingSystem
Library             Process
Library             MailTestLibrary.py

Suite Setup         Put The Sample Mail Into A Fresh Mailbox


*** Variables ***
${ROBOTS}       ${CURDIR}/../../robots
${OUTPUT}       ${OUTPUT DIR}/intake-robot


*** Test Cases ***
Intake Robot Stores Every Sample Message Once
    ${result}    Run The Intake Robot    first
    Should Be Equal As Integers    ${result.rc}    0    ${result.stdout}${result.stderr}
    ${inbox}    Messages In Folder    INBOX
    ${processed}    Messages In Folder    Processed
    ${stored}    Stored Messages
    Should Be Equal As Integers    ${inbox}    0
    Should Be Equal As Integers    ${processed}    ${SAMPLE COUNT}
    Should Be Equal As Integers    ${stored}    ${SAMPLE COUNT}

A Broken Message Is Recorded With A Reason And Does Not Stop The Robot
    ${rejected}    Stored Messages    rejected
    Should Be True    ${rejected} >= 1

Running The Robot Again Stores Nothing New
    ${result}    Run The Intake Robot    second
    Should Be Equal As Integers    ${result.rc}    0
    ${stored}    Stored Messages
    Should Be Equal As Integers    ${stored}    ${SAMPLE COUNT}

Secrets Never Reach The Robot's Logs
    ${password}    The Secret Given To The Robot
    FOR    ${file}    IN    output.xml    log.html
        ${text}    Get File    ${OUTPUT}/first/${file}
        Should Not Contain    ${text}    ${password}
    END


*** Keywords ***
Put The Sample Mail Into A Fresh Mailbox
    ${count}    Put The Sample Mail Into The Imap Mailbox
    VAR    ${SAMPLE COUNT}    ${count}    scope=SUITE

Run The Intake Robot
    [Arguments]    ${run}
    ${env}    Robot Environment
    ${result}    Run Process    ${{sys.executable}}    -m    robot    --pythonpath    ${CURDIR}/../../keywords
    ...    --outputdir    ${OUTPUT}/${run}    ${ROBOTS}/intake.robot
    ...    env=${env}    timeout=300s
    RETURN    ${result}

*** Settings ***
Documentation    The intake robot, end to end against the real Dovecot IMAP server:
...              sample mail goes in, every message is stored once and moved to Processed.

Library          OperatingSystem
Library          Process
Library          MailTestLibrary.py

Suite Setup      Put The Sample Mail Into The Imap Mailbox


*** Variables ***
${ROBOTS}    ${CURDIR}/../../robots
${OUTPUT}    ${OUTPUT DIR}/intake-robot


*** Test Cases ***
Intake Robot Stores Every Sample Message Once
    [Documentation]    All sample mail is stored and moved out of the inbox.
    ${result}    Run The Intake Robot    first
    Should Be Equal As Integers    ${result.rc}    0    ${result.stdout}${result.stderr}
    ${samples}    Sample Message Count
    ${inbox}    Messages In Folder    INBOX
    ${processed}    Messages In Folder    Processed
    ${stored}    Stored Messages
    Should Be Equal As Integers    ${inbox}    0
    Should Be Equal As Integers    ${processed}    ${samples}
    Should Be Equal As Integers    ${stored}    ${samples}

A Broken Message Is Recorded With A Reason And Does Not Stop The Robot
    [Documentation]    The broken sample is stored with its problems and waits for staff.
    ${items}    Open Review Items    BROKEN_MIME
    Should Be Equal As Integers    ${items}    1

Running The Robot Again Stores Nothing New
    [Documentation]    A second run finds the inbox empty and changes nothing.
    ${result}    Run The Intake Robot    second
    Should Be Equal As Integers    ${result.rc}    0
    ${samples}    Sample Message Count
    ${stored}    Stored Messages
    Should Be Equal As Integers    ${stored}    ${samples}

Secrets Never Reach The Robot's Logs
    [Documentation]    A secret in the robot's environment appears in none of its outputs.
    ${secret}    The Secret Given To The Robot
    FOR    ${file}    IN    output.xml    log.html
        ${text}    Get File    ${OUTPUT}/first/${file}
        Should Not Contain    ${text}    ${secret}
    END


*** Keywords ***
Run The Intake Robot
    [Documentation]    Run robots/intake.robot as the scheduler would, against this mailbox.
    [Arguments]    ${run}
    ${env}    Robot Environment
    ${result}    Run Process    ${{sys.executable}}    -m    robot    --pythonpath    ${CURDIR}/../../keywords
    ...    --outputdir    ${OUTPUT}/${run}    ${ROBOTS}/intake.robot
    ...    env=${env}    timeout=300s
    RETURN    ${result}

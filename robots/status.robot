*** Settings ***
Documentation     Summary of the back office: how many records sit in each state.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Tasks ***
Report The Back Office Status
    [Documentation]    Log the records per state for the run's log and console.
    Log The Back Office Status

*** Settings ***
Documentation    First run on a fresh machine: put the bundled sample emails into the
...              embedded mailbox, so the other robots have something to work on.

Resource         ../resources/backoffice.resource


*** Tasks ***
Put Sample Mail Into The Mailbox
    [Documentation]    Seed the embedded Maildir once; later runs leave it alone.
    Put Sample Mail Into The Embedded Mailbox

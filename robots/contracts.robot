*** Settings ***
Documentation     Contracts (contract to cash, first half): each customer form becomes an offer
...               and a contract, emailed once in the customer's language. Each returned
...               contract, digitally signed or printed, signed and scanned, is matched to
...               the contract we issued and checked: validly signed by the customer and
...               unchanged, it is signed and ready for invoicing; otherwise the customer is
...               told in the same thread exactly what to fix, page by page, and the next
...               version is checked again. After the configured rounds, or when unclear,
...               staff decide with the evidence.

Resource          ../resources/backoffice.resource

Suite Setup       Open The Back Office
Suite Teardown    Close The Back Office


*** Variables ***
${CONTRACT_FORMS}    ${EMPTY}


*** Tasks ***
Issue Contracts From New Forms
    [Documentation]    Offer and contract for every form in ${CONTRACT_FORMS} (each once).
    Skip If    not $CONTRACT_FORMS    No forms folder given (--variable CONTRACT_FORMS:path).
    ${report}    Issue Contracts From Forms In    ${CONTRACT_FORMS}
    Log Run Report    ${report}

Check Returned Contracts
    [Documentation]    Signed, a correction request in the thread, or staff review.
    ${report}    Check The Returned Contracts
    Log Run Report    ${report}

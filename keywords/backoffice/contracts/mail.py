"""The emails of the contracts flow, in the customer's language (pl, ru, en).

The contract email carries the offer and the contract and says how to sign; a correction
request answers the returned document in its thread and lists each problem on its own line
with its page (the reasons' own sentences, see ``verdict`` and ``digital``).
"""

from __future__ import annotations

from collections.abc import Sequence

from backoffice.contracts.model import Language

_CONTRACT_SUBJECT: dict[Language, str] = {
    "pl": "Oferta i umowa nr {id}",
    "ru": "Предложение и договор № {id}",
    "en": "Offer and contract {id}",
}
_CONTRACT_BODY: dict[Language, str] = {
    "pl": (
        "Dzień dobry,\n\n"
        "w załączeniu przesyłamy ofertę oraz umowę nr {id} dla {customer}.\n\n"
        "Prosimy podpisać umowę na jeden z dwóch sposobów i odesłać ją w odpowiedzi na tę "
        "wiadomość:\n"
        "- podpisem elektronicznym (kwalifikowanym) w pliku PDF, bez zmian w treści, albo\n"
        "- odręcznie: wydrukować wszystkie strony, zaparafować każdą stronę w polu „Parafa”, "
        "podpisać i wpisać datę na ostatniej stronie, a następnie zeskanować wszystkie strony "
        "w kolejności.\n\n"
        "Pozdrawiamy\n{seller}\n"
    ),
    "ru": (
        "Здравствуйте!\n\n"
        "Направляем предложение и договор № {id} для {customer}.\n\n"
        "Пожалуйста, подпишите договор одним из двух способов и пришлите его ответом на это "
        "письмо:\n"
        "- квалифицированной электронной подписью в файле PDF, без изменений в тексте, или\n"
        "- собственноручно: распечатайте все страницы, поставьте инициалы на каждой странице "
        "в поле для парафа, подпишите и укажите дату на последней странице, затем "
        "отсканируйте все страницы по порядку.\n\n"
        "С уважением,\n{seller}\n"
    ),
    "en": (
        "Hello,\n\n"
        "please find attached the offer and contract {id} for {customer}.\n\n"
        "Please sign the contract in one of two ways and send it back as a reply to this "
        "email:\n"
        "- with a (qualified) digital signature in the PDF, without changing its text, or\n"
        "- by hand: print every page, initial each page in the initials box, sign and date "
        "the last page, then scan all pages in order.\n\n"
        "Kind regards\n{seller}\n"
    ),
}
_CORRECTION_SUBJECT: dict[Language, str] = {
    "pl": "Umowa nr {id}: prosimy o poprawienie podpisanej umowy",
    "ru": "Договор № {id}: просим исправить подписанный договор",
    "en": "Contract {id}: please correct the signed contract",
}
_CORRECTION_BODY: dict[Language, str] = {
    "pl": (
        "Dzień dobry,\n\n"
        "dziękujemy za przesłanie umowy nr {id}. Nie możemy jej jednak przyjąć, ponieważ:\n\n"
        "{problems}\n\n"
        "Prosimy o przesłanie poprawionej umowy w odpowiedzi na tę wiadomość. Jeśli potrzebna "
        "jest nowa kopia, jest ona w naszej pierwszej wiadomości.\n\n"
        "Pozdrawiamy\n{seller}\n"
    ),
    "ru": (
        "Здравствуйте!\n\n"
        "Спасибо за присланный договор № {id}. К сожалению, мы не можем его принять:\n\n"
        "{problems}\n\n"
        "Пожалуйста, пришлите исправленный договор ответом на это письмо. Чистый экземпляр "
        "есть в нашем первом письме.\n\n"
        "С уважением,\n{seller}\n"
    ),
    "en": (
        "Hello,\n\n"
        "thank you for sending contract {id}. We cannot accept it yet, because:\n\n"
        "{problems}\n\n"
        "Please send the corrected contract as a reply to this email. A clean copy is in our "
        "first email.\n\n"
        "Kind regards\n{seller}\n"
    ),
}
OFFER_FILENAME: dict[Language, str] = {"pl": "oferta", "ru": "predlozhenie", "en": "offer"}
CONTRACT_FILENAME: dict[Language, str] = {"pl": "umowa", "ru": "dogovor", "en": "contract"}


def contract_email(
    contract_id: str, language: Language, customer: str, seller: str
) -> tuple[str, str]:
    """Subject and body of the email that sends the offer and the contract."""
    values = {"id": contract_id, "customer": customer, "seller": seller}
    return (
        _CONTRACT_SUBJECT[language].format(**values),
        _CONTRACT_BODY[language].format(**values),
    )


def correction_email(
    contract_id: str, language: Language, problems: Sequence[str], seller: str
) -> tuple[str, str]:
    """Subject and body of a correction request listing ``problems`` (sentences)."""
    listed = "\n".join(f"- {problem}" for problem in dict.fromkeys(problems))
    values = {"id": contract_id, "problems": listed, "seller": seller}
    return (
        _CORRECTION_SUBJECT[language].format(**values),
        _CORRECTION_BODY[language].format(**values),
    )


def attachment_name(kind: str, contract_id: str, language: Language) -> str:
    """``umowa_K-2026-0042.pdf``: safe everywhere (``/`` in an ID becomes ``-``)."""
    stem = (OFFER_FILENAME if kind == "offer" else CONTRACT_FILENAME)[language]
    return f"{stem}_{contract_id.replace('/', '-')}.pdf"

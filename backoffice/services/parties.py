"""Who a payment goes to: the one check of a party identifier (id type and value), MSISDN included.

The batch import, beneficiary lists and payer accounts all check identifiers here. The
problems are worded two ways, both already shown to people: a clause that a list or a form
puts in its own sentence (`check_party`), and a sentence on a line of a batch (`row_message`).
"""

from __future__ import annotations

import re
from enum import StrEnum

from backoffice.models.accounts import PARTY_ID_TYPES

MSISDN = re.compile(r"^\+?\d{8,15}$", re.ASCII)  # ASCII digits only: never ０１２ or ٥٠٠٠
MSISDN_RULE = "8 à 15 chiffres, éventuellement précédés de +"
MAX_ID_LENGTH = 128
_PHONE_SEPARATORS = re.compile(r"[\s.\-]")


class PartyProblem(StrEnum):
    TYPE_MISSING = "type_missing"
    TYPE_UNKNOWN = "type_unknown"
    VALUE_MISSING = "value_missing"
    VALUE_TOO_LONG = "value_too_long"
    MSISDN_INVALID = "msisdn_invalid"


_CLAUSES = {
    PartyProblem.TYPE_MISSING: "type d'identifiant manquant",
    PartyProblem.TYPE_UNKNOWN: "type d'identifiant inconnu « {type} » (attendu : {types})",
    PartyProblem.VALUE_MISSING: "identifiant manquant",
    PartyProblem.VALUE_TOO_LONG: "identifiant trop long ({max} caractères au plus)",
    PartyProblem.MSISDN_INVALID: "numéro de téléphone invalide « {value} » ({rule})",
}
_ROW_SENTENCES = {
    PartyProblem.TYPE_MISSING: "Type d'identifiant manquant.",
    PartyProblem.TYPE_UNKNOWN: "Type d'identifiant « {type} » inconnu de Mojaloop (attendu : {types}).",
    PartyProblem.VALUE_MISSING: "Identifiant du bénéficiaire manquant.",
    PartyProblem.VALUE_TOO_LONG: "Identifiant trop long (plus de {max} caractères).",
    PartyProblem.MSISDN_INVALID: "Numéro de téléphone « {value} » invalide : {rule}.",
}


def normalise_party_id(id_type: str, id_value: str) -> str:
    """The identifier as it is stored: trimmed; a phone number without spaces, dots or dashes."""
    value = (id_value or "").strip()
    return _PHONE_SEPARATORS.sub("", value) if id_type == "MSISDN" else value


def type_problem(id_type: str) -> PartyProblem | None:
    if not id_type:
        return PartyProblem.TYPE_MISSING
    if id_type not in PARTY_ID_TYPES:
        return PartyProblem.TYPE_UNKNOWN
    return None


def value_problem(id_type: str, id_value: str) -> PartyProblem | None:
    """What is wrong with a (normalised) identifier value for its type, or None."""
    if not id_value:
        return PartyProblem.VALUE_MISSING
    if len(id_value) > MAX_ID_LENGTH:
        return PartyProblem.VALUE_TOO_LONG
    if id_type == "MSISDN" and not MSISDN.match(id_value):
        return PartyProblem.MSISDN_INVALID
    return None


def _words(template: str, id_type: str, id_value: str) -> str:
    return template.format(
        type=id_type[:40], value=id_value[:40], types=", ".join(PARTY_ID_TYPES), max=MAX_ID_LENGTH, rule=MSISDN_RULE
    )


def check_party(id_type: str, id_value: str) -> str | None:
    """The reason a (normalised) identifier is refused, as a lower-case clause, or None."""
    problem = type_problem(id_type) or value_problem(id_type, id_value)
    return _words(_CLAUSES[problem], id_type, id_value) if problem else None


def row_message(problem: PartyProblem, id_type: str, id_value: str) -> str:
    """The sentence a line of a batch shows for a problem."""
    return _words(_ROW_SENTENCES[problem], id_type, id_value)

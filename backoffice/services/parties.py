"""Who a payment goes to: the one check of a party identifier (id type and value), MSISDN included.

The batch import, beneficiary lists, payer accounts and the fines API all check identifiers
here. Phone numbers are parsed and validated by Google's libphonenumber (`phonenumbers`),
with the organisation's country as the default for numbers written without their country
code, and stored as Mojaloop expects them: international digits, no `+`.

Bénin moved in 2024 from 8-digit numbers (229 xx xx xx xx) to 10 digits (229 01 xx xx xx xx);
the library's metadata knows only the new plan, so a former number is recognised here,
accepted with a warning that shows its new form, and sent as written or in its new form
(setting `BENIN_FORMER_NUMBERS`).

The problems are worded two ways, both already shown to people: a clause that a list or a form
puts in its own sentence (`check_party`), and a sentence on a line of a batch (`row_message`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from backoffice.models.accounts import PARTY_ID_TYPES

MSISDN_RULE = "numéro international (indicatif du pays compris) ou national du pays de l'organisation"
MAX_ID_LENGTH = 128
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")
_DIGITS = re.compile(r"^[0-9]{4,17}$")

BENIN = "229"
# What to send for a Bénin number in the former plan: "as_written" (default: switches migrate
# at their own pace) or "new" (the 01 form).
FORMER_AS_WRITTEN = "as_written"
FORMER_NEW = "new"


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


@dataclass(frozen=True)
class Msisdn:
    """A phone number as written, and what the check made of it."""

    written: str  # as given (trimmed)
    value: str  # international digits without + when valid; the cleaned text otherwise
    valid: bool
    former_benin: str | None = None  # the new (01) form of a former Bénin number

    @property
    def reformatted(self) -> bool:
        """The stored form differs from what was written by more than spaces and separators."""
        return self.valid and _PHONE_SEPARATORS.sub("", self.written) != self.value

    @property
    def warning(self) -> str | None:
        if not self.former_benin:
            return None
        sent = "" if self.value == self.former_benin else f" ; envoyé tel quel : {self.value}"
        return f"Numéro béninois à l'ancien format (8 chiffres) : nouvelle forme {self.former_benin}{sent}."


def _valid(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _former_benin(text: str, region: str | None) -> str | None:
    """The 01 form of a number of Bénin's former plan (229 + 8 digits), or None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    national = str(number.national_number)
    if number.country_code != int(BENIN) or len(national) != 8 or number.italian_leading_zero:
        return None
    new_form = f"{BENIN}01{national}"
    return new_form if _valid("+" + new_form, None) else None


def parse_msisdn(text: str, country: str | None = None, former_form: str = FORMER_AS_WRITTEN) -> Msisdn:
    """Parse a phone number: `+` / `00` / bare international digits, or national for `country`.

    A number without `+` or `00` is read as international when it starts with the default
    country's code, otherwise as national first (then international).
    """
    written = (text or "").strip()
    cleaned = _PHONE_SEPARATORS.sub("", written)
    if cleaned.startswith("+"):
        digits, international = cleaned[1:], True
    elif cleaned.startswith("00"):
        digits, international = cleaned[2:], True
    else:
        digits, international = cleaned, False
    if not _DIGITS.match(digits):
        return Msisdn(written, cleaned, False)
    region = (country or "").upper() or None
    attempts: list[tuple[str, str | None]] = [("+" + digits, None)]
    if not international and region:
        code = str(phonenumbers.country_code_for_region(region))
        national = (digits, region)
        attempts = [*attempts, national] if digits.startswith(code) else [national, *attempts]
    for candidate, candidate_region in attempts:
        number = _valid(candidate, candidate_region)
        if number is not None:
            return Msisdn(written, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:], True)
    for candidate, candidate_region in attempts:
        new_form = _former_benin(candidate, candidate_region)
        if new_form:
            as_written = BENIN + new_form[5:]
            return Msisdn(written, new_form if former_form == FORMER_NEW else as_written, True, former_benin=new_form)
    return Msisdn(written, cleaned, False)


def normalise_party_id(id_type: str, id_value: str, country: str | None = None, former_form: str | None = None) -> str:
    """The identifier as it is stored: trimmed; a valid phone number as international digits."""
    value = (id_value or "").strip()
    if id_type != "MSISDN":
        return value
    return parse_msisdn(value, country, former_form or former_form_setting()).value


def type_problem(id_type: str) -> PartyProblem | None:
    if not id_type:
        return PartyProblem.TYPE_MISSING
    if id_type not in PARTY_ID_TYPES:
        return PartyProblem.TYPE_UNKNOWN
    return None


def value_problem(id_type: str, id_value: str, country: str | None = None) -> PartyProblem | None:
    """What is wrong with an identifier value for its type, or None."""
    if not id_value:
        return PartyProblem.VALUE_MISSING
    if len(id_value) > MAX_ID_LENGTH:
        return PartyProblem.VALUE_TOO_LONG
    if id_type == "MSISDN" and not parse_msisdn(id_value, country).valid:
        return PartyProblem.MSISDN_INVALID
    return None


def _words(template: str, id_type: str, id_value: str) -> str:
    return template.format(
        type=id_type[:40], value=id_value[:40], types=", ".join(PARTY_ID_TYPES), max=MAX_ID_LENGTH, rule=MSISDN_RULE
    )


def check_party(id_type: str, id_value: str, country: str | None = None) -> str | None:
    """The reason an identifier is refused, as a lower-case clause, or None."""
    problem = type_problem(id_type) or value_problem(id_type, id_value, country)
    return _words(_CLAUSES[problem], id_type, id_value) if problem else None


def row_message(problem: PartyProblem, id_type: str, id_value: str) -> str:
    """The sentence a line of a batch shows for a problem."""
    return _words(_ROW_SENTENCES[problem], id_type, id_value)


@dataclass(frozen=True)
class CheckedParty:
    """One identifier after the check: its stored value, its problem, a warning, the form written."""

    value: str
    problem: PartyProblem | None
    warning: str | None = None
    written: str | None = None  # as written, when a valid number was reformatted


def former_form_setting() -> str:
    """The BENIN_FORMER_NUMBERS setting (as written outside an application context)."""
    from flask import current_app, has_app_context

    return current_app.config.get("BENIN_FORMER_NUMBERS", FORMER_AS_WRITTEN) if has_app_context() else FORMER_AS_WRITTEN


def check_identifier(
    id_type: str, id_value: str, country: str | None = None, former_form: str | None = None
) -> CheckedParty:
    """The whole check of a value for its type, in one pass (the import's and lists' entry point)."""
    former_form = former_form or former_form_setting()
    value = (id_value or "").strip()
    if id_type != "MSISDN" or not value or len(value) > MAX_ID_LENGTH:
        return CheckedParty(value, value_problem(id_type, value))
    number = parse_msisdn(value, country, former_form)
    if not number.valid:
        return CheckedParty(number.value, PartyProblem.MSISDN_INVALID)
    return CheckedParty(number.value, None, number.warning, number.written if number.reformatted else None)


def country_choices() -> list[tuple[str, str]]:
    """The countries libphonenumber knows, by French name, for an organisation's default country."""
    from babel import Locale

    names = Locale("fr").territories
    regions = sorted(phonenumbers.SUPPORTED_REGIONS, key=lambda code: names.get(code, code))
    return [("", "Aucun (numéros au format international)")] + [(code, names.get(code, code)) for code in regions]


def is_country(code: str) -> bool:
    """An ISO 3166 code libphonenumber can parse national numbers for (or empty: none)."""
    return code == "" or code in phonenumbers.SUPPORTED_REGIONS

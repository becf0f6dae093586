"""The CSV format registry and the party-id check, as tables (no database, no app)."""

from __future__ import annotations

import codecs
import io

import pytest

from backoffice.services.bulk.formats import FORMATS, FORMATS_BY_CODE, format_name
from backoffice.services.bulk.reading import FileRejected, detect_format, lines, measure, open_records
from backoffice.services.parties import PartyProblem, check_party, normalise_party_id, row_message, value_problem

# Header → format --------------------------------------------------------------------------

HEADERS = [
    # header cells → format code
    (["transferId", "amount", "currency", "partyIdType", "partyIdentifier"], "standard"),
    (["TRANSFER_ID", "Amount", "Currency", "party-id-type", "Party Identifier"], "standard"),
    (["type_id", "valeur_id", "devise", "montant"], "payment_list"),
    (["\ufeffType ID", "Valeur ID", "Devise", "Montant", "Nom complet", "extra"], "payment_list"),
    (["phone_number", "amount"], "recipients"),
    (["phoneNumber", "amount", "motive"], "recipients"),
    (["name", "amount", "accountNumber"], "accounts"),
    (["name", "amount", "accountNumber", "phone_number"], "accounts"),  # the more specific first
]


@pytest.mark.parametrize(("header", "code"), HEADERS)
def test_header_gives_format(header, code):
    assert detect_format(header).format.code == code


REFUSED_HEADERS = [
    (["nom", "prenom"], "En-tête non reconnu (colonnes trouvées : nom, prenom)"),
    ([], "En-tête non reconnu (colonnes trouvées : aucune)"),
    (["type_id", "valeur_id", "montant"], "En-tête incomplet pour le format liste de paiement"),
]


@pytest.mark.parametrize(("header", "message"), REFUSED_HEADERS)
def test_unknown_header_is_refused(header, message):
    with pytest.raises(FileRejected) as refused:
        detect_format(header)
    assert str(refused.value).startswith(message)


# Line → payee -----------------------------------------------------------------------------

PAYEES = [
    # header, line, account currency → (id type, id value, amount text, currency, name, note, reference)
    (
        "transferId,amount,currency,partyIdType,partyIdentifier",
        "t-1, 100 ,xof,msisdn, 22997000001",
        "XOF",
        ("MSISDN", "22997000001", "100", "XOF", "", "", "t-1"),
    ),
    (
        "type_id,valeur_id,devise,montant,nom_complet",
        "personal_id,42,XOF,50 000,Hélène",
        "XOF",
        ("PERSONAL_ID", "42", "50 000", "XOF", "Hélène", "", ""),
    ),
    ("type_id,valeur_id,devise,montant", "PERSONAL_ID,42,XOF,1", "XOF", ("PERSONAL_ID", "42", "1", "XOF", "", "", "")),
    (
        "phone_number,amount,motive",
        "22233344,1500,Salary",
        "MRU",
        ("MSISDN", "22233344", "1500", "MRU", "", "Salary", ""),
    ),
    ("name,amount,accountNumber", "John Doe,10,ACC-1", "MRU", ("ACCOUNT_ID", "ACC-1", "10", "MRU", "John Doe", "", "")),
]


@pytest.mark.parametrize(("header", "line", "currency", "expected"), PAYEES)
def test_line_becomes_payee(header, line, currency, expected):
    layout = detect_format(header.split(","))
    payee = layout.payee(line.split(","), currency)
    got = (payee.id_type, payee.id_value, payee.amount_text, payee.currency, payee.name, payee.note, payee.reference)
    assert got == expected


def test_registry_entries_are_complete():
    for fmt in FORMATS:
        fields = {c.field for c in fmt.columns}
        assert {"id_value", "amount"} <= fields, fmt.code
        assert bool(fmt.id_type) != ("id_type" in fields), fmt.code  # a fixed type or a column, never both
        assert FORMATS_BY_CODE[fmt.code] is fmt
    assert (
        FORMATS_BY_CODE["payment_list"].label
        == "liste de paiement (type_id, valeur_id, devise, montant[, nom_complet])"
    )
    assert FORMATS_BY_CODE["recipients"].header_text() == "phone_number,amount[,motive]"
    assert (format_name("accounts"), format_name("autre")) == ("comptes", "autre")


# Encodings, through the shared reader -------------------------------------------------------

TEXT = "type_id;valeur_id;devise;montant;nom_complet\r\nPERSONAL_ID;42;XOF;50 000;Hélène Adjovi\r\n"
ENCODINGS = [
    (TEXT.encode("utf-8"), "utf-8-sig"),
    (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
    (TEXT.encode("cp1252"), "cp1252"),
    (TEXT.encode("utf-16"), "utf-16"),
    (TEXT.replace(";", "\t").encode("utf-16"), "utf-16"),
]


@pytest.mark.parametrize(("data", "encoding"), ENCODINGS)
def test_each_encoding_reads_the_same_line(data, encoding):
    stream = io.BytesIO(data)
    info = measure(stream, 10_000)
    assert info.encoding == encoding
    layout, records = open_records(stream, info)
    [(line_number, record)] = list(lines(records, 10))
    assert line_number == 2
    assert layout.payee(record, "XOF").name == "Hélène Adjovi"


# Party identifiers ---------------------------------------------------------------------------

PARTIES = [
    # id type, value as typed → value stored, problem
    ("MSISDN", "22997000001", "22997000001", None),
    # Issue 11: libphonenumber decides; stored as international digits without "+".
    ("MSISDN", "+229 97.00-00 01", "22997000001", None),
    ("MSISDN", "+229 01 97 00 00 01", "2290197000001", None),
    ("MSISDN", "0022236123456", "22236123456", None),
    ("MSISDN", "2299701234", "2299701234", PartyProblem.MSISDN_INVALID),  # neither Bénin plan
    ("MSISDN", "12345678", "12345678", PartyProblem.MSISDN_INVALID),  # no country code
    ("MSISDN", "1234567", "1234567", PartyProblem.MSISDN_INVALID),
    ("MSISDN", "123456", "123456", PartyProblem.MSISDN_INVALID),
    ("MSISDN", "+123456789012345", "+123456789012345", PartyProblem.MSISDN_INVALID),
    ("MSISDN", "ANATT-BJ", "ANATTBJ", PartyProblem.MSISDN_INVALID),
    ("MSISDN", "1234567890123456", "1234567890123456", PartyProblem.MSISDN_INVALID),
    ("MSISDN", "2299700000A", "2299700000A", PartyProblem.MSISDN_INVALID),
    ("MSISDN", "  ", "", PartyProblem.VALUE_MISSING),
    ("PERSONAL_ID", " 12 34 ", "12 34", None),  # only phone numbers lose their separators
    ("PERSONAL_ID", "x" * 129, "x" * 129, PartyProblem.VALUE_TOO_LONG),
    ("", "1", "1", PartyProblem.TYPE_MISSING),
    ("PHONE", "1", "1", PartyProblem.TYPE_UNKNOWN),
]


@pytest.mark.parametrize(("id_type", "typed", "stored", "problem"), PARTIES)
def test_party_check(id_type, typed, stored, problem):
    value = normalise_party_id(id_type, typed)
    assert value == stored
    reason = check_party(id_type, value)
    assert (reason is None) == (problem is None)
    if problem in (PartyProblem.TYPE_MISSING, PartyProblem.TYPE_UNKNOWN):
        assert reason.startswith("type d'identifiant")
    elif problem is not None:
        assert value_problem(id_type, value) is problem


def test_party_problems_in_both_voices():
    assert (
        check_party("MSISDN", "12ab") == "numéro de téléphone invalide « 12ab » (numéro international "
        "(indicatif du pays compris) ou national du pays de l'organisation)"
    )
    assert row_message(PartyProblem.MSISDN_INVALID, "MSISDN", "12ab") == (
        "Numéro de téléphone « 12ab » invalide : numéro international (indicatif du pays compris) "
        "ou national du pays de l'organisation."
    )
    assert row_message(PartyProblem.TYPE_UNKNOWN, "PHONE", "1").startswith(
        "Type d'identifiant « PHONE » inconnu de Mojaloop"
    )

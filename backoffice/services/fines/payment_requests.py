"""Fines payment requests: checking one, and recording it once however often it is repeated.

The request path never calls a partner: it validates, stores the payment and its fine
claims in one transaction (unique indexes make 50 concurrent duplicates converge on one
row), and a worker's dispatcher hands it to the saga (services/fines/dispatch.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice.api.errors import ApiError
from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.fines import (
    FinePayment,
    FinePaymentEvent,
    FinePaymentItem,
    PaymentStatus,
    new_payment_id,
    plural,
)
from backoffice.models.writes import insert_together
from backoffice.services import outgoing, parties
from backoffice.services.api_clients import ApiIdentity
from backoffice.services.money import format_amount

# Checking a request ------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRequest:
    reference: str
    telephone: str
    amendes: list[str]
    montant: int
    devise: str
    callback_url: str | None

    def fingerprint(self) -> str:
        """What makes two requests 'the same' for idempotency."""
        canonical = json.dumps(
            [self.reference, self.telephone, self.amendes, self.montant, self.devise, self.callback_url],
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_NUMERO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
MAX_AMOUNT = 10**12


MAX_JSON_DEPTH = 32  # a payment request is 2 levels deep; thousands of `[` made json.loads recurse to a 500


def _nesting_depth(raw: bytes) -> int:
    """How deep brackets nest, counted before parsing (brackets inside strings count too: a bound, not a parse)."""
    depth = deepest = 0
    for byte in raw:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def parse_body(raw: bytes, content_type: str | None, max_bytes: int) -> dict:
    """The JSON object of a request body, or an ApiError (type, size, syntax)."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise ApiError(
            415,
            "TYPE_DE_CONTENU_INVALIDE",
            "Le corps de la requête doit être du JSON (en-tête Content-Type: application/json).",
        )
    if len(raw) > max_bytes:
        raise ApiError(
            413, "REQUETE_TROP_VOLUMINEUSE", f"Le corps de la requête dépasse la taille maximale ({max_bytes} octets)."
        )
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "JSON_INVALIDE", f"Le JSON est trop imbriqué ({MAX_JSON_DEPTH} niveaux au plus).")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "JSON_INVALIDE", "Le corps de la requête n'est pas un JSON valide.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "JSON_INVALIDE", "Le corps de la requête doit être un objet JSON.")
    return data


def check_idempotency_key(key: str | None) -> None:
    """An Idempotency-Key header, when given, is 1 to 128 visible ASCII characters (422 otherwise)."""
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            422,
            "PARAMETRES_INVALIDES",
            "L'en-tête Idempotency-Key est invalide.",
            erreurs=[
                {
                    "champ": "Idempotency-Key",
                    "code": "CLE_IDEMPOTENCE_INVALIDE",
                    "message": "La clé d'idempotence doit faire 1 à 128 caractères visibles, sans espaces.",
                }
            ],
        )


def validate_request(data: dict, currencies: list[str], max_fines: int) -> PaymentRequest:
    """Check every field and report all problems at once (422 naming each field)."""
    errors: list[dict] = []

    def fail(field: str, code: str, message: str) -> None:
        errors.append({"champ": field, "code": code, "message": message})

    def text(field: str) -> str | None:
        value = data.get(field)
        if value is None:
            fail(field, "CHAMP_MANQUANT", f"Le champ « {field} » est obligatoire.")
            return None
        if not isinstance(value, str):
            fail(field, "TYPE_INVALIDE", f"Le champ « {field} » doit être une chaîne de caractères.")
            return None
        if not value.strip():
            fail(field, "CHAMP_VIDE", f"Le champ « {field} » ne doit pas être vide.")
            return None
        return value.strip()

    reference = text("reference")
    if reference is not None and not _REFERENCE.match(reference):
        fail(
            "reference",
            "REFERENCE_INVALIDE",
            "La référence doit faire au plus 64 caractères : lettres, chiffres, « . », « _ », « / » ou « - ».",
        )
        reference = None

    telephone = text("telephone")
    if telephone is not None:
        # One rule with the batches (libphonenumber, Bénin's former numbers accepted); the
        # number is passed to the partners as received, never rewritten.
        digits = telephone[1:] if telephone.startswith("+") else telephone
        if not digits.isdigit() or not parties.parse_msisdn("+" + digits).valid:
            fail(
                "telephone",
                "MSISDN_INVALIDE",
                "Le numéro de téléphone doit être un MSISDN international : 8 à 15 chiffres, indicatif "
                "du pays compris, sans espaces (exemple : 22997000001).",
            )
            telephone = None
        else:
            telephone = digits

    amendes = data.get("amendes")
    numeros: list[str] | None = None
    if amendes is None:
        fail("amendes", "CHAMP_MANQUANT", "Le champ « amendes » est obligatoire.")
    elif not isinstance(amendes, list):
        fail("amendes", "TYPE_INVALIDE", "Le champ « amendes » doit être une liste de numéros d'amende.")
    elif not amendes:
        fail("amendes", "LISTE_VIDE", "La liste des amendes ne doit pas être vide.")
    elif len(amendes) > max_fines:
        fail("amendes", "TROP_D_AMENDES", f"Un paiement couvre au plus {max_fines} amendes.")
    else:
        numeros = []
        seen: set[str] = set()
        for position, numero in enumerate(amendes):
            if not isinstance(numero, str) or not _NUMERO.match(numero.strip()):
                fail(
                    f"amendes[{position}]",
                    "NUMERO_AMENDE_INVALIDE",
                    "Chaque amende est un numéro (lettres, chiffres, « - », au plus 64 caractères).",
                )
                numeros = None
                continue
            numero = numero.strip()
            if numero in seen:
                fail(
                    f"amendes[{position}]",
                    "AMENDE_REPETEE",
                    f"L'amende {numero} figure plusieurs fois dans la liste.",
                )
                numeros = None
                continue
            seen.add(numero)
            if numeros is not None:
                numeros.append(numero)

    montant = data.get("montant")
    if montant is None:
        fail("montant", "CHAMP_MANQUANT", "Le champ « montant » est obligatoire.")
    elif isinstance(montant, bool) or not isinstance(montant, int) or montant <= 0 or montant > MAX_AMOUNT:
        fail(
            "montant",
            "MONTANT_INVALIDE",
            "Le montant doit être un nombre entier positif, en unités mineures de la devise "
            "(exemple : 25000 pour 25 000 F CFA).",
        )
        montant = None

    devise = text("devise")
    if devise is not None and devise.upper() not in currencies:
        fail(
            "devise",
            "DEVISE_NON_PRISE_EN_CHARGE",
            f"Devise non prise en charge : « {devise} ». Devise(s) acceptée(s) : {', '.join(currencies)}.",
        )
        devise = None

    callback_url = data.get("callback_url")
    if callback_url is not None and callback_url != "":
        problem = outgoing.url_problem(callback_url, current_app.config["APP_ENV"] == "production")
        if problem:
            fail("callback_url", "URL_INVALIDE", f"« callback_url » {problem}.")
    else:
        callback_url = None

    if errors:
        count = len(errors)
        raise ApiError(
            422,
            "PARAMETRES_INVALIDES",
            f"La requête contient {count} erreur{'s' if count > 1 else ''} : corrigez "
            f"{'les champs indiqués' if count > 1 else 'le champ indiqué'}.",
            erreurs=errors,
        )
    return PaymentRequest(reference, telephone, numeros, montant, devise.upper(), callback_url)  # type: ignore[arg-type]


# Recording a payment once -------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """What the API answers for a request: the payment it refers to and whether it is new."""

    id: str
    reference: str
    statut: str  # EN_COURS, or the final status of an earlier payment
    created: bool


def submit_payment(
    client: ApiIdentity, req: PaymentRequest, idempotency_key: str | None, budget_seconds: float
) -> Receipt:
    """Store a new payment for this request (committed), or find the one a repeat refers to.

    Optimistic: a new request is simply inserted — payment, fine claims and first timeline
    line, all or nothing, in one round trip on PostgreSQL (models/writes.py). The unique
    indexes on (organisation, reference), (organisation, key) and the active fine claims
    refuse a duplicate, even 50 arriving at once, and only then do we read what is already
    there. Raises ApiError 409 when the reference/key was used with another body, or when a
    fine is already being paid or paid by another payment here. Nothing is enqueued here: a
    worker's dispatcher takes new payments from the table (jobs/fines.py).
    No audit row: the payment's own timeline records the receipt; people's actions on
    payments (re-run, close) are audited.
    """
    payment_id = new_payment_id()
    now = utcnow()
    payment = {
        "id": payment_id,
        "organisation_id": client.organisation_id,
        "api_client_id": client.id,
        "reference": req.reference,
        "idempotency_key": idempotency_key,
        "request_hash": req.fingerprint(),
        "telephone": req.telephone,
        "amount": req.montant,
        "currency": req.devise,
        "callback_url": req.callback_url,
        "status": PaymentStatus.RECU.value,
        "debit_id": f"{payment_id}-debit",
        "refund_id": f"{payment_id}-refund",
        "deadline_at": now + timedelta(seconds=budget_seconds),
        "next_attempt_at": None,  # not handed to a worker yet: the dispatcher's (dispatch.take_new_payments)
        "created_at": now,
        "updated_at": now,
    }
    # Claims are inserted in numero order, so two requests sharing fines lock the unique
    # index entries in the same order (one waits and gets 409; no deadlock).
    claims = sorted(
        (
            {"payment_id": payment_id, "position": i, "numero": n, "active_numero": n, "mark_id": f"{payment_id}-{n}"}
            for i, n in enumerate(req.amendes)
        ),
        key=lambda claim: claim["numero"],
    )
    event = {
        "payment_id": payment_id,
        "step": "RECU",
        "message": f"Demande reçue de l'application {client.name} : {plural(len(req.amendes), 'amende')}, "
        f"{format_amount(req.montant, req.devise)}.",
        "status": PaymentStatus.RECU.value,
        "request": {
            "reference": req.reference,
            "telephone": req.telephone,
            "amendes": req.amendes,
            "montant": req.montant,
            "devise": req.devise,
            "callback_url": req.callback_url,
            "idempotency_key": idempotency_key,
        },
        "created_at": now,
    }
    try:
        insert_together(
            [
                (FinePayment.__table__, [payment]),
                (FinePaymentItem.__table__, claims),
                (FinePaymentEvent.__table__, [event]),
            ]
        )
    except IntegrityError:
        # A repeat, or someone else claimed one of these fines first: nothing was written.
        existing = _existing(client.organisation_id, req.reference, idempotency_key, payment["request_hash"])
        if existing is not None:
            statut = existing.status if existing.is_final else "EN_COURS"
            return Receipt(existing.id, existing.reference, statut, created=False)
        _check_claims(req.amendes, client.organisation_id)
        raise ApiError(409, "CONFLIT", "Un paiement concurrent a été enregistré au même moment : réessayez.") from None
    return Receipt(payment_id, req.reference, "EN_COURS", created=True)


def _existing(organisation_id: int, reference: str, key: str | None, fingerprint: str) -> FinePayment | None:
    """The payment a repeat refers to (by Idempotency-Key, then by reference), or None; 409 if the body differs."""
    found = None
    if key:
        found = db.session.scalar(
            select(FinePayment).where(
                FinePayment.organisation_id == organisation_id, FinePayment.idempotency_key == key
            )
        )
    if found is None:
        found = db.session.scalar(
            select(FinePayment).where(
                FinePayment.organisation_id == organisation_id, FinePayment.reference == reference
            )
        )
    if found is None:
        return None
    if found.request_hash != fingerprint:
        what = (
            f"la clé d'idempotence « {key} »"
            if key and found.idempotency_key == key
            else f"la référence « {found.reference} »"
        )
        raise ApiError(
            409,
            "CONFLIT_IDEMPOTENCE",
            f"{what[0].upper()}{what[1:]} a déjà été utilisée pour une requête différente : "
            "une même référence ou clé doit toujours porter la même demande.",
            id=found.id,
        )
    return found


def _check_claims(numeros: list[str], organisation_id: int) -> None:
    """409 naming the fines already being paid, or paid, by another payment here.

    A fine claimed by another organisation is refused without naming anything of theirs
    (no reference, no status): one organisation never learns about another's payments.
    """
    rows = db.session.execute(
        select(FinePaymentItem.numero, FinePayment.reference, FinePayment.status, FinePayment.organisation_id)
        .join(FinePayment, FinePayment.id == FinePaymentItem.payment_id)
        .where(FinePaymentItem.active_numero.in_(numeros))
    ).all()
    if not rows:
        return
    if any(r.organisation_id != organisation_id for r in rows):
        names = ", ".join(sorted(r.numero for r in rows))
        raise ApiError(
            409,
            "AMENDE_INDISPONIBLE",
            f"Amende(s) qui ne peuvent pas être payées par cette demande : {names}.",
            amendes=[{"numero": r.numero} for r in rows],
        )
    paid = [r for r in rows if r.status == PaymentStatus.PAYE]
    details = [
        {
            "numero": r.numero,
            "reference": r.reference,
            "statut": "PAYEE" if r.status == PaymentStatus.PAYE else "EN_COURS",
        }
        for r in rows
    ]
    names = ", ".join(r.numero for r in rows)
    if paid and len(paid) == len(rows):
        raise ApiError(
            409,
            "AMENDE_DEJA_PAYEE",
            f"{'Amendes déjà payées' if len(details) > 1 else 'Amende déjà payée'} par un autre paiement : {names}.",
            amendes=details,
        )
    raise ApiError(
        409,
        "AMENDE_DEJA_EN_PAIEMENT",
        f"{'Amendes déjà en cours de paiement ou payées' if len(rows) > 1 else 'Amende déjà en cours de paiement ou payée'}"
        f" par un autre paiement : {names}.",
        amendes=details,
    )

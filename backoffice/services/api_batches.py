"""Bulk payments through the API: create, submit, decide, and read batches as a client application.

A client acts through its technical user (services/api_clients), so the upload path and the
four-eyes rules of `bulk.approval` apply unchanged: a client submits only the batches it
created, and approval through the API (when the organisation allows it) is only ever by a
different client, whose technical user is neither the creator nor the submitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from backoffice.extensions import db
from backoffice.models import Account, LedgerEntry, Organisation, User
from backoffice.models.accounts import ENTRY_LABELS, EntryKind
from backoffice.models.api import ApiBatch
from backoffice.models.base import utcnow
from backoffice.models.batches import (
    BATCH_STATUS_LABELS,
    LOOKUP_LABELS,
    NAME_MATCH_LABELS,
    ROW_STATUS_LABELS,
    Batch,
    BatchRow,
    BatchStatus,
    RowStatus,
)
from backoffice.services import PermissionDenied, ServiceError, api_clients, audit, webhooks
from backoffice.services.api_clients import ApiIdentity
from backoffice.services.bulk import approval, guard, history, importing, progress, verification

MAX_LISTED_PROBLEMS = 1000


@dataclass
class BatchOptions:
    """What a client may say about a new batch besides its lines."""

    compte_payeur: str | None = None
    libelle: str | None = None
    periode: str | None = None
    callback_url: str | None = None


def iso(value: datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def payer_account(client: ApiIdentity, number: str | None) -> Account:
    """The payer account named by the client, or its organisation's only active one."""
    if number:
        account = db.session.scalar(
            select(Account).where(Account.account_id == number, Account.organisation_id == client.organisation_id)
        )
        if account is None or not account.active:
            raise ServiceError("Compte payeur inconnu ou inactif dans votre organisation.", "compte_payeur")
        return account
    accounts = importing.payer_accounts(client.organisation_id)
    if len(accounts) != 1:
        raise ServiceError(
            "Précisez le compte payeur (« compte_payeur ») : votre organisation en a plusieurs, ou aucun actif.",
            "compte_payeur",
        )
    return accounts[0]


def create_batch(
    client: ApiIdentity,
    options: BatchOptions,
    *,
    stream: BinaryIO | None = None,
    file_name: str = "",
    records: list[dict] | None = None,
) -> Batch:
    """A DRAFT batch from a file or JSON records, checked as an upload (the caller commits).

    A file refused as a whole raises `FileRejected` with nothing written.
    """
    account = payer_account(client, options.compte_payeur)
    callback_url = None
    if options.callback_url:
        callback_url = webhooks.check_url(options.callback_url, field="callback_url")
    actor = api_clients.technical_user(client.id)
    label = (options.libelle or "").strip() or f"Lot API {utcnow():%d/%m/%Y %H:%M}"
    if records is not None:
        source = "json"
        batch = importing.create_from_records(
            actor, account.id, label, records, f"api-{client.id}-lignes.json", payment_period=options.periode
        )
    else:
        source = "file"
        batch = importing.create_from_upload(
            actor, account.id, label, stream, file_name or "api.csv", payment_period=options.periode
        )
    db.session.add(
        ApiBatch(
            batch_id=batch.id,
            api_client_id=client.id,
            source=source,
            callback_url=callback_url,
        )
    )
    audit.record(
        actor,
        "api.batch_created",
        batch,
        reference=batch.reference,
        api_client_id=client.id,
        source=source,
        periode=options.periode,
        callback_url=callback_url,
    )
    db.session.flush()
    return batch


def batch_of(client: ApiIdentity, batch_id: int) -> Batch:
    """A batch of the client's organisation, or 'not found' (never a hint that it exists)."""
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.organisation_id != client.organisation_id:
        raise LookupError(batch_id)
    return batch


def submit(client: ApiIdentity, batch_id: int, exclude_invalid: bool) -> Batch:
    batch_of(client, batch_id)
    return approval.submit_batch(api_clients.technical_user(client.id), batch_id, exclude_invalid)


def _check_api_decision(client: ApiIdentity, batch: Batch) -> User:
    if not api_clients.api_approval_allowed(batch.organisation_id):
        raise PermissionDenied(
            "Votre organisation n'autorise pas l'approbation par l'API : un gestionnaire approuve dans le back-office."
        )
    return api_clients.technical_user(client.id)


def approve(client: ApiIdentity, batch_id: int) -> Batch:
    """Approve through the API: only where the organisation allows it, never by the creating client."""
    actor = _check_api_decision(client, batch_of(client, batch_id))
    db.session.commit()  # the technical user of an older client, if it was just created
    return approval.approve_batch(actor, batch_id)


def reject(client: ApiIdentity, batch_id: int, reason: str) -> Batch:
    actor = _check_api_decision(client, batch_of(client, batch_id))
    db.session.commit()
    return approval.reject_batch(actor, batch_id, reason)


# Reading --------------------------------------------------------------------------------


@dataclass
class BatchFilters:
    statut: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    compte_payeur: str | None = None
    periode: str | None = None


def batches_query(organisation_id: int, filters: BatchFilters, account_id: int | None = None) -> Select:
    """The history page's query (same filters, same order), plus the API's payer account number and the
    batch's payment period (whether it came through the API or the upload page)."""
    stmt = history.history_query(
        organisation_id,
        history.HistoryFilters(
            status=filters.statut or "",
            date_from=filters.start_date,
            date_to=filters.end_date,
            account=account_id,
        ),
    )
    if account_id is None and filters.compte_payeur:
        stmt = stmt.join(Account, Account.id == Batch.account_id).where(Account.account_id == filters.compte_payeur)
    if filters.periode:
        stmt = stmt.where(Batch.payment_period == filters.periode)
    return stmt


def list_batches(
    organisation_id: int, filters: BatchFilters, limit: int, offset: int, account_id: int | None = None
) -> tuple[int, list[Batch]]:
    stmt = batches_query(organisation_id, filters, account_id)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0), list(db.session.scalars(stmt.limit(limit).offset(offset)).unique())


def api_records(batch_ids: list[int]) -> dict[int, ApiBatch]:
    if not batch_ids:
        return {}
    rows = db.session.scalars(
        select(ApiBatch).where(ApiBatch.batch_id.in_(batch_ids)).options(joinedload(ApiBatch.api_client))
    )
    return {r.batch_id: r for r in rows}


def batch_json(batch: Batch, api: ApiBatch | None) -> dict:
    """A batch as the API and the webhooks show it."""
    return {
        "id": batch.id,
        "reference": batch.reference,
        "libelle": batch.label,
        "statut": batch.status,
        "statut_libelle": BATCH_STATUS_LABELS.get(BatchStatus(batch.status), batch.status),
        "devise": batch.currency,
        "compte_payeur": {"id": batch.account_id, "numero": batch.account.account_id},
        "periode": batch.payment_period or None,
        "resume": {
            "lignes": batch.row_count,
            "valides": batch.valid_count,
            "invalides": batch.invalid_count,
            "avertissements": batch.warning_count,
            "montant_total": batch.total_amount,
            "devise": batch.currency,
        },
        "montant_reserve": batch.reserved_amount,
        "origine": "api" if api else "back-office",
        "client_api": api.api_client.name if api else None,
        "cree_par": batch.created_by.full_name if batch.created_by else None,
        "cree_le": iso(batch.created_at),
        "soumis_le": iso(batch.submitted_at),
        "approuve_le": iso(batch.approved_at),
        "termine_le": iso(batch.completed_at),
    }


def _line(row_line: int, api: ApiBatch | None) -> int:
    """The line a client knows: the file's line, or the rank in `lignes` for a JSON batch."""
    return row_line - 1 if api is not None and api.source == "json" else row_line


def line_problems(batch: Batch, api: ApiBatch | None) -> tuple[list[dict], list[dict], bool]:
    """The batch's row errors and warnings (ligne, champ, motif), the first MAX_LISTED_PROBLEMS of each."""

    def collect(kind: str) -> tuple[list[dict], bool]:
        stmt = history.problem_rows_query(batch, kind).with_only_columns(
            BatchRow.line_number, BatchRow.errors if kind == "errors" else BatchRow.warnings
        )
        out: list[dict] = []
        for line_number, problems in db.session.execute(stmt.limit(MAX_LISTED_PROBLEMS + 1)):
            for problem in problems or ():
                out.append(
                    {
                        "ligne": _line(line_number, api),
                        "champ": problem.get("field", ""),
                        "motif": problem.get("message", ""),
                    }
                )
        return out[:MAX_LISTED_PROBLEMS], len(out) > MAX_LISTED_PROBLEMS

    errors, cut_errors = collect("errors")
    warnings, cut_warnings = collect("warnings")
    return errors, warnings, cut_errors or cut_warnings


def detail_json(batch: Batch, api: ApiBatch | None) -> dict:
    stats = history.statistics(batch)
    organisation = db.session.get(Organisation, batch.organisation_id)
    return {
        **batch_json(batch, api),
        "organisation": {"code": organisation.code, "nom": organisation.name},
        "statistiques": {
            "par_statut": {
                status: {"nombre": count, "montant": stats.amount_by_status.get(status, 0)}
                for status, count in sorted(stats.by_status.items())
            },
            "frais": stats.fees,
            "taux_reussite": stats.success_rate,
        },
        "verification": verification_summary_json(batch),
        "alertes": guard_summary_json(batch),
        "chronologie": [
            {
                "date": iso(event.created_at),
                "action": event.action,
                "message": event.message,
                "par": event.user.full_name if event.user else None,
            }
            for event in history.timeline(batch)
        ],
    }


def rows_page(batch: Batch, api: ApiBatch | None, status: str | None, limit: int, offset: int) -> dict:
    stmt = history.rows_query(batch, status or "")
    stats = history.statistics(batch)
    total = stats.by_status.get(status, 0) if status else stats.total
    rows = db.session.scalars(stmt.limit(limit).offset(offset))
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "lignes": [
            {
                "ligne": _line(r.line_number, api),
                "statut": r.status,
                "statut_libelle": ROW_STATUS_LABELS.get(RowStatus(r.status), r.status),
                "type_id": r.party_id_type,
                "valeur_id": r.party_id_value,
                "montant": r.amount,
                "frais": r.fee,
                "devise": r.currency,
                "transfer_id": r.transfer_id,
                "code_erreur": r.error_code,
                "description_erreur": r.error_description,
                "nom_fichier": r.name,
                "nom_mojaloop": r.payee_name,
                "fsp_beneficiaire": r.payee_fsp_id,
                "erreurs": [
                    {"ligne": _line(r.line_number, api), "champ": e.get("field", ""), "motif": e.get("message", "")}
                    for e in r.errors or ()
                ],
                "avertissements": [
                    {"ligne": _line(r.line_number, api), "champ": w.get("field", ""), "motif": w.get("message", "")}
                    for w in r.warnings or ()
                ],
                "paye_le": iso(r.completed_at),
                "verification": row_verification_json(r),
                "double_paiement": row_guard_json(r, batch),
            }
            for r in rows
        ],
    }


# Trust controls (services/bulk/verification.py and guard.py decide; this only shows) -------

NOT_LOOKED_UP_LABEL = "Pas encore vérifié"
VERIFICATION_STATES = {"": "NOT_STARTED", verification.RUNNING: "RUNNING", verification.DONE: "DONE"}
VERIFICATION_STATE_LABELS = {"NOT_STARTED": "Non lancée", "RUNNING": "En cours", "DONE": "Terminée"}
ALREADY_PAID = "ALREADY_PAID_FOR_PERIOD"


def row_verification_json(row: BatchRow) -> dict:
    """The payee lookup's outcome of one row and how the returned name matches the file's."""
    return {
        "statut": row.lookup_status,
        "statut_libelle": LOOKUP_LABELS.get(row.lookup_status or "", NOT_LOOKED_UP_LABEL),
        "correspondance": row.name_match,
        "correspondance_libelle": NAME_MATCH_LABELS.get(row.name_match) if row.name_match else None,
        "score": row.name_score,
        "nom_mojaloop": row.lookup_name,
        "fsp": row.lookup_fsp_id,
    }


def row_guard_json(row: BatchRow, batch: Batch) -> dict | None:
    """The double-payment guard's flag on one row (None when not flagged)."""
    flag = row.already_paid
    if not flag:
        return None
    excluded = row.status == RowStatus.SKIPPED.value
    return {
        "code": ALREADY_PAID,
        "message": guard.flag_message(flag),
        "lot_id": flag.get("batch_id"),
        "lot_reference": flag.get("reference"),
        "date": flag.get("date") or None,
        "montant": flag.get("amount"),
        "devise": flag.get("currency") or batch.currency,
        "statut_autre_ligne": flag.get("row_status"),
        "exclue": excluded,
        "confirmee": batch.acknowledged_at is not None and not excluded,
    }


def verification_summary_json(batch: Batch) -> dict:
    """The payee verification's state and its counts by outcome (as the batch page shows them)."""
    figures = verification.progress(batch)
    state = VERIFICATION_STATES.get(batch.verification_status, batch.verification_status)
    return {
        "etat": state,
        "etat_libelle": VERIFICATION_STATE_LABELS.get(state, state),
        "verifie_le": iso(batch.verified_at),
        "verifiees": figures["done"],
        "a_verifier": figures["total"],
        "par_resultat": {
            verification.FOUND: figures["found"],
            verification.NOT_FOUND: figures["not_found"],
            verification.UNVERIFIED: figures["unverified"],
        },
        "par_correspondance": {
            verification.CONCORDANT: figures["concordant"],
            verification.TO_CHECK: figures["to_check"],
            verification.DISCORDANT: figures["discordant"],
        },
    }


def guard_summary_json(batch: Batch) -> dict:
    """What the approver must exclude or acknowledge (rows still to be paid), and the acknowledgement."""
    found = guard.report(batch)
    return {
        "deja_payees": found.already_paid,
        "contenu_identique": [b.reference for b in found.same_content],
        "noms_discordants": found.discordant,
        "non_verifiees": found.unverified,
        "confirmation_requise": found.needs_acknowledgement,
        "motifs": found.reasons(),
        "confirmation": {
            "motif": batch.acknowledgement,
            "par": batch.acknowledged_by.full_name if batch.acknowledged_by else None,
            "le": iso(batch.acknowledged_at),
        }
        if batch.acknowledged_at
        else None,
    }


def status_json(batch: Batch) -> dict:
    figures = progress.progress(batch)
    return {
        "id": batch.id,
        "reference": batch.reference,
        "statut": batch.status,
        "statut_libelle": BATCH_STATUS_LABELS.get(BatchStatus(batch.status), batch.status),
        "termine": batch.is_final,
        "progress_percent": 100 if batch.is_final and figures.total else int(figures.percent),
        "compteurs": dict(sorted(figures.counts.items())),
        "a_payer": figures.total,
        "traitees": figures.done,
    }


def accounts_json(organisation_id: int) -> list[dict]:
    accounts = db.session.scalars(
        select(Account).where(Account.organisation_id == organisation_id).order_by(Account.account_id)
    )
    return [account_json(a) for a in accounts]


def account_json(account: Account) -> dict:
    return {
        "id": account.id,
        "numero": account.account_id,
        "libelle": account.label,
        "devise": account.currency,
        "solde": account.balance,
        "reserve": account.reserved,
        "disponible": account.available,
        "actif": account.active,
    }


def account_of(client: ApiIdentity, account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or account.organisation_id != client.organisation_id:
        raise LookupError(account_id)
    return account


def ledger_page(account: Account, limit: int, offset: int) -> dict:
    base = select(LedgerEntry).where(LedgerEntry.account_id == account.id)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    entries = db.session.scalars(
        base.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).limit(limit).offset(offset)
    )
    return {
        "total": int(total or 0),
        "limit": limit,
        "offset": offset,
        "ecritures": [
            {
                "id": e.id,
                "date": iso(e.created_at),
                "type": e.kind,
                "type_libelle": ENTRY_LABELS.get(EntryKind(e.kind), e.kind),
                "montant": e.amount,
                "solde_apres": e.balance_after,
                "reserve_apres": e.reserved_after,
                "reference": e.reference,
                "note": e.note,
            }
            for e in entries
        ],
    }

"""Figures of an organisation's dashboard for a period, aggregated in SQL, and CSV helpers.

Rows count in the period in which they were settled (naive UTC), whatever the day their
batch was uploaded: `completed_at` for a completed row, and for a failed row the same or,
when the processing leaves it empty, `updated_at` (the time the failure was written). Amounts are never summed across currencies.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, literal_column, select, text

from backoffice.extensions import db
from backoffice.jobs import queue
from backoffice.models.base import utcnow
from backoffice.models.batches import (
    BATCH_STATUS_LABELS,
    FINAL_BATCH_STATUSES,
    Batch,
    BatchRow,
    BatchStatus,
    RowStatus,
)
from backoffice.services.money import CURRENCIES, plain_decimal
from backoffice.services.providers import provider_names
from backoffice.services.spreadsheets import safe_cell

SETTLED = (RowStatus.COMPLETED.value, RowStatus.FAILED.value)
FINAL_STATUS_VALUES = {status.value for status in FINAL_BATCH_STATUSES}
LIVE_CACHE_SECONDS = 60  # how long "beneficiaries paid" may lag while a batch is being paid
MAX_PERIOD_DAYS = 366 * 2


@dataclass(frozen=True)
class Period:
    """Days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time())

    @property
    def end_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time())

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def this_month(today: date | None = None) -> Period:
    today = today or utcnow().date()
    return Period(today.replace(day=1), today)


def parse_period(date_from: str | None, date_to: str | None, today: date | None = None) -> tuple[Period, str | None]:
    """The period asked for in the query string, or this month with a French message when unreadable."""
    default = this_month(today)
    if not date_from and not date_to:
        return default, None
    try:
        start = date.fromisoformat(date_from) if date_from else default.start
        end = date.fromisoformat(date_to) if date_to else max(start, default.end)
    except ValueError:
        return default, "Dates illisibles : la période du mois en cours est affichée."
    if end < start:
        return default, "La date de fin précède la date de début : la période du mois en cours est affichée."
    if (end - start).days > MAX_PERIOD_DAYS:
        return default, "Période trop longue (deux ans au plus) : la période du mois en cours est affichée."
    return Period(start, end), None


@dataclass
class FailureReason:
    code: str
    description: str
    count: int


@dataclass
class ProviderFigures:
    fsp_id: str
    name: str
    completed: int = 0
    failed: int = 0
    amounts: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        total = self.completed + self.failed
        return self.completed / total if total else None


@dataclass
class DayFigures:
    day: date
    completed: int = 0
    failed: int = 0
    amounts: dict[str, int] = field(default_factory=dict)


@dataclass
class DashboardFigures:
    period: Period
    amounts: dict[str, int]  # disbursed (completed rows), per currency
    fees: dict[str, int]
    completed: int
    failed: int
    beneficiaries: int
    batches_by_status: dict[str, int]
    failures: list[FailureReason]
    providers: list[ProviderFigures]
    days: list[DayFigures]
    fines: dict[str, int]

    @property
    def success_rate(self) -> float | None:
        total = self.completed + self.failed
        return self.completed / total if total else None

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.amounts) | set(self.fees))


def _as_date(value) -> date:
    """SQLite returns `date()` as text, PostgreSQL as a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def settled_at():
    """When a row was settled (see the module docstring)."""
    return func.coalesce(BatchRow.completed_at, BatchRow.updated_at)


def _settled_rows_filter(organisation_id: int, period: Period):
    return and_(
        Batch.organisation_id == organisation_id,
        settled_at() >= period.start_at,
        settled_at() < period.end_before,
    )


def _completed_rows_filter(organisation_id: int, period: Period):
    """Completed rows always carry `completed_at`: this one can use the (batch_id, completed_at) index."""
    return and_(
        Batch.organisation_id == organisation_id,
        BatchRow.status == RowStatus.COMPLETED.value,
        BatchRow.completed_at >= period.start_at,
        BatchRow.completed_at < period.end_before,
    )


# Rollups: a final batch's settled rows summed once, so that a year of data stays fast ----


def rollup_batch(batch_id: int) -> bool:
    """(Re)compute a final batch's day stats; returns False for a batch still in progress.

    Idempotent: run when a batch finishes (bulk.events.batch_finished queues it), by the
    dashboard for final batches it finds without one, and again whenever a settled row of a
    final batch changes (e.g. a NEEDS_REVIEW row decided by a person). The caller commits.
    """
    from sqlalchemy import delete, insert, literal

    from backoffice.models.extras import BatchDayStats, BatchRollup

    batch = db.session.get(Batch, batch_id)
    if batch is None or not batch.is_final:
        return False
    db.session.execute(delete(BatchDayStats).where(BatchDayStats.batch_id == batch_id))
    db.session.execute(delete(BatchRollup).where(BatchRollup.batch_id == batch_id))
    db.session.add(BatchRollup(batch_id=batch_id, organisation_id=batch.organisation_id))
    db.session.flush()
    day = func.date(settled_at())
    db.session.execute(
        insert(BatchDayStats).from_select(
            [
                "batch_id",
                "organisation_id",
                "day",
                "status",
                "error_code",
                "payee_fsp_id",
                "currency",
                "row_count",
                "amount",
                "fee",
                "error_description",
            ],
            select(
                literal(batch_id),
                literal(batch.organisation_id),
                day,
                BatchRow.status,
                BatchRow.error_code,
                BatchRow.payee_fsp_id,
                literal(batch.currency),
                func.count(),
                func.coalesce(func.sum(BatchRow.amount), 0),
                func.coalesce(func.sum(BatchRow.fee), 0),
                func.max(BatchRow.error_description),
            )
            .where(
                BatchRow.batch_id == batch_id,
                BatchRow.status.in_(SETTLED),
                settled_at().is_not(None),
            )
            .group_by(day, BatchRow.status, BatchRow.error_code, BatchRow.payee_fsp_id),
        )
    )
    return True


def _unrolled_batches(organisation_id: int) -> list[tuple[int, str]]:
    """(id, status) of the organisation's batches whose rows are read live (no rollup yet)."""
    from backoffice.models.extras import BatchRollup

    return list(
        db.session.execute(
            select(Batch.id, Batch.status)
            .outerjoin(BatchRollup, BatchRollup.batch_id == Batch.id)
            .where(Batch.organisation_id == organisation_id, BatchRollup.batch_id.is_(None))
        ).all()
    )


def schedule_rollups(batch_ids: list[int]) -> None:
    """Queue the rollup of final batches met without one (a queue that is down is not an error)."""
    try:
        for batch_id in batch_ids[:50]:
            # once: a rollup already on its way is not piled up again while no worker runs
            job = f"dashboard-rollup-{batch_id}"
            queue.enqueue(
                "backoffice.jobs.dashboard.rollup_batch_job", batch_id, once=True, job_id=job, job_timeout=300
            )
    except Exception:  # noqa: BLE001 - the figures are right without it, only slower
        import logging

        logging.getLogger(__name__).warning("could not queue dashboard rollups", exc_info=True)


def _grouped_figures(organisation_id: int, period: Period, live_ids: list[int]) -> list[tuple]:
    """(day, status, code, fsp, currency, count, amount, fee, description) from rollups + live rows."""
    from backoffice.models.extras import BatchDayStats

    rolled = db.session.execute(
        select(
            BatchDayStats.day,
            BatchDayStats.status,
            BatchDayStats.error_code,
            BatchDayStats.payee_fsp_id,
            BatchDayStats.currency,
            func.sum(BatchDayStats.row_count),
            func.sum(BatchDayStats.amount),
            func.sum(BatchDayStats.fee),
            func.max(BatchDayStats.error_description),
        )
        .where(
            BatchDayStats.organisation_id == organisation_id,
            BatchDayStats.day >= period.start,
            BatchDayStats.day <= period.end,
        )
        .group_by(
            BatchDayStats.day,
            BatchDayStats.status,
            BatchDayStats.error_code,
            BatchDayStats.payee_fsp_id,
            BatchDayStats.currency,
        )
    ).all()
    if not live_ids:
        return list(rolled)
    day = func.date(settled_at())
    live = db.session.execute(
        select(
            day,
            BatchRow.status,
            BatchRow.error_code,
            BatchRow.payee_fsp_id,
            Batch.currency,
            func.count(),
            func.coalesce(func.sum(BatchRow.amount), 0),
            func.coalesce(func.sum(BatchRow.fee), 0),
            func.max(BatchRow.error_description),
        )
        .join(Batch, Batch.id == BatchRow.batch_id)
        .where(
            _settled_rows_filter(organisation_id, period),
            BatchRow.batch_id.in_(live_ids),
            BatchRow.status.in_(SETTLED),
        )
        .group_by(day, BatchRow.status, BatchRow.error_code, BatchRow.payee_fsp_id, Batch.currency)
    ).all()
    return [*rolled, *live]


def dashboard_figures(organisation_id: int, period: Period) -> DashboardFigures:
    """Every figure of the dashboard: final batches from their rollups, the others from their rows."""
    unrolled = _unrolled_batches(organisation_id)
    live_ids = [batch_id for batch_id, _ in unrolled]
    schedule_rollups([batch_id for batch_id, status in unrolled if status in FINAL_STATUS_VALUES])
    grouped = _grouped_figures(organisation_id, period, live_ids)

    amounts: dict[str, int] = defaultdict(int)
    fees: dict[str, int] = defaultdict(int)
    completed = failed = 0
    failures: dict[str, FailureReason] = {}
    providers: dict[str, ProviderFigures] = {}
    days = {d: DayFigures(d) for d in period.days()}
    for raw_day, status, code, fsp, currency, count, amount, fee, description in grouped:
        count, amount, fee = int(count), int(amount or 0), int(fee or 0)
        the_day = days.setdefault(_as_date(raw_day), DayFigures(_as_date(raw_day)))
        provider = providers.setdefault(fsp or "", ProviderFigures(fsp or "", ""))
        if status == RowStatus.COMPLETED:
            completed += count
            amounts[currency] += amount
            fees[currency] += fee
            the_day.completed += count
            the_day.amounts[currency] = the_day.amounts.get(currency, 0) + amount
            provider.completed += count
            provider.amounts[currency] = provider.amounts.get(currency, 0) + amount
        else:
            failed += count
            the_day.failed += count
            provider.failed += count
            reason = failures.setdefault(code or "", FailureReason(code or "", description or "", 0))
            reason.count += count
            if description and (not reason.description or description > reason.description):
                reason.description = description

    names = provider_names()
    for provider in providers.values():
        provider.name = names.get(provider.fsp_id, "") if provider.fsp_id else "Non renseigné"

    in_progress = any(status not in FINAL_STATUS_VALUES for _, status in unrolled)
    return DashboardFigures(
        period=period,
        amounts=dict(amounts),
        fees=dict(fees),
        completed=completed,
        failed=failed,
        beneficiaries=beneficiaries_paid(organisation_id, period, ttl=LIVE_CACHE_SECONDS if in_progress else 24 * 3600),
        batches_by_status=batches_by_status(organisation_id, period),
        failures=sorted(failures.values(), key=lambda r: (-r.count, r.code)),
        providers=sorted(providers.values(), key=lambda p: (-(p.completed + p.failed), p.fsp_id)),
        days=[days[d] for d in sorted(days)],
        fines=fines_summary(organisation_id, period),
    )


def beneficiaries_paid(organisation_id: int, period: Period, ttl: int = 0) -> int:
    """Distinct beneficiaries (id type and value) with at least one completed payment.

    A distinct count cannot be summed from rollups, so it reads the rows. With `ttl`, the
    result is kept in Redis under the organisation's rollup version (a new or refreshed
    rollup changes the key); the dashboard keeps it a day when every batch is final, a
    minute while one is being paid (the figure then lags by at most that minute).
    """
    key = None
    if ttl:
        from backoffice.models.extras import BatchRollup

        count, latest = db.session.execute(
            select(func.count(), func.max(BatchRollup.computed_at)).where(
                BatchRollup.organisation_id == organisation_id
            )
        ).one()
        key = f"dashboard:beneficiaries:{organisation_id}:{period.start}:{period.end}:{count}:{latest}"
        cached = _cache_get(key)
        if cached is not None:
            return int(cached)
    if db.session.get_bind().dialect.name == "postgresql":
        # A big one-off aggregate: JIT compilation costs more than it saves here.
        db.session.execute(text("SET LOCAL jit = off"))
    distinct = (
        select(BatchRow.party_id_type, BatchRow.party_id_value)
        .join(Batch, Batch.id == BatchRow.batch_id)
        .where(_completed_rows_filter(organisation_id, period))
        .distinct()
        .subquery()
    )
    value = db.session.scalar(select(func.count()).select_from(distinct)) or 0
    if key is not None:
        _cache_set(key, value, ttl)
    return value


def _redis():
    from flask import current_app

    try:
        return current_app.get_queue().connection
    except Exception:  # noqa: BLE001
        return None


def _cache_get(key: str):
    try:
        connection = _redis()
        return connection.get(key) if connection is not None else None
    except Exception:  # noqa: BLE001 - a cache that is down only makes the page slower
        return None


def _cache_set(key: str, value: int, ttl: int) -> None:
    try:
        connection = _redis()
        if connection is not None:
            connection.set(key, value, ex=ttl)
    except Exception:  # noqa: BLE001
        pass


def batches_by_status(organisation_id: int, period: Period) -> dict[str, int]:
    """Batches uploaded in the period, by state (every state listed, zeros included)."""
    counts = dict(
        db.session.execute(
            select(Batch.status, func.count())
            .where(
                Batch.organisation_id == organisation_id,
                Batch.created_at >= period.start_at,
                Batch.created_at < period.end_before,
            )
            .group_by(Batch.status)
        ).all()
    )
    return {status.value: counts.get(status.value, 0) for status in BatchStatus}


def fines_summary(organisation_id: int, period: Period) -> dict:
    """Fines paid (collected) and refunded in the period: counts, and amounts per currency.

    Reads the fines area's `FinePayment` (status PAYE / REMBOURSE; `collected_amount` and
    `refund_amount` when it has them, else `amount`; the period on `completed_at`, else
    `created_at`). Until that model exists on this installation, everything is zero.
    """
    from backoffice.models import fines as fines_models

    result: dict = {"collected_count": 0, "refunded_count": 0, "collected": {}, "refunded": {}}
    model = getattr(fines_models, "FinePayment", None)
    if model is None or not all(hasattr(model, n) for n in ("organisation_id", "amount", "status", "created_at")):
        return result
    when = func.coalesce(model.completed_at, model.created_at) if hasattr(model, "completed_at") else model.created_at
    currency = model.currency if hasattr(model, "currency") else literal_column("''")
    amounts = {
        "PAYE": getattr(model, "collected_amount", model.amount),
        "REMBOURSE": getattr(model, "refund_amount", model.amount),
    }
    for status, key in (("PAYE", "collected"), ("REMBOURSE", "refunded")):
        rows = db.session.execute(
            select(currency, func.count(), func.coalesce(func.sum(amounts[status]), 0))
            .where(
                model.organisation_id == organisation_id,
                model.status == status,
                when >= period.start_at,
                when < period.end_before,
            )
            .group_by(currency)
        ).all()
        for cur, count, amount in rows:
            result[f"{key}_count"] += count
            result[key][cur] = int(amount)
    return result


# Charts ---------------------------------------------------------------------------------


def history_url(**params: str) -> str:
    """The bulk history filtered by the given parameters (the history page's own names)."""
    from urllib.parse import urlencode

    order = ["date_from", "date_to"] + sorted(k for k in params if k not in ("date_from", "date_to"))
    return "/batches/?" + urlencode([(k, params[k]) for k in order if params.get(k)])


def chart_specs(figures: DashboardFigures) -> dict[str, dict]:
    """Data for the three charts, each point carrying the history URL it opens."""
    period = {"date_from": figures.period.start.isoformat(), "date_to": figures.period.end.isoformat()}
    currencies = figures.currencies or ["XOF"]
    per_day = {
        "type": "bar",
        "title": "Montant versé par jour",
        "labels": [d.day.strftime("%d/%m") for d in figures.days],
        "datasets": [
            {
                "label": currency,
                "data": [minor_to_major(d.amounts.get(currency, 0), currency) for d in figures.days],
            }
            for currency in currencies
        ],
        "links": [history_url(date_from=d.day.isoformat(), date_to=d.day.isoformat()) for d in figures.days],
    }
    outcome = {
        "type": "doughnut",
        "title": "Paiements réussis et échoués",
        "labels": ["Réussis", "Échoués"],
        "datasets": [{"label": "Paiements", "data": [figures.completed, figures.failed]}],
        "links": [history_url(**period, status="COMPLETED"), history_url(**period, status="FAILED")],
    }
    top = figures.failures[:10]
    reasons = {
        "type": "bar",
        "horizontal": True,
        "title": "Principaux motifs d'échec",
        "labels": [f"{r.code or '—'} {r.description}".strip()[:60] for r in top],
        "datasets": [{"label": "Échecs", "data": [r.count for r in top]}],
        "links": [history_url(**period, error_code=r.code) for r in top],
    }
    return {"per_day": per_day, "outcome": outcome, "reasons": reasons}


def minor_to_major(minor: int, currency: str) -> float:
    """For chart axes only (never for money arithmetic)."""
    return minor / 10 ** CURRENCIES.get(currency, 2)


# CSV ------------------------------------------------------------------------------------


def csv_amount(minor: int | None, currency: str, decimal_mark: str = ",") -> str:
    """Minor units as a plain decimal (no grouping) that Excel reads as a number."""
    return plain_decimal(minor, currency, decimal_mark)


def csv_bytes(rows: Iterable[Iterable], separator: str = ";") -> bytes:
    """UTF-8 with BOM (Excel), CRLF, every cell formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def figures_csv_rows(figures: DashboardFigures, organisation_name: str, decimal_mark: str = ",") -> list[list]:
    """The dashboard as a table: one section per block, the same figures as the page."""
    p = figures.period
    rows: list[list] = [
        ["Tableau de bord", organisation_name],
        ["Période", f"{p.start.isoformat()} au {p.end.isoformat()}"],
        [],
        ["Indicateur", "Devise", "Valeur"],
    ]
    for currency in figures.currencies:
        rows.append(["Montant versé", currency, csv_amount(figures.amounts.get(currency, 0), currency, decimal_mark)])
        rows.append(["Frais", currency, csv_amount(figures.fees.get(currency, 0), currency, decimal_mark)])
    rate = figures.success_rate
    rows += [
        ["Paiements réussis", "", figures.completed],
        ["Paiements échoués", "", figures.failed],
        ["Taux de réussite (%)", "", "" if rate is None else f"{rate * 100:.1f}".replace(".", decimal_mark)],
        ["Bénéficiaires payés", "", figures.beneficiaries],
        ["Amendes encaissées (nombre)", "", figures.fines["collected_count"]],
        *[
            ["Amendes encaissées (montant)", c, csv_amount(a, c, decimal_mark)]
            for c, a in sorted(figures.fines["collected"].items())
        ],
        ["Amendes remboursées (nombre)", "", figures.fines["refunded_count"]],
        *[
            ["Amendes remboursées (montant)", c, csv_amount(a, c, decimal_mark)]
            for c, a in sorted(figures.fines["refunded"].items())
        ],
        [],
        ["Lots par état", "État", "Nombre"],
    ]
    for status, count in figures.batches_by_status.items():
        rows.append(["", BATCH_STATUS_LABELS[BatchStatus(status)], count])
    rows += [[], ["Échecs par code", "Code", "Description", "Nombre"]]
    for reason in figures.failures:
        rows.append(["", reason.code, reason.description, reason.count])
    rows += [[], ["Fournisseurs", "Identifiant FSP", "Nom", "Réussis", "Échoués", "Devise", "Montant versé"]]
    for provider in figures.providers:
        for currency in sorted(provider.amounts) or [""]:
            amount = provider.amounts.get(currency)
            rows.append(
                [
                    "",
                    provider.fsp_id,
                    provider.name,
                    provider.completed,
                    provider.failed,
                    currency,
                    csv_amount(amount, currency, decimal_mark) if currency else "",
                ]
            )
    rows += [[], ["Par jour", "Date", "Réussis", "Échoués", "Devise", "Montant versé"]]
    for d in figures.days:
        for currency in sorted(d.amounts) or [""]:
            amount = d.amounts.get(currency)
            rows.append(
                [
                    "",
                    d.day.isoformat(),
                    d.completed,
                    d.failed,
                    currency,
                    csv_amount(amount, currency, decimal_mark) if currency else "",
                ]
            )
    return rows


# Accounts and audit log ------------------------------------------------------------------


def parse_day(text: str | None) -> date | None:
    """A `YYYY-MM-DD` filter value, or None when empty or unreadable."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def ledger_query(account_id: int, kind: str | None = None, date_from: date | None = None, date_to: date | None = None):
    """An account's ledger entries, newest first, filtered by kind and by day (inclusive)."""
    from backoffice.models import LedgerEntry

    stmt = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if kind:
        stmt = stmt.where(LedgerEntry.kind == kind)
    if date_from:
        stmt = stmt.where(LedgerEntry.created_at >= datetime.combine(date_from, datetime.min.time()))
    if date_to:
        stmt = stmt.where(LedgerEntry.created_at < datetime.combine(date_to + timedelta(days=1), datetime.min.time()))
    return stmt.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())


def ledger_csv_rows(entries, currency: str, decimal_mark: str = ",") -> Iterable[list]:
    """The ledger as exported: one line per entry, amounts in the account's currency."""
    yield ["Date (UTC)", "Opération", "Montant", "Solde après", "Réservé après", "Devise", "Référence", "Note", "Par"]
    for e in entries:
        yield [
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.kind_label,
            csv_amount(e.amount, currency, decimal_mark),
            csv_amount(e.balance_after, currency, decimal_mark),
            csv_amount(e.reserved_after, currency, decimal_mark),
            currency,
            e.reference,
            e.note,
            e.user.full_name if e.user else "Système",
        ]


def batches_paid_from(account_id: int, limit: int = 20) -> list[Batch]:
    """The latest batches that paid (or will pay) from an account."""
    return list(
        db.session.scalars(
            select(Batch)
            .where(Batch.account_id == account_id, Batch.status.notin_((BatchStatus.DRAFT.value,)))
            .order_by(Batch.created_at.desc(), Batch.id.desc())
            .limit(limit)
        )
    )


@dataclass
class AuditFilters:
    user_id: int | None = None
    action: str = ""
    object_type: str = ""
    date_from: date | None = None
    date_to: date | None = None


def audit_query(organisation_id: int | None, filters: AuditFilters):
    """Audit events newest first; `organisation_id=None` means every organisation (admins)."""
    from backoffice.models import AuditEvent

    stmt = select(AuditEvent)
    if organisation_id is not None:
        stmt = stmt.where(AuditEvent.organisation_id == organisation_id)
    if filters.user_id:
        stmt = stmt.where(AuditEvent.user_id == filters.user_id)
    if filters.action:
        stmt = stmt.where(AuditEvent.action.like(f"{filters.action.replace('%', '')}%"))
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.date_from:
        stmt = stmt.where(AuditEvent.created_at >= datetime.combine(filters.date_from, datetime.min.time()))
    if filters.date_to:
        stmt = stmt.where(
            AuditEvent.created_at < datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time())
        )
    return stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def audit_filter_choices(organisation_id: int | None) -> dict[str, list]:
    """Users, actions and object types that appear in the visible part of the log."""
    from backoffice.models import AuditEvent, User

    scope = [] if organisation_id is None else [AuditEvent.organisation_id == organisation_id]
    actions = db.session.scalars(select(AuditEvent.action).where(*scope).distinct().order_by(AuditEvent.action))
    types = db.session.scalars(
        select(AuditEvent.object_type)
        .where(*scope, AuditEvent.object_type != "")
        .distinct()
        .order_by(AuditEvent.object_type)
    )
    users_stmt = select(User).order_by(User.last_name, User.first_name)
    if organisation_id is not None:
        users_stmt = users_stmt.where(User.organisation_id == organisation_id)
    return {"actions": list(actions), "object_types": list(types), "users": list(db.session.scalars(users_stmt))}


def audit_csv_rows(events) -> Iterable[list]:
    import json

    yield ["Date (UTC)", "Utilisateur", "Action", "Objet", "Identifiant", "Organisation", "Adresse IP", "Détails"]
    for e in events:
        yield [
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.user.email if e.user else "Système",
            e.action,
            e.object_type,
            e.object_id,
            e.organisation_id or "",
            e.ip or "",
            json.dumps(e.details or {}, ensure_ascii=False, sort_keys=True),
        ]


# Gestionnaire home ------------------------------------------------------------------------


def home_work(user) -> dict[str, list]:
    """What waits for a gestionnaire: colleagues' batches to approve, drafts, batches in progress,
    recent failures. Superviseurs get the same lists, read-only."""
    if user is None or not getattr(user, "is_member", False):
        return {"to_approve": [], "drafts": [], "in_progress": [], "failures": []}
    org = Batch.organisation_id == user.organisation_id
    limit = 10

    def batches(*conditions) -> list[Batch]:
        stmt = select(Batch).where(org, *conditions).order_by(Batch.created_at.desc(), Batch.id.desc()).limit(limit)
        return list(db.session.scalars(stmt))

    in_progress_states = (BatchStatus.APPROVED.value, BatchStatus.PROCESSING.value)
    submitter = func.coalesce(Batch.submitted_by_id, Batch.created_by_id)
    failed_states = (BatchStatus.FAILED.value, BatchStatus.PARTIALLY_COMPLETED.value)
    week_ago = utcnow() - timedelta(days=7)
    return {
        "to_approve": batches(Batch.status == BatchStatus.PENDING_APPROVAL.value, submitter != user.id)
        if user.is_gestionnaire
        else [],
        "drafts": batches(Batch.status == BatchStatus.DRAFT.value, Batch.created_by_id == user.id),
        "in_progress": batches(Batch.status.in_(in_progress_states), Batch.created_by_id == user.id)
        if user.is_gestionnaire
        else batches(Batch.status.in_(in_progress_states)),
        "failures": batches(
            Batch.status.in_(failed_states),
            func.coalesce(Batch.completed_at, Batch.created_at) >= week_ago,
        ),
    }

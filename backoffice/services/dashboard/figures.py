"""Figures of an organisation's dashboard for a period, aggregated in SQL from rollups and live rows.

Amounts are never summed across currencies.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import func, literal_column, select, text

from backoffice.extensions import db
from backoffice.models.batches import (
    Batch,
    BatchRow,
    BatchStatus,
    RowStatus,
)
from backoffice.services.dashboard.rollups import (
    FINAL_STATUS_VALUES,
    SETTLED,
    completed_rows_filter,
    local_day,
    organisation_offset,
    organisation_timezone,
    schedule_rollups,
    settled_at,
    settled_rows_filter,
    unrolled_batches,
)
from backoffice.services.locale import format_date
from backoffice.services.mojaloop_errors import error_label
from backoffice.services.money import CURRENCIES
from backoffice.services.periods import Period, as_date
from backoffice.services.providers import provider_names

LIVE_CACHE_SECONDS = 60  # how long "beneficiaries paid" may lag while a batch is being paid


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


def _grouped_figures(organisation_id: int, period: Period, live_ids: list[int]) -> list[tuple]:
    """(day, status, code, fsp, currency, count, amount, fee, description) from rollups + live rows."""
    from backoffice.models.rollups import BatchDayStats

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
    day = local_day(settled_at(), organisation_offset(organisation_id))
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
            settled_rows_filter(organisation_id, period),
            BatchRow.batch_id.in_(live_ids),
            BatchRow.status.in_(SETTLED),
        )
        .group_by(day, BatchRow.status, BatchRow.error_code, BatchRow.payee_fsp_id, Batch.currency)
    ).all()
    return [*rolled, *live]


def dashboard_figures(organisation_id: int, period: Period) -> DashboardFigures:
    """Every figure of the dashboard: final batches from their rollups, the others from their rows.

    The period's days are the organisation's (its time zone), like the rollups' days.
    """
    period = replace(period, timezone=organisation_timezone(organisation_id))
    unrolled = unrolled_batches(organisation_id)
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
        the_day = days.setdefault(as_date(raw_day), DayFigures(as_date(raw_day)))
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
        from backoffice.models.rollups import BatchRollup

        count, latest = db.session.execute(
            select(func.count(), func.max(BatchRollup.computed_at)).where(
                BatchRollup.organisation_id == organisation_id
            )
        ).one()
        key = f"dashboard:beneficiaries:{organisation_id}:{period.start}:{period.end}:{period.timezone}:{count}:{latest}"
        cached = _cache_get(key)
        if cached is not None:
            return int(cached)
    if db.session.get_bind().dialect.name == "postgresql":
        # A big one-off aggregate: JIT compilation costs more than it saves here.
        db.session.execute(text("SET LOCAL jit = off"))
    distinct = (
        select(BatchRow.party_id_type, BatchRow.party_id_value)
        .join(Batch, Batch.id == BatchRow.batch_id)
        .where(completed_rows_filter(organisation_id, period))
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


def fines_authority_figures(organisation_id: int, period: Period) -> dict:
    """The traffic authority's day-by-day view of its fines payments over the period.

    Per day (of `completed_at`, UTC): fines collected (PAYE) and refunded (REMBOURSE), counts
    and amounts per currency; now: payments waiting for a person (A_VERIFIER) and still
    running; and the time from the request to the final state (p50, p95, max, in seconds).
    """
    from backoffice.models.fines import FINAL_PAYMENT_STATUSES, FinePayment, PaymentStatus

    model = FinePayment
    day = func.date(model.completed_at)
    days: dict[str, dict] = {
        d.isoformat(): {"paid": 0, "collected": {}, "refunded_count": 0, "refunded": {}} for d in period.days()
    }
    rows = db.session.execute(
        select(
            day,
            model.status,
            model.currency,
            func.count(),
            func.sum(model.collected_amount),
            func.sum(model.refund_amount),
        )
        .where(
            model.organisation_id == organisation_id,
            model.status.in_(["PAYE", "REMBOURSE"]),
            model.completed_at >= period.start_at,
            model.completed_at < period.end_before,
        )
        .group_by(day, model.status, model.currency)
    ).all()
    for when, status, currency, count, collected, refunded in rows:
        entry = days.setdefault(str(when)[:10], {"paid": 0, "collected": {}, "refunded_count": 0, "refunded": {}})
        if status == "PAYE":
            entry["paid"] += count
        else:
            entry["refunded_count"] += count
            entry["refunded"][currency] = entry["refunded"].get(currency, 0) + int(refunded or 0)
        if collected:  # a partial refund keeps what was marked paid
            entry["collected"][currency] = entry["collected"].get(currency, 0) + int(collected)
    counts = dict(
        db.session.execute(
            select(model.status, func.count()).where(model.organisation_id == organisation_id).group_by(model.status)
        ).all()
    )
    finals = [s.value for s in FINAL_PAYMENT_STATUSES]
    durations = sorted(
        (done - created).total_seconds()
        for created, done in db.session.execute(
            select(model.created_at, model.completed_at).where(
                model.organisation_id == organisation_id,
                model.status.in_(finals),
                model.completed_at >= period.start_at,
                model.completed_at < period.end_before,
            )
        )
    )

    def share(q: float) -> float | None:
        return durations[min(len(durations) - 1, round(q * (len(durations) - 1)))] if durations else None

    return {
        "days": [{"day": k, **v} for k, v in sorted(days.items())],
        "waiting": counts.get(PaymentStatus.A_VERIFIER.value, 0),
        "running": sum(n for status, n in counts.items() if status not in finals and status != "A_VERIFIER"),
        "outcome_seconds": {"count": len(durations), "p50": share(0.5), "p95": share(0.95), "max": share(1.0)},
    }


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
        "labels": [format_date(d.day, "dd/MM") for d in figures.days],
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
        "labels": [f"{r.code or '—'} {error_label(r.code, r.description)}" for r in top],
        "datasets": [{"label": "Échecs", "data": [r.count for r in top]}],
        "links": [history_url(**period, error_code=r.code) for r in top],
    }
    return {"per_day": per_day, "outcome": outcome, "reasons": reasons}


def minor_to_major(minor: int, currency: str) -> float:
    """For chart axes only (never for money arithmetic)."""
    return minor / 10 ** CURRENCIES.get(currency, 2)

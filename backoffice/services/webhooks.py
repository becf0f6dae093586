"""Signed webhooks: which events an organisation receives, how they are signed, delivered and retried.

Events are read, not pushed: every worker's webhook loop reads the batches' timeline
(`batch_events`: submitted, approved, rejected, processing_finished) and the fines
payments' timeline (a final status) past a cursor, and writes one delivery per URL in
the same transaction that moves the cursor. Nothing in the batch or fines code has to
remember to call us, and an event committed before a crash is still delivered.

Each delivery is POSTed with `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">` under the signing secret of the client the URL belongs to, and
`X-Event-Id` (the same for every URL and every retry of one event: receivers deduplicate
on it). A failure is retried with exponential backoff until WEBHOOK_RETRY_HOURS after the
event, then the delivery is given up (ABANDONNE) and shown as such.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from backoffice.extensions import db
from backoffice.models import User
from backoffice.models.api import ApiBatch, WebhookCursor, WebhookDelivery, WebhookEndpoint
from backoffice.models.base import utcnow
from backoffice.models.batches import Batch, BatchEvent, RowStatus
from backoffice.models.fines import FINAL_PAYMENT_STATUSES, ApiClient, FinePayment, FinePaymentEvent
from backoffice.services import ServiceError, audit, outgoing
from backoffice.services.bulk import history

log = logging.getLogger(__name__)

PENDING, DELIVERED, GIVEN_UP = "EN_ATTENTE", "ENVOYE", "ABANDONNE"
DELIVERY_LABELS = {PENDING: "En attente", DELIVERED: "Envoyé", GIVEN_UP: "Abandonné"}

# Timeline action of a batch → event type
BATCH_EVENTS = {
    "submitted": "batch.submitted",
    "approved": "batch.approved",
    "rejected": "batch.rejected",
    "processing_finished": "batch.completed",
}
SUBSCRIBABLE_EVENTS = (*BATCH_EVENTS.values(), "fine_payment.final")
EVENT_TYPES = (*SUBSCRIBABLE_EVENTS, "webhook.test")
EVENT_LABELS = {
    "batch.submitted": "Lot soumis pour approbation",
    "batch.approved": "Lot approuvé",
    "batch.rejected": "Lot rejeté",
    "batch.completed": "Lot terminé (compteurs et montants)",
    "fine_payment.final": "Paiement d'amendes arrivé à son état final",
}
_NAMESPACE = uuid.UUID("6f1d3c1e-2b7a-4d55-9a1e-3c0f5b7a9e21")
ROUND_SIZE = 200


# Outgoing URLs -----------------------------------------------------------------------------


def check_url(url: str, field: str = "url", label: str | None = None) -> str:
    """The URL trimmed, if services/outgoing accepts it now (http(s), no credentials, an address
    outside our networks unless OUTGOING_ALLOWED_NETWORKS has it; https in production);
    else a field error. `deliver` checks the address again at connect time."""
    url = (url or "").strip()
    problem = outgoing.destination_problem(url, current_app.config["APP_ENV"] == "production")
    if problem:
        raise ServiceError(f"{label or f'« {field} »'} {problem}.", field)
    return url


# Signature ---------------------------------------------------------------------------------


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, tolerance_seconds: int = 300) -> bool:
    """What a receiver does (docs/api.md shows the same in a few lines)."""
    try:
        items = dict(part.split("=", 1) for part in header.split(","))
        t = int(items["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance_seconds:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, items.get("v1", ""))


# Endpoints ---------------------------------------------------------------------------------


def create_endpoint(
    client_id: int,
    actor: User | None,
    url: str,
    description: str = "",
    events: list[str] | None = None,
    *,
    organisation_id: int | None = None,
    url_label: str | None = None,
) -> WebhookEndpoint:
    """A URL that receives the organisation's events (`events`, or all of them), signed under the
    client's secret. `organisation_id`, when given, is the organisation the client must belong to."""
    client = db.session.get(ApiClient, client_id)
    if (
        client is None
        or not client.active
        or (organisation_id is not None and client.organisation_id != organisation_id)
    ):
        raise ServiceError("Client API inconnu ou révoqué.", "api_client_id")
    url = check_url(url, label=url_label)
    chosen = None
    if events:
        unknown = sorted(set(events) - set(SUBSCRIBABLE_EVENTS))
        if unknown:
            raise ServiceError(f"Événement inconnu : {', '.join(unknown)}.", "events")
        chosen = [e for e in SUBSCRIBABLE_EVENTS if e in events]
    endpoint = WebhookEndpoint(
        organisation_id=client.organisation_id,
        api_client_id=client.id,
        url=url,
        description=(description or "").strip()[:200],
        events=chosen,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(actor, "webhook.created", endpoint, url=url, api_client_id=client.id, events=chosen)
    return endpoint


def receives(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return endpoint.events is None or event_type in endpoint.events


def endpoints_of(organisation_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organisation_id == organisation_id, WebhookEndpoint.active.is_(True))
            .order_by(WebhookEndpoint.id)
        )
    )


def delete_endpoint(actor: User, endpoint: WebhookEndpoint) -> None:
    endpoint.active = False
    endpoint.deleted_at = utcnow()
    audit.record(actor, "webhook.deleted", endpoint, url=endpoint.url)


def send_test(actor: User, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` event for one endpoint, delivered by the loop like any other."""
    event_id = "evt_" + uuid.uuid4().hex
    delivery = _delivery(
        endpoint.organisation_id,
        endpoint.api_client_id,
        endpoint.id,
        event_id,
        "webhook.test",
        None,
        endpoint.url,
        {"message": "Événement de test du back-office."},
    )
    db.session.add(delivery)
    db.session.flush()
    audit.record(actor, "webhook.tested", endpoint, url=endpoint.url, delivery_id=delivery.id)
    return delivery


def redeliver(actor: User, delivery: WebhookDelivery) -> None:
    """*Renvoyer*: try again now, with a fresh retry window (same event id)."""
    delivery.status = PENDING
    delivery.next_attempt_at = utcnow()
    delivery.created_at = utcnow()
    audit.record(actor, "webhook.redelivered", delivery, organisation_id=delivery.organisation_id, url=delivery.url)


def deliveries_query(organisation_id: int | None = None):
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    if organisation_id is not None:
        stmt = stmt.where(WebhookDelivery.organisation_id == organisation_id)
    return stmt


# Emitting events --------------------------------------------------------------------------


def _event_id(source: str, key: str) -> str:
    return "evt_" + uuid.uuid5(_NAMESPACE, f"{source}:{key}").hex


def _delivery(organisation_id, client_id, endpoint_id, event_id, event_type, batch_id, url, data) -> WebhookDelivery:
    now = utcnow()
    return WebhookDelivery(
        organisation_id=organisation_id,
        api_client_id=client_id,
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_type=event_type,
        batch_id=batch_id,
        url=url,
        payload={
            "id": event_id,
            "type": event_type,
            "cree_le": now.replace(microsecond=0).isoformat() + "Z",
            "donnees": data,
        },
        status=PENDING,
        next_attempt_at=now,
        created_at=now,
    )


def _cursor(name: str, source_max) -> WebhookCursor:
    """The cursor of a source; a new one starts at the present (history is not replayed).
    Every worker's delivery loop may make it on a fresh start: the first insert wins, the
    others read it."""
    cursor = db.session.get(WebhookCursor, name)
    if cursor is None:
        cursor = WebhookCursor(name=name, last_id=int(db.session.scalar(select(func.max(source_max))) or 0))
        db.session.add(cursor)
        try:
            db.session.commit()
        except IntegrityError:  # another worker made it between our read and our insert
            db.session.rollback()
            cursor = db.session.get(WebhookCursor, name)
    return cursor


def _advance(name: str, old: int, new: int) -> bool:
    """Compare-and-set of a cursor: of two workers reading the same events, one writes them."""
    return (
        db.session.execute(
            update(WebhookCursor)
            .where(WebhookCursor.name == name, WebhookCursor.last_id == old)
            .values(last_id=new)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def batch_event_data(batch: Batch, event_type: str) -> dict:
    from backoffice.services.api_batches import api_records, batch_json

    data = {"lot": batch_json(batch, api_records([batch.id]).get(batch.id))}
    if event_type == "batch.completed":
        stats = history.statistics(batch)
        data["compteurs"] = {
            "payees": stats.completed,
            "echouees": stats.failed,
            "a_verifier": stats.needs_review,
            "exclues": stats.count(RowStatus.SKIPPED),
        }
        data["montants"] = {
            "paye": stats.amount(RowStatus.COMPLETED),
            "frais": stats.fees,
            "echoue": stats.amount(RowStatus.FAILED),
            "a_verifier": stats.amount(RowStatus.NEEDS_REVIEW),
            "devise": batch.currency,
        }
    return data


def _emit(cursor_name: str, source, columns: tuple, write_deliveries) -> int:
    """Read a timeline past its cursor, let `write_deliveries(rows)` add deliveries, and move the
    cursor in the same transaction; returns how many events were read (0: none, or another
    worker wrote them first)."""
    old = _cursor(cursor_name, source.id).last_id
    events = list(
        db.session.execute(select(source.id, *columns).where(source.id > old).order_by(source.id).limit(ROUND_SIZE))
    )
    if not events:
        db.session.rollback()
        return 0
    write_deliveries(events)
    if not _advance(cursor_name, old, events[-1][0]):
        db.session.rollback()
        return 0
    db.session.commit()
    return len(events)


def emit_batch_events() -> int:
    """Deliveries for the batch timeline events (submitted, approved, rejected, finished)."""
    return _emit("batch_events", BatchEvent, (BatchEvent.batch_id, BatchEvent.action), _batch_deliveries)


def _batch_deliveries(events) -> None:
    for event_id, batch_id, action in events:
        event_type = BATCH_EVENTS.get(action)
        batch = db.session.get(Batch, batch_id) if event_type else None
        if batch is None:
            continue
        data = batch_event_data(batch, event_type)
        uid = _event_id("batch_event", str(event_id))
        urls: dict[str, tuple[int, int | None]] = {}
        for endpoint in endpoints_of(batch.organisation_id):
            if receives(endpoint, event_type):
                urls.setdefault(endpoint.url, (endpoint.api_client_id, endpoint.id))
        api = db.session.get(ApiBatch, batch.id)
        if api is not None and api.callback_url:
            urls.setdefault(api.callback_url, (api.api_client_id, None))
        for url, (client_id, endpoint_id) in urls.items():
            db.session.add(
                _delivery(batch.organisation_id, client_id, endpoint_id, uid, event_type, batch.id, url, data)
            )


def emit_fine_events() -> int:
    """`fine_payment.final` for payments whose timeline reached a final status."""
    columns = (FinePaymentEvent.payment_id, FinePaymentEvent.status)
    return _emit("fine_payment_events", FinePaymentEvent, columns, _fine_deliveries)


def _fine_deliveries(events) -> None:
    from backoffice.services.fines.queries import as_json

    finals = {s.value for s in FINAL_PAYMENT_STATUSES}
    seen: set[tuple[str, str]] = set()
    for _event_row_id, payment_id, status in events:
        if status not in finals or (payment_id, status) in seen:
            continue
        seen.add((payment_id, status))
        payment = db.session.get(FinePayment, payment_id)
        if payment is None:
            continue
        # One event per payment and final status, even if its timeline repeats the status.
        uid = _event_id("fine_payment", f"{payment_id}:{status}")
        already = set(db.session.scalars(select(WebhookDelivery.url).where(WebhookDelivery.event_id == uid)))
        data = {"paiement": as_json(payment, with_timeline=False)}
        for endpoint in endpoints_of(payment.organisation_id):
            if endpoint.url in already or not receives(endpoint, "fine_payment.final"):
                continue
            already.add(endpoint.url)
            db.session.add(
                _delivery(
                    payment.organisation_id,
                    endpoint.api_client_id,
                    endpoint.id,
                    uid,
                    "fine_payment.final",
                    None,
                    endpoint.url,
                    data,
                )  # fmt: skip
            )


# Delivering -------------------------------------------------------------------------------


def deliver_due(limit: int = 20) -> int:
    """Send the deliveries that are due; returns how many were tried."""
    now = utcnow()
    due = list(
        db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
    )
    db.session.rollback()
    tried = 0
    for delivery_id, due_at in due:
        if _claim(delivery_id, due_at):
            deliver(delivery_id)
            tried += 1
    return tried


def _claim(delivery_id: int, due_at: datetime) -> bool:
    """Push the next attempt past this one's timeout, if nobody else did: one sender per try."""
    hold = timedelta(seconds=current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 30)
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at == due_at,
        )
        .values(next_attempt_at=utcnow() + hold)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1


def deliver(delivery_id: int) -> bool:
    """One try of one delivery: POST, then record the answer and the next try (or give up)."""
    config = current_app.config
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None or delivery.status != PENDING:
        return False
    client = db.session.get(ApiClient, delivery.api_client_id)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    # services/outgoing: the address actually connected to is checked (DNS may have changed
    # since the registration), no redirect is followed, nothing of the reply but its code is read.
    status, error = outgoing.post(
        delivery.url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "backoffice-webhooks/1",
            "X-Signature": signature_header(client.signing_secret, body),
            "X-Event-Id": delivery.event_id,
            "X-Event-Type": delivery.event_type,
        },
        config["WEBHOOK_TIMEOUT_SECONDS"],
    )
    now = utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status
    delivery.last_error = error[:500] if error else (None if status and status < 300 else f"HTTP {status}")
    if status is not None and 200 <= status < 300:
        delivery.status = DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = None
    else:
        delay = min(config["WEBHOOK_BACKOFF_BASE_SECONDS"] * 2 ** (delivery.attempts - 1), 3600.0)
        give_up_at = delivery.created_at + timedelta(hours=config["WEBHOOK_RETRY_HOURS"])
        if now + timedelta(seconds=delay) > give_up_at:
            delivery.status = GIVEN_UP
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=delay)
    db.session.commit()
    return delivery.status == DELIVERED


def run_round() -> int:
    """One round of the worker loop: read new events, then send what is due."""
    read = emit_batch_events() + emit_fine_events()
    return read + deliver_due()

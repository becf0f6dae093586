"""The bulk-payments API's own records: organisation settings, batches created through it,
idempotency keys and webhooks (endpoints, deliveries and the event cursor)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.extensions import db
from backoffice.models.base import utcnow
from backoffice.models.fines import ApiClient


class ApiSettings(db.Model):
    """An organisation's API choices; no row means the defaults (approval stays human)."""

    __tablename__ = "api_settings"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    # A different client holding batches:approve may approve or reject a batch.
    api_approval_allowed: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ApiBatch(db.Model):
    """A batch created through the API: by which client, from what, and where to call back."""

    __tablename__ = "api_batches"
    __table_args__ = (Index("ix_api_batches_client", "api_client_id"),)

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    source: Mapped[str] = mapped_column(String(8))  # "file" or "json" (line numbers differ)
    # The period the client gave is the batch's own `payment_period` (migration 0011).
    callback_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    api_client: Mapped[ApiClient] = relationship()


class IdempotencyRecord(db.Model):
    """One Idempotency-Key of one client: the request it answered and the answer, kept 24 h.

    The unique constraint decides which of concurrent requests with the same key does the
    work; the others read the stored answer (or are told it is still being made).
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_client_id", "key", name="uq_api_idempotency_client_key"),
        Index("ix_api_idempotency_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]  # None while the first request is being answered
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(db.Model):
    """A URL of an organisation that receives every batch and fines event, signed under its client's secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The event types it receives (services/webhooks.EVENT_TYPES); None: every one.
    events: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    api_client: Mapped[ApiClient] = relationship()


class WebhookDelivery(db.Model):
    """One event for one URL: tried until it is answered 2xx or 24 h have passed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "url", name="uq_webhook_deliveries_event_url"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_org_created", "organisation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))  # whose secret signs it
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id"))  # None: a batch callback_url
    event_id: Mapped[str] = mapped_column(String(64))  # the same for every URL of one event
    event_type: Mapped[str] = mapped_column(String(48))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="EN_ATTENTE")  # EN_ATTENTE / ENVOYE / ABANDONNE
    attempts: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    api_client: Mapped[ApiClient] = relationship()


class WebhookCursor(db.Model):
    """How far the webhook emitter has read a source of events (batch_events, fine_payment_events)."""

    __tablename__ = "webhook_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(default=0)

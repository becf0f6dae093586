"""Idempotent POSTs: the same Idempotency-Key and body get the same answer for 24 hours.

The first request with a key inserts its record; a unique index makes concurrent
requests with the same key collide there, so only one of them does the work. The others
get 409 REQUETE_EN_COURS (Retry-After: 1) while it runs, then its stored answer. The same
key with another body is 409 CONFLIT_IDEMPOTENCE. Answers of 5xx are not kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from backoffice.api.errors import ApiError, api_error_response
from backoffice.extensions import db
from backoffice.models.api import IdempotencyRecord
from backoffice.models.base import utcnow
from backoffice.services.api_clients import ApiIdentity
from backoffice.services.fines.payment_requests import check_idempotency_key

# A first request that never stored its answer (its process died) frees the key after this.
ABANDONED_AFTER = timedelta(minutes=10)


def fingerprint() -> str:
    """The request's identity: method, path and body, insensitive to multipart boundaries and JSON spacing."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.mimetype == "multipart/form-data":
        # A malformed part may have no name (None): sort and hash names as text.
        for name in sorted(request.form, key=str):
            digest.update(json.dumps([str(name), request.form.getlist(name)], ensure_ascii=False).encode())
        for name in sorted(request.files, key=str):
            for upload in request.files.getlist(name):
                file_digest = hashlib.sha256()
                while chunk := upload.stream.read(1 << 16):
                    file_digest.update(chunk)
                upload.stream.seek(0)
                digest.update(f"{name}:{upload.filename}:{file_digest.hexdigest()}".encode())
        return digest.hexdigest()
    raw = request.get_data(cache=True)
    try:
        digest.update(json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode())
    except (ValueError, UnicodeDecodeError):
        digest.update(raw)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = current_app.response_class(
        record.response_body or "", status=record.status_code, mimetype="application/json"
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(client: ApiIdentity, key: str, request_hash: str) -> IdempotencyRecord | Response:
    """Our own record for the key, or the answer to give instead (replay or 409)."""
    now = utcnow()
    keep = timedelta(hours=current_app.config["API_IDEMPOTENCY_HOURS"])
    db.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.api_client_id == client.id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at < now - keep,
        )
    )
    db.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.api_client_id == client.id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status_code.is_(None),
            IdempotencyRecord.created_at < now - ABANDONED_AFTER,
        )
    )
    record = IdempotencyRecord(api_client_id=client.id, key=key, request_hash=request_hash, created_at=now)
    db.session.add(record)
    try:
        db.session.commit()
        return record
    except IntegrityError:
        db.session.rollback()
    existing = db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.api_client_id == client.id, IdempotencyRecord.key == key)
    )
    if existing is None:  # freed meanwhile: the client may simply try again
        raise ApiError(
            409,
            "REQUETE_EN_COURS",
            "Une requête avec cette clé d'idempotence vient de se terminer : réessayez.",
            headers={"Retry-After": "1"},
        )
    if existing.request_hash != request_hash:
        raise ApiError(
            409,
            "CONFLIT_IDEMPOTENCE",
            f"La clé d'idempotence « {key} » a déjà été utilisée pour une requête différente.",
        )
    if existing.status_code is None:
        raise ApiError(
            409,
            "REQUETE_EN_COURS",
            "Une requête avec cette clé d'idempotence est en cours : réessayez dans un instant.",
            headers={"Retry-After": "1"},
        )
    return _replay(existing)


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Make a POST view (that takes the client first) honour Idempotency-Key."""

    @wraps(view)
    def wrapped(client: ApiIdentity, *args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(client, *args, **kwargs)
        check_idempotency_key(key)
        claimed = _claim(client, key, fingerprint())
        if isinstance(claimed, Response):
            return claimed
        record_id = claimed.id
        try:
            response = current_app.make_response(view(client, *args, **kwargs))
        except ApiError as error:
            response = api_error_response(error)
        except Exception:
            db.session.rollback()
            _forget(record_id)
            raise
        if response.status_code >= 500:
            _forget(record_id)
            return response
        db.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(status_code=response.status_code, response_body=response.get_data(as_text=True))
        )
        db.session.commit()
        return response

    return wrapped


def _forget(record_id: int) -> None:
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    db.session.commit()

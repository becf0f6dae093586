"""The bulk payments API: create a batch (file or JSON lines), submit it, follow it.

Views are thin: load the request through its schema, call one service, answer JSON.
Approval stays in the back-office unless the organisation allows a different client
holding batches:approve to decide.
"""

from __future__ import annotations

import json
import threading
import time

from flask import Response, current_app, request

from backoffice.api import bp
from backoffice.api import schemas as s
from backoffice.api.auth import api_key_required
from backoffice.api.errors import ApiError, from_service_error, not_found
from backoffice.api.idempotency import idempotent
from backoffice.api.openapi import documented, invalid, load_body, load_query
from backoffice.extensions import db
from backoffice.models.batches import Batch
from backoffice.services import ServiceError
from backoffice.services import api_batches as service
from backoffice.services.api_clients import ApiIdentity

V1 = "/api/v1"
TAG = "Lots"


def _batch(client: ApiIdentity, batch_id: int) -> Batch:
    try:
        return service.batch_of(client, batch_id)
    except LookupError:
        raise not_found() from None


def _json_body() -> object:
    max_bytes = current_app.config["IMPORT_MAX_BYTES"]
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "REQUETE_TROP_VOLUMINEUSE", f"Le corps de la requête dépasse {max_bytes} octets.")
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "JSON_INVALIDE", "Le corps de la requête n'est pas un JSON valide.") from None


def _created(batch: Batch) -> Response:
    api = service.api_records([batch.id]).get(batch.id)
    errors, warnings, cut = service.line_problems(batch, api)
    body = {**service.batch_json(batch, api), "erreurs": errors, "avertissements": warnings, "erreurs_tronquees": cut}
    response = current_app.json.response(body)
    response.status_code = 201
    response.headers["Location"] = f"{V1}/batches/{batch.id}"
    return response


@bp.route(f"{V1}/batches", methods=["POST"])
@documented(
    summary="Créer un lot (fichier CSV ou lignes JSON)",
    scope="batches:write",
    tag=TAG,
    description=(
        "Multipart avec un champ `file` (mêmes formats et contrôles que la page d'import), ou JSON "
        '`{"lignes": [...]}`. Le lot est créé en brouillon avec son résumé de validation et ses erreurs '
        "par ligne. Un fichier refusé en entier répond 422 et rien n'est écrit."
    ),
    body=s.CreateBatchJsonSchema,
    multipart=s.CreateBatchFileSchema,
    responses={201: (s.BatchCreatedSchema, "Lot créé (brouillon)"), 200: (s.BatchCreatedSchema, "Réponse rejouée")},
    idempotent_post=True,
)
@api_key_required("batches:write")
@idempotent
def create_batch(client: ApiIdentity):
    """A DRAFT batch from a file or from JSON lines."""
    try:
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            form = {k: request.form.get(k) for k in request.form if isinstance(k, str) and k != "file"}
            if upload is None:
                raise invalid(
                    [
                        {
                            "champ": "file",
                            "code": "CHAMP_MANQUANT",
                            "message": "Le fichier (champ « file ») est obligatoire.",
                        }
                    ]
                )
            options = load_body(s._BatchOptions, form)
            batch = service.create_batch(
                client,
                service.BatchOptions(**options),
                stream=upload.stream,
                file_name=upload.filename or "",
            )
        elif request.mimetype == "application/json":
            data = load_body(s.CreateBatchJsonSchema, _json_body())
            lines = data.pop("lignes")
            batch = service.create_batch(client, service.BatchOptions(**data), records=lines)
        else:
            raise ApiError(
                415,
                "TYPE_DE_CONTENU_INVALIDE",
                'Envoyez un fichier en multipart/form-data (champ « file ») ou du JSON {"lignes": [...]}.',
            )
    except ServiceError as exc:
        error = from_service_error(exc)
        if request.mimetype == "application/json" and error.code == "FICHIER_REFUSE":
            error.extra["erreurs"][0]["champ"] = "lignes"  # the JSON lines, refused as a whole (too many)
        raise error from None
    db.session.commit()
    return _created(batch)


@bp.route(f"{V1}/batches/<int:batch_id>/submit", methods=["POST"])
@documented(
    summary="Soumettre un lot pour approbation",
    scope="batches:write",
    tag=TAG,
    description="Seul le client qui a créé le lot le soumet. Une personne l'approuve ensuite dans le back-office.",
    body=s.SubmitSchema,
    responses={200: (s.BatchSchema, "Lot soumis")},
    errors=(409,),
    idempotent_post=True,
)
@api_key_required("batches:write")
@idempotent
def submit_batch(client: ApiIdentity, batch_id: int):
    _batch(client, batch_id)
    options = load_body(s.SubmitSchema, _json_body())
    try:
        batch = service.submit(client, batch_id, options["exclure_invalides"])
    except ServiceError as exc:
        raise from_service_error(exc) from None
    return service.batch_json(batch, service.api_records([batch.id]).get(batch.id))


@bp.route(f"{V1}/batches/<int:batch_id>/approve", methods=["POST"])
@documented(
    summary="Approuver un lot (si l'organisation l'autorise)",
    scope="batches:approve",
    tag=TAG,
    description=(
        "Seulement si l'organisation autorise l'approbation par l'API, et par un autre client que celui qui a "
        "créé ou soumis le lot. Réserve le montant total sur le compte payeur et lance le paiement."
    ),
    responses={200: (s.BatchSchema, "Lot approuvé")},
    errors=(409,),
    idempotent_post=True,
)
@api_key_required("batches:approve")
@idempotent
def approve_batch(client: ApiIdentity, batch_id: int):
    _batch(client, batch_id)
    try:
        batch = service.approve(client, batch_id)
    except ServiceError as exc:
        raise from_service_error(exc) from None
    return service.batch_json(batch, service.api_records([batch.id]).get(batch.id))


@bp.route(f"{V1}/batches/<int:batch_id>/reject", methods=["POST"])
@documented(
    summary="Rejeter un lot (si l'organisation l'autorise)",
    scope="batches:approve",
    tag=TAG,
    body=s.RejectSchema,
    responses={200: (s.BatchSchema, "Lot rejeté")},
    errors=(409,),
    idempotent_post=True,
)
@api_key_required("batches:approve")
@idempotent
def reject_batch(client: ApiIdentity, batch_id: int):
    _batch(client, batch_id)
    data = load_body(s.RejectSchema, _json_body())
    try:
        batch = service.reject(client, batch_id, data["motif"])
    except ServiceError as exc:
        raise from_service_error(exc) from None
    return service.batch_json(batch, service.api_records([batch.id]).get(batch.id))


def _filters(query: dict) -> service.BatchFilters:
    return service.BatchFilters(
        statut=query.get("statut"),
        start_date=query.get("start_date"),
        end_date=query.get("end_date"),
        compte_payeur=query.get("compte_payeur"),
        periode=query.get("periode"),
    )


def batch_list(client: ApiIdentity, query: dict, account_id: int | None = None) -> dict:
    total, batches = service.list_batches(
        client.organisation_id, _filters(query), query["limit"], query["offset"], account_id
    )
    records = service.api_records([b.id for b in batches])
    return {
        "total": total,
        "limit": query["limit"],
        "offset": query["offset"],
        "lots": [service.batch_json(b, records.get(b.id)) for b in batches],
    }


@bp.route(f"{V1}/batches", methods=["GET"])
@documented(
    summary="Lister les lots",
    scope="batches:read",
    tag=TAG,
    description="Du plus récent au plus ancien ; filtres par état, dates de création, compte payeur et période.",
    query=s.ListBatchesQuery,
    responses={200: (s.BatchListSchema, "Une page de lots et leur total")},
)
@api_key_required("batches:read")
def list_batches(client: ApiIdentity):
    return batch_list(client, load_query(s.ListBatchesQuery))


@bp.route(f"{V1}/batches/<int:batch_id>", methods=["GET"])
@documented(
    summary="Détail d'un lot",
    scope="batches:read",
    tag=TAG,
    description=(
        "Statistiques par statut, compte payeur, organisation, chronologie, résumé de la vérification des "
        "bénéficiaires (`verification`) et alertes du contrôle de double paiement (`alertes`)."
    ),
    responses={200: (s.BatchDetailSchema, "Le lot")},
)
@api_key_required("batches:read")
def batch_detail(client: ApiIdentity, batch_id: int):
    batch = _batch(client, batch_id)
    return service.detail_json(batch, service.api_records([batch.id]).get(batch.id))


@bp.route(f"{V1}/batches/<int:batch_id>/rows", methods=["GET"])
@documented(
    summary="Lignes d'un lot",
    scope="batches:read",
    tag=TAG,
    description=(
        "Dans l'ordre du fichier, paginées, filtrables par statut. Chaque ligne porte la vérification du "
        "bénéficiaire (`verification`) et l'alerte de double paiement (`double_paiement`, null sans alerte)."
    ),
    query=s.RowsQuery,
    responses={200: (s.RowsPageSchema, "Une page de lignes")},
)
@api_key_required("batches:read")
def batch_rows(client: ApiIdentity, batch_id: int):
    batch = _batch(client, batch_id)
    query = load_query(s.RowsQuery)
    api = service.api_records([batch.id]).get(batch.id)
    return service.rows_page(batch, api, query.get("statut"), query["limit"], query["offset"])


@bp.route(f"{V1}/batches/<int:batch_id>/status", methods=["GET"])
@documented(
    summary="Avancement d'un lot",
    scope="batches:read",
    tag=TAG,
    responses={200: (s.BatchStatusSchema, "Compteurs par statut et pourcentage")},
)
@api_key_required("batches:read")
def batch_status(client: ApiIdentity, batch_id: int):
    return service.status_json(_batch(client, batch_id))


# Server-Sent Events ------------------------------------------------------------------------

_held_lock = threading.Lock()
_held = 0


def _hold_stream(limit: int) -> bool:
    """Take one of this process's long-held stream slots, if one is free."""
    global _held
    with _held_lock:
        if _held >= limit:
            return False
        _held += 1
        return True


def _release_stream() -> None:
    global _held
    with _held_lock:
        _held -= 1


def _event_id(status: dict) -> str:
    return "done" if status["termine"] else f"{status['statut']}-{status['traitees']}"


@bp.route(f"{V1}/batches/<int:batch_id>/events", methods=["GET"])
@documented(
    summary="Flux d'événements d'un lot (Server-Sent Events)",
    scope="batches:read",
    tag=TAG,
    description=(
        "Un événement `progress` au plus chaque seconde (données : l'avancement), puis `done` quand le lot est "
        "terminé, et le flux se ferme. Reprise avec `Last-Event-ID`. Quand le serveur a déjà beaucoup de flux "
        "ouverts, il envoie l'état courant puis ferme avec `retry: 1000` : EventSource se reconnecte seul."
    ),
    responses={200: (None, "text/event-stream"), 204: (None, "Lot terminé et `done` déjà reçu")},
    stream=True,
)
@api_key_required("batches:read")
def batch_events(client: ApiIdentity, batch_id: int):
    batch = _batch(client, batch_id)
    app = current_app._get_current_object()
    config = app.config
    last_sent = (request.headers.get("Last-Event-ID") or "")[:64]
    if last_sent == "done" and batch.is_final:
        return Response(status=204)  # EventSource stops reconnecting on 204
    held = _hold_stream(config["API_SSE_MAX_HELD"])
    hold_seconds = config["API_SSE_HOLD_SECONDS"] if held else 0.0
    batch_id = batch.id
    db.session.remove()  # no connection kept while the stream is open

    def stream():
        nonlocal last_sent
        deadline = time.monotonic() + hold_seconds
        last_write = time.monotonic()
        try:
            while True:
                with app.app_context():
                    current = db.session.get(Batch, batch_id)
                    status = service.status_json(current)
                    db.session.remove()
                event_id = _event_id(status)
                data = json.dumps(status, ensure_ascii=False, separators=(",", ":"))
                if event_id != last_sent:
                    kind = "done" if status["termine"] else "progress"
                    if kind == "done" and last_sent not in ("done", _progress_id(status)):
                        yield f"id: {_progress_id(status)}\nevent: progress\ndata: {data}\n\n"
                    yield f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"
                    last_sent = event_id
                    last_write = time.monotonic()
                if status["termine"]:
                    return
                if time.monotonic() >= deadline:
                    yield "retry: 1000\n\n"
                    return
                if time.monotonic() - last_write > 15:
                    yield ": ping\n\n"
                    last_write = time.monotonic()
                time.sleep(1.0)
        finally:
            if held:
                _release_stream()

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _progress_id(status: dict) -> str:
    return f"{status['statut']}-{status['traitees']}"

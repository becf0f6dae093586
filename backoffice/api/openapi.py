"""The OpenAPI 3.1 document, generated from the views' own schemas, and the loaders that use them.

Each API view carries an `Operation` (`@documented(...)`): the marshmallow schemas of its
query string, body and answers. The same schema objects validate the request
(`load_query`, `load_body`) and describe it in the document (apispec's marshmallow
plugin), so the document cannot drift from what the code accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, request
from marshmallow import Schema, ValidationError

from backoffice.api.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

# Refusals every authenticated operation may answer, with what they mean.
COMMON_ERRORS = {
    401: "Clé d'API manquante, invalide ou révoquée",
    403: "La clé n'a pas le droit nécessaire",
    429: "Trop de requêtes pour cette clé",
}
ERROR_DESCRIPTIONS = {
    400: "Requête mal formée (JSON illisible, paramètre mal écrit)",
    404: "Objet introuvable (ou d'une autre organisation)",
    405: "Méthode non autorisée",
    409: "Conflit : état du lot, ou clé d'idempotence déjà utilisée pour une autre requête",
    413: "Corps de requête trop volumineux",
    415: "Type de contenu non accepté",
    422: "Paramètres invalides (détail par champ), ou fichier refusé en entier",
}


# One Server-Sent Event of a batch's stream: `data` is the batch's status as JSON.
SSE_EVENT = {
    "type": "object",
    "description": "Un événement : `progress` (avancement) ou `done` (lot terminé, le flux se ferme).",
    "properties": {
        "event": {"type": "string", "enum": ["progress", "done"]},
        "id": {"type": "string", "description": "À renvoyer dans Last-Event-ID pour reprendre"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/BatchStatus"},
        },
        "retry": {"type": "integer"},
    },
}


@dataclass
class Operation:
    """What the document says about one view, and the schemas its loaders validate against."""

    summary: str
    scope: str
    tag: str
    description: str = ""
    query: type[Schema] | None = None
    body: type[Schema] | None = None  # application/json
    multipart: type[Schema] | None = None  # multipart/form-data (a file)
    responses: dict[int, tuple[type[Schema] | None, str]] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    idempotent_post: bool = False
    stream: bool = False  # text/event-stream answer


def documented(**kwargs: Any) -> Callable[[F], F]:
    """Attach an Operation to a view (put it right under @bp.route)."""

    def decorator(view: F) -> F:
        view.openapi = Operation(**kwargs)  # type: ignore[attr-defined]
        return view

    return decorator


# Loading requests -------------------------------------------------------------------------

# marshmallow's messages → (stable code, French message)
_MESSAGES = {
    "Missing data for required field.": ("CHAMP_MANQUANT", "Champ obligatoire."),
    "Field may not be null.": ("CHAMP_MANQUANT", "Ce champ ne peut pas être nul."),
    "Not a valid integer.": ("TYPE_INVALIDE", "Nombre entier attendu."),
    "Not a valid string.": ("TYPE_INVALIDE", "Texte attendu."),
    "Not a valid boolean.": ("TYPE_INVALIDE", "Booléen attendu (true ou false)."),
    "Not a valid list.": ("TYPE_INVALIDE", "Liste attendue."),
    "Not a valid mapping type.": ("TYPE_INVALIDE", "Objet JSON attendu."),
    "Not a valid date.": ("DATE_INVALIDE", "Date attendue au format AAAA-MM-JJ."),
    "Invalid input type.": ("TYPE_INVALIDE", "Type de valeur invalide."),
    "Unknown field.": ("CHAMP_INCONNU", "Champ inconnu."),
    "Not a valid URL.": ("URL_INVALIDE", "Adresse http(s) complète attendue."),
}


def field_errors(messages: Any, prefix: str = "") -> list[dict]:
    """marshmallow's nested messages as the API's `erreurs` list (champ, code, message)."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for name, value in messages.items():
            path = f"{prefix}.{name}" if prefix else str(name)
            if name == "_schema":
                path = prefix or "corps"
            out.extend(field_errors(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            code, text = _MESSAGES.get(message, ("VALEUR_INVALIDE", message))
            out.append({"champ": prefix, "code": code, "message": text})
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.extend(field_errors(value, f"{prefix}.{index}"))
    else:
        out.append({"champ": prefix, "code": "VALEUR_INVALIDE", "message": str(messages)})
    return out


def invalid(errors: list[dict]) -> ApiError:
    count = len(errors)
    return ApiError(
        422,
        "PARAMETRES_INVALIDES",
        f"La requête contient {count} erreur{'s' if count > 1 else ''} : voir le détail par champ.",
        erreurs=errors,
    )


def load_query(schema: type[Schema]) -> dict:
    """The query string through its schema (422 naming each bad parameter)."""
    try:
        return schema().load({k: request.args.get(k) for k in request.args})
    except ValidationError as exc:
        raise invalid(field_errors(exc.messages)) from None


def load_body(schema: type[Schema], data: Any) -> dict:
    """A JSON body (already parsed) through its schema."""
    if not isinstance(data, dict):
        raise ApiError(400, "JSON_INVALIDE", "Le corps de la requête doit être un objet JSON.")
    try:
        return schema().load(data)
    except ValidationError as exc:
        raise invalid(field_errors(exc.messages)) from None


# The document ----------------------------------------------------------------------------

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _path(rule: str) -> tuple[str, list[dict]]:
    """A Flask rule as an OpenAPI path and its path parameters."""
    parameters = []
    for converter, name in _CONVERTER.findall(rule):
        schema = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1} if converter == "int" else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule), parameters


def _schema_name(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.lstrip("_")
    return name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name


def build_spec(app: Flask) -> dict:
    """The whole document, from every documented view in the app's URL map."""
    from backoffice.api.schemas import ErrorSchema

    spec = APISpec(
        title="API Paiements groupés et amendes",
        version="1.0.0",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={
            "description": (
                "API JSON du back-office : lots de paiements groupés, comptes payeurs, webhooks et "
                "paiement d'amendes. Authentification : `Authorization: Bearer <clé>`. Toute erreur a la "
                "même forme : un code stable (`erreur`), un message en français et, par champ, `erreurs`."
            )
        },
    )
    spec.components.security_scheme("cle", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    for rule in rules:
        view = app.view_functions.get(rule.endpoint)
        operation: Operation | None = getattr(view, "openapi", None)
        if operation is None:
            continue
        path, parameters = _path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            spec.path(path=path, operations={method.lower(): _operation(operation, parameters, rule.endpoint)})
    return spec.to_dict()


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": "Error"}}}


def _operation(op: Operation, parameters: list[dict], endpoint: str) -> dict:
    params = list(parameters)
    if op.query is not None:
        params.append({"in": "query", "schema": op.query})
    if op.idempotent_post:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Même clé et même corps : même réponse (24 h). Même clé, autre corps : 409.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[\x21-\x7e]+$"},
            }
        )
    if op.stream:
        params.append(
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "description": "Reprendre le flux après cet événement.",
                "schema": {"type": "string", "maxLength": 64},
            }
        )
    result: dict[str, Any] = {
        "operationId": endpoint.replace("api.", "", 1),
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"cle": []}],
        "parameters": params,
        "responses": {},
        "x-scope": op.scope,
    }
    if op.description:
        result["description"] = op.description + f"\n\nDroit nécessaire : `{op.scope}`."
    else:
        result["description"] = f"Droit nécessaire : `{op.scope}`."
    content = {}
    if op.body is not None:
        content["application/json"] = {"schema": op.body}
    if op.multipart is not None:
        content["multipart/form-data"] = {"schema": op.multipart}
    if content:
        result["requestBody"] = {"required": True, "content": content}
    for status, (schema, description) in sorted(op.responses.items()):
        if op.stream and status == 200:
            result["responses"][str(status)] = {
                "description": description,
                "content": {"text/event-stream": {"schema": SSE_EVENT}},
            }
        elif schema is None:
            result["responses"][str(status)] = {"description": description}
        else:
            result["responses"][str(status)] = {
                "description": description,
                "content": {"application/json": {"schema": schema}},
            }
    errors = {**COMMON_ERRORS, **{s: ERROR_DESCRIPTIONS[s] for s in (*op.errors, 400, 404, 405)}}
    if content:
        errors.update({s: ERROR_DESCRIPTIONS[s] for s in (413, 415, 422)})
    if op.query is not None:
        errors[422] = ERROR_DESCRIPTIONS[422]
    if op.idempotent_post:
        errors.update({s: ERROR_DESCRIPTIONS[s] for s in (409, 422)})
    for status, description in sorted(errors.items()):
        result["responses"].setdefault(str(status), _error_response(description))
    return result

"""Pieces every area's views share: the acting user, CSV downloads, htmx's stop-polling status."""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote

from flask import Response, g, request
from flask_login import current_user

from backoffice.models import User
from backoffice.services import providers as provider_service
from backoffice.services.spreadsheets import XLSX_MIMETYPE, csv_bytes, write_xlsx

# htmx stops polling an element when its response carries this status.
STOP_POLLING = 286


def current_actor() -> User:
    """The signed-in user as a plain object, to hand to a service."""
    return current_user._get_current_object()


def csv_options() -> tuple[str, str]:
    """`;` and decimal comma (French Excel) by default, `?sep=,` for a comma file with a dot."""
    if request.args.get("sep") == ",":
        return ",", "."
    return ";", ","


def attachment(filename: str) -> str:
    """A Content-Disposition header that no file name can break: an ASCII fallback plus RFC 5987's
    `filename*` (so quotes, CR/LF or non-ASCII characters from data never reach the header raw)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("_") or "export"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def csv_response(rows: Iterable[Iterable], filename: str) -> Response:
    """A CSV download of `rows` in the separator the request asked for."""

    separator, _ = csv_options()
    return Response(
        csv_bytes(rows, separator),
        mimetype="text/csv",
        headers={"Content-Disposition": attachment(filename)},
    )


def xlsx_download(title: str, header: list[str], lines: Iterable[list], timezone: str, filename: str) -> Response:
    """An .xlsx download: the workbook is written (write-only) to a temporary file, then sent
    in blocks; the file is gone once sent."""
    spool = tempfile.TemporaryFile()
    write_xlsx(spool, title, header, lines, timezone)
    size = spool.tell()
    spool.seek(0)

    def blocks():
        with spool:
            while block := spool.read(256 * 1024):
                yield block

    response = Response(blocks(), mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = attachment(filename)
    response.headers["Content-Length"] = str(size)
    response.headers["Cache-Control"] = "no-store"
    return response


def payee_provider_name(fsp_id: str | None) -> str:
    """Template helper: a row's payee FSP id → provider name (one query per request)."""
    if "payee_provider_names" not in g:
        g.payee_provider_names = provider_service.provider_names()
    return provider_service.provider_label(fsp_id, g.payee_provider_names)

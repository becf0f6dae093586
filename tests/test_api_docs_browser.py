"""In Chromium: the API documentation page renders Swagger UI from local files, under the CSP, without errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_docs_page_renders_the_operations(live_server, page, demo):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((live_server, "data:")) else None)
    page.goto(f"{live_server}/api/v1/docs")
    page.wait_for_selector("text=Créer un lot (fichier CSV ou lignes JSON)", timeout=20_000)
    assert page.locator(".opblock").count() >= 19
    assert page.get_by_text("/api/v1/batches/{batch_id}/events", exact=True).count() >= 1
    page.screenshot(path="/tmp/api-docs.png", full_page=False)
    assert not outside, outside
    assert not errors, errors

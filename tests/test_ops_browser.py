"""In Chromium: the .xlsx export downloads from the batch page, and a big list's new-batch page
is walked page by page with its amounts kept (issue 15)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.conftest import browser_login
from tests.factories import import_bytes
from tests.test_ops_lists import make_list

pytestmark = pytest.mark.browser


def _shot(page, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_xlsx_download_and_paginated_list_page(app, live_server, page, demo, tmp_path):
    with app.app_context():
        batch_id = import_bytes(
            demo, "type_id,valeur_id,devise,montant,nom_complet\nMSISDN,22997000001,XOF,15000,Rémi Gbèdji\n".encode()
        )
    list_id, ids, values = make_list(app, 230)
    browser_login(page, live_server, "gestionnaire1@cnss.bj")

    page.goto(f"{live_server}/batches/{batch_id}")
    with page.expect_download() as download_info:
        page.click("#export-xlsx-link")
    download = download_info.value
    assert download.suggested_filename.endswith("-rapprochement.xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    sheet = load_workbook(io.BytesIO(path.read_bytes())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Ligne", "Type d'identifiant", "Identifiant") and rows[0][5] == "Montant (F CFA)"
    assert rows[1][3] == "Rémi Gbèdji" and rows[1][5] == 15000
    _shot(page, tmp_path, "batch-exports")

    page.goto(f"{live_server}/tableau-de-bord/listes/{list_id}/nouveau-lot")
    assert "Page 1 sur 3" in page.inner_text("#new-batch-form")
    assert page.locator("input.amount-input").count() == 100
    assert "230\u202f000\u202fF CFA" in page.inner_text("[data-testid=total]")
    page.fill(f"input[name=amount-{ids[0]}]", "2 500")
    page.click("#next-page")
    page.wait_for_load_state("networkidle")
    assert "Montants de la page enregistrés." in page.inner_text(".flashes")
    assert "Page 2 sur 3" in page.inner_text("#new-batch-form")
    assert "231\u202f500\u202fF CFA" in page.inner_text("[data-testid=total]")
    _shot(page, tmp_path, "list-page-2")
    page.click("#prev-page")
    page.wait_for_load_state("networkidle")
    assert page.input_value(f"input[name=amount-{ids[0]}]") == "2\u202f500"

    bad = tmp_path / "modifs.csv"
    bad.write_text(f"identifiant;montant\n{values[1]};3000\n{values[2]};abc\n", encoding="utf-8")
    page.click("summary:has-text('Modifier les montants par fichier')")
    page.set_input_files("input[name=file]", str(bad))
    page.click("#upload-changes")
    page.wait_for_load_state("networkidle")
    problems = page.inner_text("#change-problems")
    assert "Montant illisible" in problems and values[2] in problems
    assert "231\u202f500\u202fF CFA" in page.inner_text("[data-testid=total]")  # nothing half-written
    _shot(page, tmp_path, "list-changes-refused")

    # A phone: the page does not scroll sideways at 390 px.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/tableau-de-bord/listes/{list_id}/nouveau-lot")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    _shot(page, tmp_path, "list-page-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("#create-batch")
    page.wait_for_load_state("networkidle")
    assert "créé depuis la liste" in page.inner_text(".flashes")
    _shot(page, tmp_path, "batch-from-list")

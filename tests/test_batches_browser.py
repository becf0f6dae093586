"""In Chromium: gestionnaire 1 uploads and submits, gestionnaire 2 approves, the exports download."""

from __future__ import annotations

import os

import pytest

from tests.conftest import SAMPLES, browser_login

pytestmark = pytest.mark.browser


def _logout(page) -> None:
    page.click("button:has-text('Se déconnecter')")
    page.wait_for_load_state("networkidle")


def test_upload_submit_approve_and_export_in_the_browser(live_server, page, demo, tmp_path):
    page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm prompts
    browser_login(page, live_server, "gestionnaire1@cnss.bj")
    page.goto(f"{live_server}/batches/")
    page.click("text=Nouveau lot")
    page.set_input_files("input[name=file]", str(SAMPLES / "pensions-liste-paiement.csv"))
    page.select_option("select[name=account_id]", label="ACC-CNSS-001 — Pensions (XOF)")
    page.fill("input[name=label]", "Pensions de novembre")
    page.click("input[type=submit][value='Importer et vérifier']")
    page.wait_for_load_state("networkidle")
    assert "Fichier importé : lot LOT-" in page.inner_text(".flashes")
    stats = page.inner_text(".stats")
    assert "19" in stats and "196\u202f300\u202fF CFA" in stats
    if os.environ.get("SCREENSHOTS"):
        page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)
    page.click("input[type=submit][value='Soumettre pour approbation']")
    page.wait_for_load_state("networkidle")
    assert "Lot soumis pour approbation." in page.inner_text(".flashes")
    assert page.inner_text("#batch-status") == "En attente d'approbation"
    batch_url = page.url
    _logout(page)

    browser_login(page, live_server, "gestionnaire2@cnss.bj")
    page.goto(batch_url)
    page.click("button:has-text('Approuver et payer')")
    page.wait_for_load_state("networkidle")
    assert "Lot approuvé : le paiement commence." in page.inner_text(".flashes")
    assert "Lot approuvé ; le montant total est réservé" in page.inner_text("#batch-timeline")

    with page.expect_download() as download_info:
        page.click("#export-link")
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert download.suggested_filename.endswith("-rapprochement.csv")
    content = path.read_bytes()
    assert content.startswith("\ufeff".encode())
    lines = content.decode("utf-8-sig").splitlines()
    assert len(lines) == 20 and lines[1].startswith("2;PERSONAL_ID;8884191054;Abdou Kpangon;;20000;0;XOF;")


def test_history_filters_in_the_browser(live_server, page, demo):
    browser_login(page, live_server, "superviseur@cnss.bj")
    page.goto(f"{live_server}/batches/")
    assert "Aucun lot." in page.inner_text("table")
    assert page.locator("text=Nouveau lot").count() == 0  # a superviseur only reads
    page.select_option("select[name=status]", "COMPLETED")  # data-autosubmit
    page.wait_for_url("**status=COMPLETED**")
    assert "Aucun lot ne correspond à ces filtres." in page.inner_text("table")

"""In Chromium, the whole bulk flow with real processes: gestionnaire 1 uploads and submits,
gestionnaire 2 approves, a real worker pays through the Mojaloop simulator, the progress bar
moves to the end, and the reconciliation export downloads with every outcome."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login
from tests.support import start_mojaloop_simulator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Standard format; the simulator answers 3204 (party not found) for identifiers ending in 0404.
ROWS = [
    ("nov-001", "15000", "22997100001"),
    ("nov-002", "20000", "22997100002"),
    ("nov-003", "25000", "22997100003"),
    ("nov-004", "30000", "22997100404"),
    ("nov-005", "35000", "22997100005"),
]


def _logout(page) -> None:
    page.click("button:has-text('Se déconnecter')")
    page.wait_for_load_state("networkidle")


def test_upload_approve_progress_to_the_end_and_export(live_server, page, demo, tmp_path, start_process):
    simulator = start_mojaloop_simulator("--latency-ms", "200")
    try:
        start_process("worker", env={"MOJALOOP_SDK_URL": simulator.url})
        source = tmp_path / "virements-novembre.csv"
        source.write_text(
            "transferId;amount;currency;partyIdType;partyIdentifier\r\n"
            + "".join(f"{ref};{amount};XOF;MSISDN;{msisdn}\r\n" for ref, amount, msisdn in ROWS),
            encoding="utf-8",
        )
        page.on("dialog", lambda dialog: dialog.accept())
        browser_login(page, live_server, "gestionnaire1@cnss.bj")
        page.goto(f"{live_server}/batches/new")
        page.set_input_files("input[name=file]", str(source))
        page.select_option("select[name=account_id]", label="ACC-CNSS-001 — Pensions (XOF)")
        page.fill("input[name=label]", "Virements de novembre")
        page.click("input[type=submit][value='Importer et vérifier']")
        page.wait_for_load_state("networkidle")
        assert "125\u202f000\u202fF CFA" in page.inner_text(".stats")
        page.click("input[type=submit][value='Soumettre pour approbation']")
        page.wait_for_load_state("networkidle")
        batch_url = page.url
        _logout(page)

        browser_login(page, live_server, "gestionnaire2@cnss.bj")
        page.goto(batch_url)
        page.click("button:has-text('Approuver et payer')")
        page.wait_for_load_state("networkidle")
        # The fragment polls every second and stops (286) once the batch is final.
        # (Playwright's expect polls from outside the page: the CSP forbids eval'd predicates.)
        expect(page.locator("[data-testid=progress-percent]")).to_have_text("100 %", timeout=60_000)
        progress = page.inner_text("#batch-progress")
        assert "Partiellement terminé" in progress
        assert page.inner_text("[data-status=COMPLETED]") == "4"
        assert page.inner_text("[data-status=FAILED]") == "1"
        # The end reloads the page once: status, rows and timeline show the outcome too.
        expect(page.locator("#batch-status")).to_have_text("Partiellement terminé", timeout=15_000)
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("#batch-progress", "hx-get") is None  # polling stopped
        assert "Paiement terminé : 4 payées, 1 échouée." in page.inner_text("#batch-timeline")
        page.screenshot(path=str(tmp_path / "progress-final.png"), full_page=True)

        with page.expect_download() as download_info:
            page.click("#export-link")
        path = tmp_path / "export.csv"
        download_info.value.save_as(path)
        # The default export is for French Excel: `;` and French headers (issue 15).
        rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig")), delimiter=";"))
        assert len(rows) == 5
        statuses = sorted(r["Code du statut"] for r in rows)
        assert statuses == ["COMPLETED"] * 4 + ["FAILED"], statuses
        failed = [r for r in rows if r["Code d'erreur"] == "3204"]  # not a substring: a transfer_id may hold "3204"
        assert len(failed) == 1 and "22997100404" in ",".join(failed[0].values())
    finally:
        simulator.stop()

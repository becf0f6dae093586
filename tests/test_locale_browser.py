"""Chromium, as a French-speaking team: local time, French labels, live figures, PDFs, 390 px, axe."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from tests.conftest import browser_login
from tests.factories import PAYMENT_LIST, import_bytes, user

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots for people to look at (not compared): SCREENSHOTS_DIR, or a temporary folder.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR", "/tmp/backoffice-screenshots"))
G1, G2 = "gestionnaire1@cnss.bj", "gestionnaire2@cnss.bj"


def _batches(app, demo) -> dict:
    """A CNSS batch being paid and a finished one with a 3204 failure, approved at 09:00 UTC today."""
    from backoffice.extensions import db
    from backoffice.models.batches import Batch, BatchRow
    from backoffice.services.bulk import approval

    with app.app_context():
        ids = {}
        for name in ("paying", "finished"):
            batch_id = import_bytes(demo, PAYMENT_LIST, label=f"Pensions {name}")
            approval.submit_batch(user(G1), batch_id)
            # The same file twice: the double-payment guard asks the approver to confirm.
            approval.approve_batch(user(G2), batch_id, "Deux lots de démonstration faits du même fichier.")
            rows = list(
                db.session.scalars(
                    db.select(BatchRow).where(BatchRow.batch_id == batch_id).order_by(BatchRow.line_number)
                )
            )
            now = datetime.utcnow()
            rows[0].status, rows[0].completed_at, rows[0].updated_at, rows[0].fee = "COMPLETED", now, now, 100
            rows[1].status, rows[1].error_code, rows[1].updated_at = "FAILED", "3204", now
            rows[1].error_description = "Party not found"
            today_nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
            values = {"approved_at": today_nine, "processing_started_at": now - timedelta(seconds=30)}
            if name == "paying":
                values["status"] = "PROCESSING"
            else:
                rows[2].status, rows[2].updated_at = "FAILED", now
                rows[2].error_code, rows[2].error_description = "5104", "Payee rejected the financial transaction"
                values.update(status="PARTIALLY_COMPLETED", completed_at=now, reserved_amount=0)
            db.session.execute(update(Batch).where(Batch.id == batch_id).values(**values))
            db.session.commit()
            ids[name] = batch_id
        return ids


def _no_sideways_scroll(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _axe_violations(page) -> list[str]:
    """Serious and critical axe-core violations of the page (axe from the npm registry)."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.filter(v => ["serious", "critical"].includes(v.impact))
                .map(v => v.id + ": " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
        }"""
    )
    return result


@pytest.mark.browser
@pytest.mark.skipif(not AXE.exists(), reason="npm install puts axe-core in node_modules")
def test_a_french_team_reads_local_time_french_labels_and_live_figures(app, demo, live_server, page, tmp_path):
    ids = _batches(app, demo)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    browser_login(page, live_server, "superviseur@cnss.bj")

    # The dashboard opens on the whole current month, in Cotonou's days, with French reasons.
    page.goto(f"{live_server}/tableau-de-bord/")
    page.wait_for_selector("canvas[data-ready='1']")
    period = page.get_by_test_id("period-label").inner_text()
    assert period.startswith("Période : du 1 "), period
    assert "heure de Porto-Novo (UTC+01:00)" in period
    assert "Bénéficiaire introuvable" in page.inner_text("main")
    assert "Transfert refusé par le bénéficiaire" in page.inner_text("main")
    reasons = page.evaluate("JSON.parse(document.getElementById('chart-reasons').dataset.chart).labels")
    assert "3204 Bénéficiaire introuvable" in reasons, reasons
    assert "Party not found" not in page.inner_text("main")
    page.screenshot(path=str(SHOTS / "dashboard-1366.png"), full_page=True)
    assert _axe_violations(page) == []

    # The batch being paid: approval time in local time, amounts in the polled fragment.
    page.goto(f"{live_server}/batches/{ids['paying']}")
    facts = page.inner_text(".facts")
    assert "Aïcha Dossou, le " in facts and " 10:00" in facts, facts  # approved at 09:00 UTC
    assert page.get_by_test_id("amount-paid").inner_text() == "10\u202f000\u202fF CFA"
    assert page.get_by_test_id("success-rate").inner_text() == "50,0\u00a0%"
    assert "Heures affichées : heure de Porto-Novo" in page.inner_text("footer")
    # The fragment refreshes: a row paid now shows up without reloading the page.
    from backoffice.extensions import db
    from backoffice.models.batches import BatchRow

    with app.app_context():
        db.session.execute(
            update(BatchRow)
            .where(BatchRow.batch_id == ids["paying"], BatchRow.status == "PENDING")
            .values(status="COMPLETED", completed_at=datetime.utcnow(), updated_at=datetime.utcnow())
        )
        db.session.commit()
    expect(page.get_by_test_id("amount-paid")).to_have_text("15\u202f000\u202fF CFA", timeout=15_000)
    assert page.get_by_test_id("amount-left").inner_text() == "0\u202fF CFA"
    page.screenshot(path=str(SHOTS / "batch-paying-1366.png"), full_page=True)
    assert _axe_violations(page) == []

    # The finished batch: duration and average rate, and both PDFs render.
    page.goto(f"{live_server}/batches/{ids['finished']}")
    assert "Durée totale" in page.get_by_test_id("progress-timing").inner_text()
    assert page.get_by_test_id("success-rate").inner_text() == "33,3\u00a0%"
    page.screenshot(path=str(SHOTS / "batch-final-1366.png"), full_page=True)
    for link, name in (("#payment-order-link", "ordre"), ("#final-report-link", "rapport")):
        with page.expect_download() as download:
            page.click(link)
        pdf = tmp_path / f"{name}.pdf"
        download.value.save_as(pdf)
        assert pdf.read_bytes().startswith(b"%PDF")
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(SHOTS / name)], check=True)
            assert any(SHOTS.glob(f"{name}*.png"))

    # A phone: the menu folds, nothing scrolls sideways, amounts stay on one line.
    page.set_viewport_size({"width": 390, "height": 844})
    pages = [
        "/",
        "/tableau-de-bord/",
        "/batches/",
        f"/batches/{ids['paying']}",
        f"/batches/{ids['finished']}",
        "/tableau-de-bord/audit",
        "/tableau-de-bord/comptes",
        "/tableau-de-bord/listes",
        "/amendes/",
    ]
    for path in pages:
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
        width, inner = _no_sideways_scroll(page)
        assert width <= inner, (path, width, inner)
        spilled = page.evaluate(
            "[...document.querySelectorAll('.stat strong')].filter(s => s.scrollWidth > s.clientWidth + 1)"
            ".map(s => s.textContent)"
        )
        assert spilled == [], (path, spilled)  # an amount never overflows its card
        assert _axe_violations(page) == [], path
    page.goto(f"{live_server}/batches/{ids['paying']}")
    assert not page.locator("nav.nav").is_visible()
    page.click(".nav-toggle")
    assert page.locator("nav.nav").is_visible()
    page.screenshot(path=str(SHOTS / "batch-paying-390.png"), full_page=True)
    heights = page.evaluate("[...document.querySelectorAll('.stat strong')].map(s => s.getClientRects().length)")
    assert all(h == 1 for h in heights), heights  # no amount broken over two lines
    page.goto(f"{live_server}/tableau-de-bord/")
    page.screenshot(path=str(SHOTS / "dashboard-390.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.skipif(not AXE.exists(), reason="npm install puts axe-core in node_modules")
@pytest.mark.parametrize("email", ["gestionnaire1@cnss.bj", "superviseur@cnss.bj", "admin@demo.bj", "gestionnaire@next.mr"])
def test_every_menu_page_fits_a_phone_and_passes_axe_for_each_role(app, demo, live_server, page, email):
    ids = _batches(app, demo)
    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, live_server, email)
    links = page.eval_on_selector_all("nav.nav a", "links => links.map(a => a.getAttribute('href'))")
    extra: list[str] = []
    if email.endswith("cnss.bj"):
        extra += [f"/batches/{ids['paying']}", f"/batches/{ids['finished']}"]
    if email == "gestionnaire1@cnss.bj":
        extra.append("/batches/new")
    problems = []
    for path in dict.fromkeys(links + extra):
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
        width, inner = _no_sideways_scroll(page)
        if width > inner:
            problems.append(f"{path}: scrollWidth {width} > {inner}")
        problems += [f"{path}: {v}" for v in _axe_violations(page)]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"last-page-390-{email.split('@')[0]}.png"), full_page=True)
    assert problems == []

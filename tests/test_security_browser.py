"""In Chromium: sign-in with a code, enrolment with the QR code, a recovery code, step-up at approval."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from backoffice import devservers
from tests.conftest import DEMO_PASSWORD, DEMO_TOTP_SECRET, browser_login

pytestmark = pytest.mark.browser


def _password_step(page, base: str, email: str) -> None:
    page.goto(f"{base}/connexion")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")


def test_sign_in_with_a_code(live_server, page, demo):
    _password_step(page, live_server, "gestionnaire1@cnss.bj")
    assert page.url.endswith("/connexion/code")
    page.fill("input[name=code]", "000000")
    page.click("input[type=submit]")
    assert "Code incorrect." in page.locator("main").inner_text()
    page.fill("input[name=code]", pyotp.TOTP(DEMO_TOTP_SECRET).now())
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.url.rstrip("/") == live_server
    assert "Bonjour Koffi" in page.locator("main").inner_text()


def test_enrolment_then_a_recovery_code(app, live_server, page, demo):
    from backoffice.extensions import db
    from backoffice.models import User
    from backoffice.services.users import hash_password

    with app.app_context():
        db.session.add(
            User(
                email="nouvelle@cnss.bj",
                first_name="Adjoa",
                last_name="Kpossou",
                organisation_id=demo["orgs"]["CNSS"],
                password_hash=hash_password(DEMO_PASSWORD),
                must_change_password=False,
            )
        )
        db.session.commit()
    _password_step(page, live_server, "nouvelle@cnss.bj")
    assert page.url.endswith("/connexion/enrolement")
    qr = page.locator(".qr-code svg")
    box = qr.bounding_box()
    assert box and box["width"] >= 150 and box["height"] >= 150  # drawn, and visible under the CSP
    secret = page.inner_text("#totp-secret").strip()
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("input[type=submit]")
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.click("text=J'ai noté mes codes, continuer")
    page.wait_for_load_state("networkidle")
    assert "Bonjour Adjoa" in page.locator("main").inner_text()

    page.get_by_role("button", name="Se déconnecter").click()
    _password_step(page, live_server, "nouvelle@cnss.bj")
    page.fill("input[name=code]", codes[3])
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")
    text = page.locator("main").inner_text()
    assert "Code de secours utilisé : il vous en reste 9." in text and "Bonjour Adjoa" in text


def test_step_up_at_approval(app, demo, page, start_process):
    """With STEP_UP_MAX_AGE_SECONDS=0 every approval asks for a code; the batch waits until one is typed."""
    from backoffice.extensions import db
    from backoffice.models.batches import Batch
    from backoffice.services.bulk import approval
    from tests.factories import cnss_draft_batch, user

    with app.app_context():
        batch_id = cnss_draft_batch(demo)
        approval.submit_batch(user("gestionnaire1@cnss.bj"), batch_id)
        db.session.commit()
    port = devservers.free_port()
    start_process(
        "run",
        "--port",
        str(port),
        "--no-reload",
        "--no-debugger",
        env={"FLASK_DEBUG": "0", "STEP_UP_MAX_AGE_SECONDS": "0"},
    )
    devservers.wait_for_port(port, timeout=30)
    base = f"http://127.0.0.1:{port}"
    page.on("dialog", lambda dialog: dialog.accept())
    browser_login(page, base, "gestionnaire2@cnss.bj")
    page.goto(f"{base}/batches/{batch_id}")
    code_field = page.locator("#step-up-code-approve")
    assert code_field.is_visible()
    page.get_by_role("button", name=re.compile("Approuver et payer")).click()  # no code: the browser asks for it
    assert page.url.endswith(f"/batches/{batch_id}")
    with app.app_context():
        assert db.session.get(Batch, batch_id).status == "PENDING_APPROVAL"
    # The sign-in used this step's code: the next one is accepted (one step of clock drift).
    code_field.fill(pyotp.TOTP(DEMO_TOTP_SECRET).at(time.time() + 30))
    page.get_by_role("button", name=re.compile("Approuver et payer")).click()
    page.wait_for_load_state("networkidle")
    assert "Lot approuvé : le paiement commence." in page.locator("main").inner_text()
    with app.app_context():
        assert db.session.get(Batch, batch_id).status in ("APPROVED", "PROCESSING")

"""In Chromium (issue 11): the approver sees the file's and Mojaloop's names side by side and
must acknowledge before paying."""

from __future__ import annotations

import pytest

from backoffice.services.bulk import approval, verification
from tests.conftest import browser_login
from tests.factories import import_bytes, user
from tests.support import configured_app, run_jobs

pytestmark = pytest.mark.browser

FILE = (
    b"type_id,valeur_id,devise,montant,nom_complet\n"
    b"MSISDN,2290197000001,XOF,5000,Awa Dossou\n"
    b"MSISDN,2290197000002,XOF,7000,Koffi Agossou\n"
)


def test_approver_sees_both_names_and_must_acknowledge(app, demo, sim, live_server, page):
    sim.configure(party_names={"2290197000001": "Awa Dossou", "2290197000002": "Jean Houngbédji"})
    with configured_app(app, {"VERIFY_BACKOFF_SECONDS": 0.05}, sim.url):
        batch_id = import_bytes(demo, FILE)
        verification.start_verification(user("gestionnaire1@cnss.bj"), batch_id)
        run_jobs(app)
        approval.submit_batch(user("gestionnaire1@cnss.bj"), batch_id)

    page.on("dialog", lambda dialog: dialog.accept())
    browser_login(page, live_server, "gestionnaire2@cnss.bj")
    page.goto(f"{live_server}/batches/{batch_id}")
    mismatch = page.locator("#name-mismatches tr[data-row='3']")
    assert mismatch.locator(".file-name").inner_text() == "Koffi Agossou"
    assert mismatch.locator(".returned-name").inner_text().startswith("Jean Houngbédji")
    assert "Discordant" in mismatch.inner_text()
    assert "1\u00a0ligne au nom discordant" in page.inner_text("#approve-form")

    page.click("#approve-form button[type=submit]")  # no reason given
    page.wait_for_load_state("networkidle")
    assert "Approbation impossible sans justification" in page.inner_text(".flashes")
    assert page.inner_text("#batch-status") == "En attente d'approbation"

    page.fill("#approve-form textarea[name=acknowledgement]", "Nom d'usage vérifié par téléphone.")
    page.click("#approve-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "Lot approuvé : le paiement commence." in page.inner_text(".flashes")
    assert "Alertes confirmées par l'approbateur" in page.inner_text("#batch-timeline")
    assert "Nom d'usage vérifié par téléphone." in page.inner_text("#acknowledgement")

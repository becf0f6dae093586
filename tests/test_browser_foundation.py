"""In Chromium: each demo user sees the navigation of their role; a superviseur can change nothing."""

from __future__ import annotations

from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from tests.conftest import browser_login

pytestmark = pytest.mark.browser

ADMIN_NAV = ["Organisations", "Utilisateurs", "Comptes payeurs"]
MEMBER_NAV = ["Accueil"]
MAX_PAGES = 60


def _nav_labels(page) -> list[str]:
    return [label.strip() for label in page.locator("nav.nav a").all_inner_texts()]


def _watch_console(page) -> list[str]:
    """Collect console errors (a CSP violation or a broken script shows up here)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.mark.parametrize(
    ("email", "name", "badge", "expected", "forbidden"),
    [
        ("admin@demo.bj", "Awa Admin", "Administrateur", ADMIN_NAV, ["Accueil"]),
        ("gestionnaire1@cnss.bj", "Koffi Agossou", "Gestionnaire · CNSS", MEMBER_NAV, ADMIN_NAV),
        ("gestionnaire2@cnss.bj", "Aïcha Dossou", "Gestionnaire · CNSS", MEMBER_NAV, ADMIN_NAV),
        ("superviseur@cnss.bj", "Rémi Houngbédji", "Superviseur · CNSS", MEMBER_NAV, ADMIN_NAV),
        ("gestionnaire@next.mr", "Mariem Ould Ahmed", "Gestionnaire · NEXT", MEMBER_NAV, ADMIN_NAV),
    ],
)
def test_each_demo_user_sees_their_navigation(live_server, page, demo, email, name, badge, expected, forbidden):
    errors = _watch_console(page)
    browser_login(page, live_server, email)
    assert "/connexion" not in page.url
    labels = _nav_labels(page)
    for label in expected:
        assert label in labels, (email, labels)
    for label in forbidden:
        assert label not in labels, (email, labels)
    assert page.locator(".who .user-name").inner_text() == name
    assert page.locator(".who .badge.role").inner_text() == badge
    # htmx loaded from static/vendor and allowed by the CSP.
    assert page.evaluate("typeof window.htmx") == "object"
    assert errors == []

    if not email.startswith("admin"):
        # Their own organisation's accounts, never another's.
        body = page.locator("main").inner_text()
        own, other = ("ACC-NEXT-001", "ACC-CNSS-001") if email.endswith(".mr") else ("ACC-CNSS-001", "ACC-NEXT-001")
        assert own in body and other not in body

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state()
    assert "/connexion" in page.url
    assert "Vous êtes déconnecté." in page.locator("main").inner_text()


def test_wrong_password_shows_the_french_message(live_server, page, demo):
    browser_login(page, live_server, "gestionnaire1@cnss.bj", "pas-le-bon")
    assert "/connexion" in page.url
    assert page.locator(".alert-danger").inner_text() == "Adresse e-mail ou mot de passe incorrect."


def _same_site_links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]:not([download])", "els => els.map(e => e.getAttribute('href'))")
    links = []
    for href in hrefs:
        url, _ = urldefrag(urljoin(page.url, href))
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != base:
            continue
        if parts.path.startswith("/deconnexion") or parts.path.startswith("/static/"):
            continue
        if ".csv" in url or "format=csv" in url or "/export" in parts.path:
            continue
        links.append(url)
    return links


def test_superviseur_sees_nothing_that_changes_anything(live_server, page, demo):
    """Crawl every page a superviseur can reach: no POST form but sign-out, no hx-post/put/delete.

    Generic on purpose: pages added by other areas are covered as soon as they are linked.
    The password page is the superviseur's own password, which they may change.
    """
    errors = _watch_console(page)
    browser_login(page, live_server, "superviseur@cnss.bj")
    start = f"{live_server}/"
    queue, seen, problems = [start], {start}, []
    visited = 0
    while queue and visited < MAX_PAGES:
        url = queue.pop(0)
        response = page.goto(url)
        visited += 1
        try:
            page.wait_for_load_state("networkidle", timeout=3_000)
        except Exception:  # noqa: BLE001 - a polling page never goes idle; what loaded is enough
            pass
        path = urlsplit(page.url).path
        if response is not None and response.status >= 400:
            problems.append(f"{url}: HTTP {response.status}")
        if "/connexion" in page.url:
            problems.append(f"{url}: signed out")
            break
        if path != "/mot-de-passe":
            forms = page.eval_on_selector_all(
                "form",
                "els => els.map(f => [(f.getAttribute('method') || 'get').toLowerCase(), f.getAttribute('action') || ''])",
            )
            for method, action in forms:
                if method == "post" and not action.endswith("/deconnexion"):
                    problems.append(f"{url}: POST form to {action or '(this page)'}")
            mutating = page.eval_on_selector_all(
                "[hx-post], [hx-put], [hx-patch], [hx-delete], [data-hx-post], [data-hx-put], [data-hx-patch], "
                "[data-hx-delete]",
                "els => els.map(e => e.outerHTML.slice(0, 120))",
            )
            problems.extend(f"{url}: {snippet}" for snippet in mutating)
        for link in _same_site_links(page, live_server):
            if link not in seen:
                seen.add(link)
                queue.append(link)
    assert visited >= 2, "the crawl reached the home page and at least one more"
    assert not problems, "\n".join(problems)
    assert errors == []


def test_screenshots_of_home_pages(live_server, page, demo):
    """Full-page screenshots for a person to look at (tests/…/tmp): admin and gestionnaire homes."""
    page.set_viewport_size({"width": 1280, "height": 800})
    browser_login(page, live_server, "admin@demo.bj")
    page.screenshot(path="/tmp/foundation-admin-home.png", full_page=True)
    page.goto(f"{live_server}/admin/comptes")
    page.screenshot(path="/tmp/foundation-admin-accounts.png", full_page=True)
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state()
    page.screenshot(path="/tmp/foundation-login.png", full_page=True)
    browser_login(page, live_server, "gestionnaire1@cnss.bj")
    page.screenshot(path="/tmp/foundation-gestionnaire-home.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 800})
    page.screenshot(path="/tmp/foundation-gestionnaire-mobile.png", full_page=True)
    # Nothing spills out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_htmx_errors_show_their_french_message(live_server, page, demo):
    """An HTMX request that fails shows the error page's message instead of doing nothing."""
    browser_login(page, live_server, "gestionnaire1@cnss.bj")
    page.evaluate("htmx.ajax('GET', '/nexiste-pas', {target: 'main', swap: 'none'}).catch(() => null)")
    alert = page.locator("main .alert-danger")
    alert.wait_for()
    assert alert.inner_text() == "Page introuvable."
    # A POST with a stale CSRF token gets the CSRF message.
    page.evaluate(
        "document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRFToken': 'perime'}));"
        "htmx.ajax('POST', '/deconnexion', {target: 'main', swap: 'none'}).catch(() => null)"
    )
    page.wait_for_function("document.querySelector('main .alert-danger').textContent.includes('CSRF')")
    assert "Jeton de sécurité (CSRF) manquant ou expiré" in alert.inner_text()

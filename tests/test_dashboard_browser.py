"""Chromium: the dashboard draws its charts under the CSP, and a click opens the filtered history."""

from __future__ import annotations

import pytest

from tests.conftest import browser_login
from tests.test_dashboard import dashboard_data  # noqa: F401  (fixture)

URL = "/tableau-de-bord/?date_from=2026-09-01&date_to=2026-09-30"


def _click_element(page, chart_id: str, index: int) -> None:
    """Click the centre of one bar or slice, where Chart.js says it is drawn."""
    point = page.evaluate(
        """([id, index]) => {
            const canvas = document.getElementById(id);
            canvas.scrollIntoView({block: "center"});
            const element = canvas.chart.getDatasetMeta(0).data[index];
            const centre = element.getCenterPoint();
            const box = canvas.getBoundingClientRect();
            return {x: box.left + centre.x, y: box.top + centre.y};
        }""",
        [chart_id, index],
    )
    page.mouse.click(point["x"], point["y"])


@pytest.mark.browser
@pytest.mark.postgres_only
def test_charts_render_without_csp_errors_and_clicks_filter_the_history(live_server, page, dashboard_data):  # noqa: F811
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    browser_login(page, live_server, "superviseur@cnss.bj")

    page.goto(live_server + URL)
    page.wait_for_selector("canvas[data-ready='1']")
    assert page.locator("canvas[data-ready='1']").count() == 3
    sizes = page.evaluate("[...document.querySelectorAll('canvas')].map(c => [c.width, c.height])")
    assert all(w > 100 and h > 100 for w, h in sizes), sizes
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert not failed, failed  # every script and style came from our own server
    assert not [p for p in problems if "Failed to load resource" not in p], problems  # (the favicon)

    # Completed vs failed: the "Échoués" slice.
    _click_element(page, "chart-outcome", 1)
    page.wait_for_url("**/batches/?**")
    assert page.url.endswith("/batches/?date_from=2026-09-01&date_to=2026-09-30&status=FAILED")

    # Top failure reason: its error code.
    page.goto(live_server + URL)
    page.wait_for_selector("canvas#chart-reasons[data-ready='1']")
    code = page.evaluate("JSON.parse(document.getElementById('chart-reasons').dataset.chart).links[0]")
    _click_element(page, "chart-reasons", 0)
    page.wait_for_url("**/batches/?**")
    assert page.url == live_server + code and "&error_code=" in code

    # Amount per day: the first day with payments.
    page.goto(live_server + URL)
    page.wait_for_selector("canvas#chart-per_day[data-ready='1']")
    day_index = page.evaluate(
        "JSON.parse(document.getElementById('chart-per_day').dataset.chart).datasets[0].data.findIndex(v => v > 0)"
    )
    _click_element(page, "chart-per_day", day_index)
    page.wait_for_url("**/batches/?**")
    day = f"2026-09-{day_index + 1:02d}"
    assert page.url.endswith(f"/batches/?date_from={day}&date_to={day}")


@pytest.mark.browser
@pytest.mark.postgres_only
def test_export_downloads_from_the_page(live_server, page, dashboard_data):  # noqa: F811
    browser_login(page, live_server, "superviseur@cnss.bj")
    page.goto(live_server + URL)
    with page.expect_download() as info:
        page.click("text=Exporter en CSV")
    download = info.value
    assert download.suggested_filename == "tableau-de-bord-2026-09-01-2026-09-30.csv"
    assert open(download.path(), "rb").read().startswith(b"\xef\xbb\xbf")

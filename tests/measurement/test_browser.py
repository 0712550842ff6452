"""The dashboard in a real browser: charts drawn by the vendored Chart.js, no console errors.

Full-page screenshots at phone (390 px) and desktop (1440 px) widths go to
tests/artifacts/measurement_*.png for review.
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from advocacy.models import ProgramMembership
from measurement import services
from measurement.models import Goal
from storefront.models import PlacementEvent
from tests.factories import UserFactory, enroll
from tests.helpers import browser_sign_in
from tests.storefront.conftest import browser  # noqa: F401 - the module's Chromium

from . import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDTHS = {"phone": 390, "desktop": 1440}


def test_the_manager_sees_cards_charts_and_goals(browser, live_server, dataset):  # noqa: F811
    services.rollups_rebuild(program=dataset, start=date(2025, 10, 1), end=date(2026, 4, 30))
    Goal.objects.create(
        program=dataset,
        name="200 new customers from referrals",
        metric="new_referred_customers",
        target=200,
        starts_on=date(2026, 3, 1),
        deadline=date(2026, 6, 30),
    )
    Goal.objects.create(
        program=dataset,
        name="NPS at least 50",
        metric="nps",
        target=50,
        starts_on=date(2026, 3, 1),
        deadline=date(2026, 3, 31),
    )
    # Today's lists: two customers overdue, an advocate who stopped sharing; the
    # March funnel by placement.
    now = datetime.now(UTC)
    for who in ("cust-late", "cust-later"):
        for i, ago in enumerate((90, 70, 50)):
            f.backfilled_order(dataset, f"{who}-{i}", 3000, now - timedelta(days=ago),
                               external_id=who)  # fmt: skip
    quiet = enroll(dataset, "quiet@example.com")
    for n in range(6):
        f.click(quiet.links.get(), now - timedelta(days=100 - n))
    for placement, kinds in (("widget", 6), ("post_purchase", 4), ("email_invitation", 2)):
        for n in range(kinds):
            PlacementEvent.objects.create(
                program=dataset, placement=placement, kind="impression", viewer=f"v{n}",
                created_at=datetime(2026, 3, 2 + n, tzinfo=UTC),
            )  # fmt: skip
        PlacementEvent.objects.create(
            program=dataset, placement=placement, kind="share", viewer="v0",
            created_at=datetime(2026, 3, 3, tzinfo=UTC),
        )  # fmt: skip
    user = UserFactory(username="mona", is_staff=True)
    ProgramMembership.objects.create(program=dataset, user=user, role="manager")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(8000)
    page = context.new_page()
    errors = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    # Every file the page asks for is served (the browser's own favicon.ico aside).
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        browser_sign_in(page, live_server.url, user, "correct horse battery staple")
        page.goto(f"{live_server.url}/admin/?from=2026-03-01&to=2026-03-31")
        page.wait_for_selector(".mdash-cards")
        # Chart.js drew each chart (it marks the canvases it owns).
        drawn = page.evaluate(
            "() => ['funnel','daily','money','cohorts','nps'].map("
            "id => !!window.Chart.getChart(document.getElementById('chart-' + id)))"
        )
        assert drawn == [True] * 5
        assert "170.00" in page.inner_text(".mdash-cards")
        ARTIFACTS.mkdir(exist_ok=True)
        for label, width in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            page.screenshot(path=ARTIFACTS / f"measurement_dashboard_{label}.png", full_page=True)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the page scrolls sideways at {width} px"
        assert not errors, errors
    finally:
        context.close()

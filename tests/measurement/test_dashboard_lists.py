"""The dashboard's funnel by placement, at-risk and fading lists, and saving a list as a segment."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from advocacy.models import ProgramMembership
from measurement import services
from recruitment.models import Segment
from recruitment.selectors import segment_customers
from rewards.services import program_create_with_offer
from storefront.models import PlacementEvent
from tests.factories import UserFactory, enroll

from . import factories as f

NOW = datetime.now(UTC)


def days_ago(n):
    return NOW - timedelta(days=n)


@pytest.fixture
def shop(program):
    # Two monthly buyers with profiles, one overdue (70 days), one fine; an overdue
    # buyer without a profile (left out of a segment).
    for i, ago in enumerate((130, 100, 70)):
        f.backfilled_order(program, f"late{i}", 1000, days_ago(ago), external_id="late")
        f.backfilled_order(program, f"ghost{i}", 1000, days_ago(ago), external_id="ghost")
    for i, ago in enumerate((80, 50, 20)):
        f.backfilled_order(program, f"fine{i}", 1000, days_ago(ago), external_id="fine")
    f.customer(program, "late", "late@example.com")
    f.customer(program, "fine", "fine@example.com")
    # An advocate who shared in the spring and then stopped; their profile by email.
    faded = enroll(program, "faded@example.com")
    for n in range(6):
        f.click(faded.links.get(), days_ago(100 - n))
    f.customer(program, "cust-faded", "faded@example.com")
    # Placements: the widget was seen twice by one person, shared once, clicked once.
    for kind in ("impression", "impression", "share"):
        PlacementEvent.objects.create(program=program, placement="widget", kind=kind, viewer="v1")
    return program


@pytest.fixture
def manager(shop):
    user = UserFactory(username="mona", is_staff=True)
    ProgramMembership.objects.create(program=shop, user=user, role="manager")
    return user


def test_the_dashboard_lists_placements_at_risk_customers_and_fading_advocates(client, manager):
    client.force_login(manager)
    page = client.get("/admin/").content.decode()
    assert "Funnel by placement" in page and "widget" in page
    placements = page.split("Funnel by placement")[1].split("At-risk customers")[0]
    assert "1 unique" in placements  # two impressions by one viewer
    assert "100.0 %" in placements  # ... who shared: the share rate, as a percentage
    at_risk = page.split("At-risk customers")[1].split("Fading advocates")[0]
    assert "late" in at_risk and "ghost" in at_risk and "fine" not in at_risk
    assert "2 customers are well past their usual time between orders." in at_risk
    assert "faded@example.com" in page.split("Fading advocates")[1]
    # A manager without rights on other admin sections sees no stock "nothing here" notice.
    assert "have permission to view or edit anything" not in page


def test_the_page_lists_the_first_rows_and_counts_them_all(client, manager, monkeypatch):
    from measurement import dashboard

    monkeypatch.setattr(dashboard, "LIST_ROWS", 1)
    client.force_login(manager)
    page = client.get("/admin/").content.decode()
    at_risk = page.split("At-risk customers")[1].split("Fading advocates")[0]
    assert "2 customers are well past their usual time between orders." in at_risk
    assert ("<td>ghost</td>" in at_risk) + ("<td>late</td>" in at_risk) == 1


def test_a_list_is_saved_as_a_recruitment_segment_of_the_customers_on_it(client, manager, shop):
    client.force_login(manager)
    response = client.post("/measurement/dashboard/segment/at-risk", {"program": shop.slug})
    segment = Segment.objects.get(program=shop, slug__startswith="at-risk-")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/recruitment/segment/{segment.pk}/change/")
    assert segment.filters == {"external_ids": ["late"]}  # "ghost" has no profile
    assert [c.external_id for c in segment_customers(segment)] == ["late"]
    # Saving again the same day refreshes the same segment.
    client.post("/measurement/dashboard/segment/at-risk", {"program": shop.slug})
    assert Segment.objects.filter(program=shop, slug__startswith="at-risk-").count() == 1

    client.post("/measurement/dashboard/segment/fading-advocates", {"program": shop.slug})
    fading = Segment.objects.get(program=shop, slug__startswith="fading-advocates-")
    assert fading.filters == {"external_ids": ["cust-faded"]}


def test_only_a_manager_of_the_program_saves_a_segment_and_only_by_post(client, manager, shop):
    other, _, _ = program_create_with_offer(name="Other", landing_url="https://o.example/")
    client.force_login(manager)
    assert (
        client.get(f"/measurement/dashboard/segment/at-risk?program={shop.slug}").status_code == 405
    )
    response = client.post("/measurement/dashboard/segment/at-risk", {"program": other.slug})
    assert response.status_code == 404
    viewer = UserFactory(username="vic", is_staff=True)
    ProgramMembership.objects.create(program=shop, user=viewer, role="viewer")
    client.force_login(viewer)
    response = client.post("/measurement/dashboard/segment/at-risk", {"program": shop.slug})
    assert response.status_code == 404
    assert not Segment.objects.filter(program=shop).exists()


def test_the_dashboard_counts_the_live_days_once(client, manager, shop):
    """Cards, goals, daily chart, advocates, channels and fading advocates share the live
    days' raw counts: each grain (totals, sharers, day, advocate, channel) is read once."""
    client.force_login(manager)
    f.click(enroll(shop, "busy@example.com").links.get(), NOW, "email")
    services.rollups_refresh()  # older days from the rollups: only the live days are raw
    with CaptureQueriesContext(connection) as queries:
        client.get("/admin/")
    raw_clicks = [
        q["sql"] for q in queries.captured_queries if 'FROM "referrals_click"' in q["sql"]
    ]
    # ... and the placement funnel's clicks per placement.
    assert len(raw_clicks) == len(set(raw_clicks)) == 6
    assert sum('"referrals_click"."channel"' in sql for sql in raw_clicks) == 1


def test_the_lists_and_placements_download_as_csv(client, manager):
    import csv
    import io

    client.force_login(manager)
    rows = {}
    for table in ("placements", "at_risk", "fading_advocates"):
        response = client.get(f"/measurement/dashboard/{table}.csv")
        assert response.status_code == 200
        rows[table] = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows["at_risk"][0][:2] == ["customer", "orders"]
    assert sorted(r[0] for r in rows["at_risk"][1:]) == ["ghost", "late"]
    assert [r[1] for r in rows["fading_advocates"][1:]] == ["faded@example.com"]
    widget = next(r for r in rows["placements"][1:] if r[0] == "widget")
    header = rows["placements"][0]
    assert widget[header.index("share_rate")] == "100.0"

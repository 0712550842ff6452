"""The manager's dashboard on the admin's front page: only their programs, CSV of each table."""

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import User

from advocacy.models import ProgramMembership
from measurement import services
from measurement.models import Goal
from rewards.services import program_create_with_offer
from tests.factories import UserFactory

MARCH = "from=2026-03-01&to=2026-03-31"


@pytest.fixture
def manager(dataset):
    user = UserFactory(username="mona", is_staff=True)
    ProgramMembership.objects.create(program=dataset, user=user, role="manager")
    return user


@pytest.fixture
def other_shop(db):
    program, _, _ = program_create_with_offer(name="Secret Shop", landing_url="https://s.example/")
    return program


def test_the_admin_front_page_is_the_dashboard_of_the_managers_program(
    client, manager, dataset, other_shop
):
    services.rollups_rebuild(program=dataset, start=date(2025, 10, 1), end=date(2026, 4, 30))
    Goal.objects.create(
        program=dataset,
        name="200 referred customers",
        metric="new_referred_customers",
        target=200,
        starts_on=date(2026, 3, 1),
        deadline=date(2026, 6, 30),
    )
    client.force_login(manager)
    page = client.get(f"/admin/?{MARCH}").content.decode()
    assert "Acme Friends" in page
    assert "Secret Shop" not in page  # another program is never offered
    assert "vendor/chartjs/chart.umd.min.js" in page
    # Cards with the hand-worked numbers and the comparison period (February).
    assert "170.00" in page and "18.34" in page and "80.0 %" in page
    assert "compared with 2026-01-29 to 2026-02-28" in page
    assert "200 referred customers" in page
    assert 'id="mdash-data"' in page  # the charts' data


def test_a_manager_cannot_see_another_program_by_its_slug(client, manager, other_shop):
    client.force_login(manager)
    page = client.get(f"/admin/?program={other_shop.slug}").content.decode()
    assert "Secret Shop" not in page
    response = client.get(f"/measurement/dashboard/cards.csv?program={other_shop.slug}&{MARCH}")
    # The download falls back to the manager's own program, never the other one.
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="{manager_program_slug(manager)}-'
    )


def manager_program_slug(user):
    return ProgramMembership.objects.get(user=user).program.slug


def test_each_table_downloads_as_csv(client, manager, dataset):
    client.force_login(manager)
    response = client.get(f"/measurement/dashboard/cards.csv?{MARCH}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["metric", "value", "previous period", "change"]
    cards = {r[0]: r[1] for r in rows[1:]}
    assert cards["Referred revenue"] == "170.00"
    assert cards["Retention"] == "80.0"
    for table in ("funnel", "daily", "advocates", "channels", "cohorts", "nps_trend", "journey",
                  "goals"):  # fmt: skip
        assert client.get(f"/measurement/dashboard/{table}.csv?{MARCH}").status_code == 200
    daily = list(
        csv.reader(
            io.StringIO(client.get(f"/measurement/dashboard/daily.csv?{MARCH}").content.decode())
        )
    )
    assert len(daily) == 1 + 31
    assert client.get("/measurement/dashboard/passwords.csv").status_code == 404


def test_the_csv_needs_a_staff_session(client, dataset):
    response = client.get(f"/measurement/dashboard/cards.csv?{MARCH}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(User.objects.create_user("eve", password="x"))  # not staff
    assert client.get(f"/measurement/dashboard/cards.csv?{MARCH}").status_code == 302


def test_a_bad_date_shows_the_default_period_with_a_note(client, manager):
    client.force_login(manager)
    page = client.get("/admin/?from=tomorrow").content.decode()
    assert "Showing the last 30 days" in page


def test_a_staff_user_without_a_program_sees_the_app_list(client, db):
    user = UserFactory(username="newbie", is_staff=True)
    client.force_login(user)
    page = client.get("/admin/").content.decode()
    assert "You manage no program yet" in page


@pytest.mark.parametrize(
    ("language", "word"),
    [("nb", "Henvist omsetning"), ("sv", "Värvade intäkter"), ("ro", "Venituri din recomandări"),
     ("zh-hans", "推荐收入")],
)  # fmt: skip
def test_the_dashboard_speaks_the_managers_language(client, manager, language, word):
    client.force_login(manager)
    page = client.get(f"/admin/?{MARCH}", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert word in page

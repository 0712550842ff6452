from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from tests.factories import enroll

from . import factories as f


def client_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_it_needs_a_secret_key(db, publishable_key):
    response = client_with(publishable_key).get("/api/v1/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "secret_key_required"
    assert APIClient().get("/api/v1/metrics").status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-13-01&to=2026-03-31",
        "from=yesterday",
        "from=2026-3-1",
        "from=&to=2026-03-01",
        "to=",
    ],
)
def test_bad_dates_are_a_json_400(api, query):
    response = api.get(f"/api/v1/metrics?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_period"


@pytest.mark.parametrize(
    "query",
    ["from=2026-04-01&to=2026-03-01", "from=2000-01-01&to=2026-03-01", "to=0001-01-05"],
)
def test_dates_that_make_no_period_are_a_json_422(api, query):
    response = api.get(f"/api/v1/metrics?{query}")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_period"


def test_an_unknown_segment_is_a_404(api):
    response = api.get("/api/v1/metrics?segment=nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_segment"


def test_an_outsider_sees_only_their_own_program(program, api, other_program):
    _, other_secret = other_program
    alice = enroll(program, "alice@example.com")
    f.click(alice.links.get(), datetime(2026, 3, 3, tzinfo=UTC))
    f.backfilled_order(program, "h1", 1000, datetime(2026, 3, 3, tzinfo=UTC), external_id="c1")
    query = "/api/v1/metrics?from=2026-03-01&to=2026-03-31"
    mine = api.get(query).json()
    assert mine["funnel"]["clicks"] == 1
    assert mine["customers"]["new"] == 1
    theirs = client_with(other_secret).get(query).json()
    assert theirs["currency"] == "USD"
    assert theirs["funnel"]["clicks"] == 0
    assert theirs["customers"] == {"start": 0, "end": 0, "new": 0}
    assert theirs["retention_rate"] is None and theirs["churn_rate"] is None
    assert theirs["clv"] == {
        "referred": None,
        "non_referred": None,
        "advocates": None,
        "non_advocates": None,
    }


def test_breakdowns_by_day_advocate_and_channel(program, api):
    alice = enroll(program, "alice@example.com")
    f.click(alice.links.get(), datetime(2026, 3, 3, tzinfo=UTC), "email")
    f.click(alice.links.get(), datetime(2026, 3, 4, tzinfo=UTC), "email")
    query = "?from=2026-03-03&to=2026-03-04"
    days = api.get(f"/api/v1/metrics/by/day{query}").json()["results"]
    assert [(d["day"], d["clicks"]) for d in days] == [("2026-03-03", 1), ("2026-03-04", 1)]
    advocates = api.get(f"/api/v1/metrics/by/advocate{query}").json()["results"]
    assert [(a["advocate_id"], a["clicks"]) for a in advocates] == [(alice.pk, 2)]
    channels = api.get(f"/api/v1/metrics/by/channel{query}").json()["results"]
    assert [(c["channel"], c["clicks"]) for c in channels] == [("email", 2)]
    assert api.get(f"/api/v1/metrics/by/planet{query}").status_code == 404

""" "Referred by a friend?": privacy-safe matches, opted-in advocates only, rate-limited."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from advocacy.models import Advocate
from advocacy.services import advocate_enroll, advocate_set_status
from storefront.services import advocate_findable_set


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def browser_api(publishable_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    return client


@pytest.fixture
def people(program, other_program):
    def make(email, name, program=program, findable=True, city="", show_city=False):
        advocate, _ = advocate_enroll(program=program, email=email, name=name)
        if findable:
            advocate_findable_set(advocate=advocate, findable=True, city=city, show_city=show_city)
        return advocate

    return {
        "jane": make("jane.doe@example.com", "Jane Doe", city="Bergen", show_city=True),
        "janet": make("janet@example.com", "Janet Smith", city="Oslo"),
        "jan": make("jan.hidden@example.com", "Jan Hidden", findable=False),
        "outsider": make("jane.o@example.org", "Jane Other", program=other_program[0]),
    }


def _lookup(api, q):
    return api.post("/api/v1/advocate-lookup", {"q": q}, format="json")


def test_it_finds_opted_in_advocates_of_this_program_by_first_or_last_name(browser_api, people):
    body = _lookup(browser_api, "jan").json()
    assert body == {
        "results": [
            {"name": "Jane D.", "city": "Bergen", "referral_code": people["jane"].links.get().code},
            {"name": "Janet S.", "city": "", "referral_code": people["janet"].links.get().code},
        ]
    }
    assert [r["name"] for r in _lookup(browser_api, "smi").json()["results"]] == ["Janet S."]


def test_advocates_who_did_not_opt_in_or_are_paused_are_never_found(browser_api, people):
    assert _lookup(browser_api, "hidden").json() == {"results": []}
    advocate_set_status(advocate=people["jane"], status=Advocate.Status.PAUSED)
    assert [r["name"] for r in _lookup(browser_api, "jane").json()["results"]] == ["Janet S."]


def test_no_email_is_ever_echoed(browser_api, people):
    for q in ["jane.doe@example.com", "jane", "example.com", "doe"]:
        text = _lookup(browser_api, q).content.decode()
        assert "@" not in text and "example.com" not in text and "Doe" not in text
    # A whole email finds its (opted-in) owner, shown like any match; a part of one finds nobody.
    assert _lookup(browser_api, "JANE.DOE@example.com").json()["results"][0]["name"] == "Jane D."
    assert _lookup(browser_api, "jane.doe@exam").json() == {"results": []}


def test_it_needs_three_characters(browser_api, people):
    response = _lookup(browser_api, "ja")
    assert response.status_code == 400
    assert "q" in response.json()["error"]["fields"]


def test_it_is_rate_limited_with_retry_after(browser_api, people):
    for _ in range(20):
        assert _lookup(browser_api, "jane").status_code == 200
    response = _lookup(browser_api, "jane")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "Jane" not in response.content.decode()


def test_a_secret_key_is_not_needed_but_a_key_is(client, people):
    assert client.post("/api/v1/advocate-lookup", {"q": "jane"}).status_code == 401

"""The post-purchase share prompt's API: shown once per buyer per N days, one-click enrolment."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from advocacy.models import Advocate, TermsAcceptance
from storefront.models import PlacementEvent
from storefront.signing import widget_params


@pytest.fixture
def browser_api(publishable_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    return client


def _token(program, email="buyer@example.com", **kwargs) -> str:
    """What the merchant's server hands its confirmation page: the widget's signed query."""
    return urlencode(widget_params(program=program, email=email, **kwargs))


def _open(api, token, **body):
    return api.post("/api/v1/post-purchase", {"token": token, **body}, format="json")


def _enrol(api, token, **body):
    return api.post("/api/v1/post-purchase/enrol", {"token": token, **body}, format="json")


def test_a_new_buyer_is_invited_and_the_impression_counted(browser_api, program):
    body = _open(browser_api, _token(program, name="Berit Buyer")).json()
    assert body["show"] is True
    assert "Get my link" in body["html"]
    assert 'role="dialog"' in body["html"] and 'aria-modal="true"' in body["html"]
    assert "referral_url" not in body  # not an advocate yet: nothing to share
    assert not Advocate.objects.filter(email="buyer@example.com").exists()
    event = PlacementEvent.objects.get()
    assert (event.kind, event.placement, event.advocate_id) == ("impression", "post_purchase", None)


def test_it_shows_at_most_once_per_buyer_in_the_programs_days(browser_api, program):
    program.prompt_every_days = 7
    program.save()
    assert _open(browser_api, _token(program)).json()["show"] is True
    assert _open(browser_api, _token(program, email="BUYER@example.com")).json() == {"show": False}
    assert _open(browser_api, _token(program, email="other@example.com")).json()["show"] is True
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        assert _open(browser_api, _token(program, ttl_seconds=3600)).json()["show"] is True
    assert PlacementEvent.objects.filter(kind="impression").count() == 3


def test_one_click_enrols_the_buyer_with_the_terms_and_gives_their_link(browser_api, program):
    program.terms, program.terms_version = "Be nice.", "2026-01"
    program.save()
    token = _token(program, name="Berit Buyer")
    refused = _enrol(browser_api, token)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "terms_not_accepted"
    assert not Advocate.objects.filter(email="buyer@example.com").exists()

    body = _enrol(browser_api, token, accepted_terms="2026-01", findable=True).json()
    advocate = Advocate.objects.get(email="buyer@example.com")
    code = advocate.links.get().code
    assert (advocate.status, advocate.name, advocate.findable) == ("active", "Berit Buyer", True)
    assert TermsAcceptance.objects.filter(advocate=advocate, version="2026-01").exists()
    assert body["referral_code"] == code
    assert body["referral_url"] == f"http://testserver/r/{code}?p=post_purchase"
    html = body["html"]
    assert f'value="http://testserver/r/{code}?p=post_purchase"' in html
    assert "<svg" in html  # the QR code
    assert f"r%2F{code}%3Fp%3Dpost_purchase%26ch%3Dwhatsapp" in html
    assert "data-event-token=" in html


def test_an_advocate_already_gets_their_link_straight_away(browser_api, program, advocate):
    body = _open(browser_api, _token(program, email="alice@example.com")).json()
    assert body["referral_code"] == advocate.links.get().code
    assert PlacementEvent.objects.get().advocate_id == advocate.pk


def test_a_tampered_or_expired_identity_is_refused(browser_api, program):
    token = _token(program).replace("buyer%40", "thief%40")
    response = _open(browser_api, token)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "invalid_signature")
    expired = _token(program, ttl_seconds=-10)
    assert _enrol(browser_api, expired).status_code == 403
    assert not Advocate.objects.filter(
        email__in=["thief@example.com", "buyer@example.com"]
    ).exists()


def test_it_speaks_the_buyers_language(browser_api, program):
    html = _open(browser_api, _token(program), language="nb").json()["html"]
    assert "Få lenken min" in html
    assert 'lang="nb"' in html


def test_another_sites_page_cannot_use_the_publishable_key(browser_api, program):
    response = browser_api.post(
        "/api/v1/post-purchase",
        {"token": _token(program)},
        format="json",
        HTTP_ORIGIN="https://evil.example.net",
    )
    assert response.status_code == 403
    assert not PlacementEvent.objects.exists()

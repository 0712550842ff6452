"""The publishable key can do only what a visitor's browser does."""

import pytest
from rest_framework.test import APIClient

from referrals.models import Conversion, Referral
from rewards.models import Reward


@pytest.fixture
def browser(publishable_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    return client


def _click(code):
    response = APIClient().get(f"/r/{code}")
    return response["Location"].split("click=")[1].split("&")[0]


def _sign_up(browser, email, **ref):
    return browser.post("/api/v1/referrals", {"friend": {"email": email}, **ref}, format="json")


def test_a_sign_up_without_a_click_is_unverified_and_earns_nothing(browser, api, link):
    response = _sign_up(browser, "organic@example.com", referral_code=link.code)
    assert (response.status_code, response.json()) == (202, {"accepted": True})
    referral = Referral.objects.get(friend_email="organic@example.com")
    assert referral.verified is False
    assert not Reward.objects.filter(referral=referral).exists()
    # The merchant's next order for that customer, without a referral: not attributed.
    bought = api.post(
        "/api/v1/conversions",
        {"order_id": "ORG-1", "amount": "50.00", "currency": "EUR",
         "customer": {"email": "organic@example.com"}},
        format="json",
    )  # fmt: skip
    assert bought.status_code == 201
    assert bought.json()["attributed"] is False
    assert not Reward.objects.filter(recipient="advocate").exists()


def test_a_sign_up_with_a_click_on_the_link_is_verified(browser, link):
    response = _sign_up(browser, "friend@example.com", click_id=_click(link.code))
    assert response.status_code == 202
    assert response.json()["friend_reward"]["percent_off"] == 10
    assert Referral.objects.get(friend_email="friend@example.com").verified is True


def test_an_unverified_claim_yields_to_the_advocate_who_really_referred(
    browser, api, link, program
):
    from advocacy.services import advocate_enroll

    # Mallory registers a stranger's email under her own code, from a script.
    mallory, _ = advocate_enroll(program=program, email="mallory@example.com")
    _sign_up(browser, "stranger@example.com", referral_code=mallory.links.get().code)
    # The stranger then buys through Jane's link, as the merchant's server reports.
    bought = api.post(
        "/api/v1/conversions",
        {"order_id": "S-1", "amount": "80.00", "currency": "EUR",
         "customer": {"email": "stranger@example.com"}, "referral_code": link.code},
        format="json",
    )  # fmt: skip
    assert bought.json()["attributed"] is True
    assert bought.json()["advocate_id"] == link.advocate_id
    referral = Referral.objects.get(friend_email="stranger@example.com")
    assert (referral.advocate_id, referral.verified) == (link.advocate_id, True)
    assert Conversion.objects.get().referral == referral


def test_the_answer_never_tells_whether_an_email_was_referred_or_bought(browser, api, link):
    api.post(
        "/api/v1/referrals", {"referral_code": link.code, "friend": {"email": "k@example.com"}},
        format="json",
    )  # fmt: skip
    api.post(
        "/api/v1/conversions",
        {"order_id": "K-1", "amount": "80.00", "currency": "EUR",
         "customer": {"email": "k@example.com"}, "referral_code": link.code},
        format="json",
    )  # fmt: skip
    known = _sign_up(browser, "k@example.com", referral_code=link.code)
    unknown = _sign_up(browser, "nobody@example.com", referral_code=link.code)
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert "converted" not in known.content.decode()

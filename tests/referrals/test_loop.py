"""The whole referral loop over HTTP: enroll, click, sign up, buy, mature, refund."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from rewards.models import LedgerEntry, Reward
from rewards.tasks import mature_rewards


def test_the_referral_loop_end_to_end(api, program):
    enrolled = api.post(
        "/api/v1/advocates", {"email": "Alice@Example.com", "name": "Alice"}, format="json"
    )
    assert enrolled.status_code == 201, enrolled.content
    advocate = enrolled.json()
    assert advocate["status"] == "active"
    assert advocate["referral_url"] == f"http://testserver/r/{advocate['referral_code']}"

    # A friend clicks the shared link.
    browser = APIClient()
    clicked = browser.get(f"/r/{advocate['referral_code']}?ch=whatsapp")
    assert clicked.status_code == 302
    landing = urlsplit(clicked["Location"])
    assert landing.netloc == "shop.example.com"
    params = parse_qs(landing.query)
    assert params["ref"] == [advocate["referral_code"]]
    click_id = params["click"][0]

    signed_up = api.post(
        "/api/v1/referrals",
        {"click_id": click_id, "friend": {"email": "bob@example.com"}},
        format="json",
    )
    assert signed_up.status_code == 201, signed_up.content
    assert signed_up.json()["friend_reward"]["percent_off"] == 10

    bought = api.post(
        "/api/v1/conversions",
        {
            "order_id": "A-100",
            "amount": "80.00",
            "currency": "EUR",
            "customer": {"email": "bob@example.com"},
            "click_id": click_id,
        },
        format="json",
    )
    assert bought.status_code == 201, bought.content
    conversion = bought.json()
    assert conversion["attributed"] is True
    assert conversion["attribution"]["method"] == "click"
    assert conversion["advocate_id"] == advocate["id"]
    assert conversion["referral_id"] == signed_up.json()["id"]
    assert [(r["amount"], r["status"]) for r in conversion["rewards"]] == [("10.00", "pending")]

    detail = api.get(f"/api/v1/advocates/{advocate['id']}").json()
    assert detail["stats"] == {"clicks": 1, "referrals": 1, "conversions": 1}
    assert detail["balances"]["cash"] == {
        "EUR": {"pending": "10.00", "available": "0.00", "paid": "0.00"}
    }

    # After the hold period the beat task makes the reward available.
    with time_machine.travel(timezone.now() + timedelta(days=program.hold_days, minutes=1)):
        assert mature_rewards.delay().get() == 1
        assert mature_rewards.delay().get() == 0  # a second run changes nothing
    detail = api.get(f"/api/v1/advocates/{advocate['id']}").json()
    assert detail["balances"]["cash"]["EUR"] == {
        "pending": "0.00",
        "available": "10.00",
        "paid": "0.00",
    }

    refunded = api.post("/api/v1/conversions/A-100/refunds", {}, format="json")
    assert refunded.status_code == 201
    assert refunded.json()["status"] == "refunded"
    assert refunded.json()["rewards"][0]["status"] == "reversed"
    detail = api.get(f"/api/v1/advocates/{advocate['id']}").json()
    assert detail["balances"]["cash"]["EUR"]["available"] == "0.00"
    assert list(
        LedgerEntry.objects.order_by("pk").values_list("kind", "bucket", "amount_minor")
    ) == [
        ("reward_issued", "pending", 1000),
        ("reward_matured", "pending", -1000),
        ("reward_matured", "available", 1000),
        ("reward_reversed", "available", -1000),
    ]


def test_a_second_purchase_by_the_same_friend_earns_nothing_more(api, link):
    for order in ("B-1", "B-2"):
        response = api.post(
            "/api/v1/conversions",
            {
                "order_id": order,
                "amount": "20.00",
                "currency": "EUR",
                "customer": {"email": "carol@example.com"},
                "referral_code": link.code,
            },
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["attributed"] is True
    assert Reward.objects.count() == 1


def test_zero_hold_days_makes_the_reward_available_at_once(
    api, program, link, django_capture_on_commit_callbacks
):
    program.hold_days = 0
    program.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/conversions",
            {
                "order_id": "Z-1",
                "amount": "20.00",
                "currency": "EUR",
                "customer": {"email": "dan@example.com"},
                "referral_code": link.code,
            },
            format="json",
        )
    assert response.status_code == 201
    reward = Reward.objects.get()
    assert reward.status == Reward.Status.AVAILABLE

import json

import pytest

from core.normalize import mask_email
from privacy.services import account_export
from rewards.models import Payout, Reward
from rewards.services import program_create_with_offer
from tests.factories import enroll
from tests.portal.helpers import add_click, add_entry, add_purchase, add_referral


def _reward(advocate, amount_minor=1000, **kwargs):
    from django.utils import timezone

    defaults = {
        "program": advocate.program,
        "advocate": advocate,
        "amount_minor": amount_minor,
        "currency": "EUR",
        "reason": "Friend's purchase",
        "idempotency_key": f"test-reward:{advocate.pk}:{amount_minor}:{kwargs}",
        "available_at": timezone.now(),
    }
    defaults.update(kwargs)
    return Reward.objects.create(**defaults)


@pytest.fixture
def alice_data(alice, advocate, bob_advocate):
    add_referral(advocate, "friend.one@example.net")
    add_click(advocate)
    add_click(advocate)
    add_click(bob_advocate)
    add_purchase(advocate, "order-alice-1")
    add_purchase(bob_advocate, "order-bob-1")
    _reward(advocate, 1000)
    _reward(advocate, 500, recipient=Reward.Recipient.FRIEND, coupon_code="FRIEND-SECRET")
    add_entry(advocate, 1000, memo="Alice bonus")
    add_entry(bob_advocate, 777, memo="Bob bonus")
    Payout.objects.create(
        program=advocate.program,
        advocate=advocate,
        amount_minor=1000,
        currency="EUR",
        status=Payout.Status.PAID,
        stripe_account_id="acct_alice",
    )
    return advocate


def test_it_downloads_the_users_data_as_a_json_attachment(alice_client, alice_data):
    response = alice_client.get("/account/data.json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == 'attachment; filename="my-data.json"'
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["account"]["email"] == "alice@example.com"
    assert data["account"]["date_joined"]
    [acme] = data["advocates"]
    assert acme["program"]["slug"] == alice_data.program.slug
    assert acme["status"] == "active"
    assert [c["code"] for c in acme["referral_codes"]] == [alice_data.links.get().code]
    assert acme["clicks_count"] == 2
    assert [c["order_id"] for c in acme["conversions"]] == ["order-alice-1"]
    assert acme["conversions"][0]["amount_minor"] == 5000
    assert [r["amount_minor"] for r in acme["rewards"]] == [1000]
    assert [e["memo"] for e in acme["ledger_entries"]] == ["Alice bonus"]
    assert [p["amount_minor"] for p in acme["payouts"]] == [1000]
    assert acme["redemptions"] == []


def test_it_masks_friends_and_leaves_out_other_peoples_data(alice_client, alice_data):
    body = alice_client.get("/account/data.json").content.decode()

    data = json.loads(body)
    assert data["advocates"][0]["referrals"][0]["friend_email"] == "f***@e***.net"
    for other_people in ("friend.one", "bob", "order-bob-1", "Bob bonus", "FRIEND-SECRET"):
        assert other_people not in body


def test_it_needs_a_login(client, db):
    response = client.get("/account/data.json")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_outsider_gets_an_empty_export(charlie_client, alice_data):
    data = json.loads(charlie_client.get("/account/data.json").content)

    assert data["account"]["email"] == "charlie@example.com"
    assert data["advocates"] == []


def test_the_export_takes_a_fixed_number_of_queries(alice, alice_data, django_assert_num_queries):
    with django_assert_num_queries(8):
        account_export(alice)
    second, _, _ = program_create_with_offer(
        name="Second", landing_url="https://second.example.com/"
    )
    other = enroll(second, "alice@example.com", user=alice)
    add_referral(other, "friend.two@example.net")
    add_entry(other, 300)
    with django_assert_num_queries(8):
        data = account_export(alice)
    assert len(data["advocates"]) == 2


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane@example.com", "j***@e***.com"),
        ("x@localhost", "x***@l***"),
        ("", ""),
        ("not-an-email", "***"),
    ],
)
def test_it_masks_email_addresses(email, masked):
    assert mask_email(email) == masked


def test_it_exports_the_name_lookup_choice_and_the_city(alice_client, alice_data):
    from storefront.services import advocate_findable_set

    advocate_findable_set(advocate=alice_data, findable=True, city="Bergen", show_city=True)
    [acme] = json.loads(alice_client.get("/account/data.json").content)["advocates"]
    assert (acme["city"], acme["findable"], acme["findable_show_city"]) == ("Bergen", True, True)

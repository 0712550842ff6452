"""Who gets the credit for a purchase, and why not when nobody does."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from advocacy.models import Advocate
from advocacy.services import advocate_set_status
from referrals.models import Click, Conversion, Referral
from referrals.services import click_record
from rewards.models import Reward
from tests.factories import enroll
from tests.helpers import post_conversion


def test_a_click_id_wins_over_a_referral_code_and_a_coupon(api, program, link):
    other = enroll(program, "olga@example.com")
    click_id = click_record(link=link)
    body = post_conversion(
        api,
        click_id=str(click_id),
        referral_code=other.links.get().code,
        coupon_code=other.coupon_code,
    ).json()
    assert body["attribution"]["method"] == "click"
    assert body["advocate_id"] == link.advocate_id


def test_a_referral_code_wins_over_a_coupon(api, program, link):
    other = enroll(program, "olga@example.com")
    body = post_conversion(api, referral_code=link.code, coupon_code=other.coupon_code).json()
    assert body["attribution"]["method"] == "referral_code"
    assert body["advocate_id"] == link.advocate_id


def test_an_advocates_coupon_code_attributes_the_purchase(api, advocate):
    body = post_conversion(api, coupon_code=advocate.coupon_code.lower()).json()
    assert body["attributed"] is True
    assert body["attribution"]["method"] == "coupon"
    assert body["advocate_id"] == advocate.pk


def test_a_shop_coupon_that_is_no_advocates_code_is_not_an_error(api, advocate):
    response = post_conversion(api, coupon_code="SUMMER10")
    assert response.status_code == 201
    assert response.json()["attributed"] is False


def test_a_friend_who_signed_up_through_a_link_is_attributed_later_without_a_code(
    api, link, advocate
):
    api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "bob@example.com"}},
        format="json",
    )
    body = post_conversion(api, customer={"email": "Bob@Example.com"}).json()
    assert body["attributed"] is True
    assert body["attribution"]["method"] == "referred_customer"
    assert Reward.objects.get(recipient="advocate").advocate == advocate


def test_an_unattributed_order_is_still_recorded(api, advocate):
    response = post_conversion(api)
    assert response.status_code == 201
    body = response.json()
    assert body["attributed"] is False
    assert body["rewards"] == []
    assert "advocate_id" not in body
    assert Conversion.objects.get().attribution_method == "none"


@pytest.mark.parametrize(
    "customer",
    [
        {"email": "Alice+shop@example.com"},
        {"email": "ALICE@example.com"},
        {"external_id": "cust-alice"},
    ],
)
def test_a_self_referral_is_recorded_but_never_rewarded(api, link, customer):
    response = post_conversion(api, referral_code=link.code, customer=customer)
    assert response.status_code == 201
    body = response.json()
    assert body["attributed"] is False
    assert "self-referral" in body["attribution"]["reason"]
    assert Reward.objects.count() == 0
    conversion = Conversion.objects.get()
    assert "self-referral" in conversion.attribution_reason


def test_gmail_dots_and_tags_do_not_hide_a_self_referral(api, program):
    gmail = enroll(program, "jane.doe@gmail.com")
    body = post_conversion(
        api,
        referral_code=gmail.links.get().code,
        customer={"email": "JaneDoe+promo@googlemail.com"},
    ).json()
    assert body["attributed"] is False
    assert Reward.objects.count() == 0


def test_a_self_referral_sign_up_is_rejected_with_its_reason(api, link):
    response = api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "a.l.i.c.e+x@example.com"}},
        format="json",
    )
    # Dots only count for Gmail: this address is someone else.
    assert response.json()["status"] == "signed_up"
    response = api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "alice+x@example.com"}},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "rejected"
    assert "self-referral" in response.json()["reason"]
    assert "friend_reward" not in response.json()


def test_a_click_older_than_the_window_is_not_rewarded(api, program, link):
    with time_machine.travel(timezone.now() - timedelta(days=program.attribution_window_days + 1)):
        click_id = click_record(link=link)
    body = post_conversion(api, click_id=str(click_id)).json()
    assert body["attributed"] is False
    assert "attribution window" in body["attribution"]["reason"]
    assert Reward.objects.count() == 0
    # The friend is not marked as referred: a fresh click can still earn the reward.
    assert Referral.objects.count() == 0
    fresh = click_record(link=link)
    body = post_conversion(api, order_id="order-2", click_id=str(fresh)).json()
    assert body["attributed"] is True


def test_a_click_inside_the_window_is_rewarded(api, program, link):
    with time_machine.travel(timezone.now() - timedelta(days=program.attribution_window_days - 1)):
        click_id = click_record(link=link)
    assert post_conversion(api, click_id=str(click_id)).json()["attributed"] is True


def test_the_first_advocate_keeps_a_referred_customer(api, program, link):
    api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "bob@example.com"}},
        format="json",
    )
    other = enroll(program, "olga@example.com")
    body = post_conversion(
        api, referral_code=other.links.get().code, customer={"email": "bob@example.com"}
    ).json()
    assert body["attributed"] is False
    assert "already referred" in body["attribution"]["reason"]
    assert not Reward.objects.filter(recipient="advocate").exists()


def test_a_paused_advocate_earns_nothing(api, advocate, link):
    advocate_set_status(advocate=advocate, status=Advocate.Status.PAUSED)
    body = post_conversion(api, referral_code=link.code).json()
    assert body["attributed"] is False
    assert "advocate is paused" in body["attribution"]["reason"]


def test_an_order_repeated_returns_the_original_and_rewards_once(api, link):
    first = post_conversion(api, referral_code=link.code)
    again = post_conversion(api, referral_code=link.code)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert Reward.objects.count() == 1


def test_an_idempotency_key_replays_the_first_answer(api, link):
    first = post_conversion(api, referral_code=link.code, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post_conversion(api, referral_code=link.code, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()


def test_clicks_are_counted_per_advocate(api, advocate, link):
    for _ in range(3):
        click_record(link=link, channel="email")
    assert Click.objects.filter(advocate=advocate).count() == 3
    stats = api.get(f"/api/v1/advocates/{advocate.pk}").json()["stats"]
    assert stats == {"clicks": 3, "referrals": 0, "conversions": 0}

"""The demo shop gives a referred buyer the friend's discount the platform grants."""

import re

import requests

from referrals.models import Conversion, Referral
from storefront import demo as demo_keys
from storefront import demo_shop


def test_the_discount_is_taken_off_in_cents():
    assert demo_shop.discounted("29.00", {"percent_off": 10}) == ("26.10", 10)
    assert demo_shop.discounted("14.90", {"percent_off": 15}) == ("12.66", 15)
    assert demo_shop.discounted("19.50", None) == ("19.50", 0)


def test_a_referred_buyer_signs_up_and_pays_the_discounted_price(demo, live_server):
    shop = requests.Session()
    checkout = f"{live_server.url}/demo-shop/checkout/wool-beanie/"
    page = shop.get(checkout, timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    receipt = shop.post(
        checkout,
        data={"csrfmiddlewaretoken": token, "email": "newfriend@example.com",
              "referral_code": demo_keys.DEMO_ADVOCATE_CODE, "referral_click": ""},
        headers={"Referer": checkout},
        timeout=30,
    )  # fmt: skip
    assert receipt.status_code == 200
    assert 'id="friend-discount"' in receipt.text and "€26.10" in receipt.text
    referral = Referral.objects.get(friend_email="newfriend@example.com")
    conversion = Conversion.objects.get(customer_email="newfriend@example.com")
    assert conversion.amount_minor == 2610 and conversion.attributed
    assert conversion.referral == referral
    friend_reward = referral.rewards.get(recipient="friend")
    assert friend_reward.coupon_percent_off == 10


def test_a_buyer_without_a_referral_pays_full_price(demo, live_server):
    shop = requests.Session()
    checkout = f"{live_server.url}/demo-shop/checkout/ceramic-mug/"
    token = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', shop.get(checkout, timeout=10).text
    ).group(1)
    receipt = shop.post(
        checkout,
        data={"csrfmiddlewaretoken": token, "email": "walkin@example.com"},
        headers={"Referer": checkout},
        timeout=30,
    )
    assert 'id="friend-discount"' not in receipt.text
    assert Conversion.objects.get(customer_email="walkin@example.com").amount_minor == 1490

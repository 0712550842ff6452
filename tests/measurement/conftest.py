"""The known dataset of the metrics tests (worked out by hand in test_metrics_known_dataset)."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from advocacy.models import Advocate
from measurement import services
from tests.factories import enroll

from . import factories as f


def at(month, day, hour=12, year=2026):
    return datetime(year, month, day, hour, tzinfo=UTC)


def post(api, path, body, when):
    with time_machine.travel(when, tick=False):
        response = api.post(path, body, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def refer(api, code, friend, when):
    return post(api, "/api/v1/referrals", {"referral_code": code, "friend": friend}, when)


def buy(api, order_id, amount, customer, when, **extra):
    body = {
        "order_id": order_id,
        "amount": amount,
        "currency": "EUR",
        "customer": customer,
        "occurred_at": when.isoformat(),
        **extra,
    }
    return post(api, "/api/v1/conversions", body, when)


def refund(api, order_id, when, amount=None):
    body = {"amount": amount} if amount else {}
    return post(api, f"/api/v1/conversions/{order_id}/refunds", body, when)


@pytest.fixture
def dataset(program, api):
    program.churn_after_days = 90
    program.save(update_fields=["churn_after_days"])

    # --- advocates. Alice joined in February, Bob in March (joined: 1), Carol was
    # only invited (status "invited": not joined, not an advocate).
    with time_machine.travel(at(2, 1), tick=False):
        alice = enroll(program, "alice@example.com", name="Alice", external_id="cust-alice")
    with time_machine.travel(at(3, 2), tick=False):
        bob = enroll(program, "bob@example.com", name="Bob")
    with time_machine.travel(at(3, 4), tick=False):
        carol = enroll(program, "carol@example.com", name="Carol")
    Advocate.objects.filter(pk=carol.pk).update(
        status=Advocate.Status.INVITED, invitation_sent_at=at(3, 4)
    )
    a_link, b_link = alice.links.get(), bob.links.get()

    # --- customers and their history (backfill: counted, never attributed).
    c2 = f.customer(program, "c2", "c2@example.com")
    c3 = f.customer(program, "c3", "c3@example.com")
    f.backfilled_order(program, "h-c1-1", 10000, at(10, 10, year=2025), external_id="c1")
    f.backfilled_order(program, "h-c1-2", 5000, at(2, 10), external_id="c1")
    f.backfilled_order(program, "h-c2-1", 8000, at(11, 15, year=2025), external_id="c2")
    f.backfilled_order(program, "h-c3-1", 6000, at(1, 20), external_id="c3")
    f.backfilled_order(program, "h-dora", 4000, at(12, 5, year=2025), email="Dora@Example.com")
    f.backfilled_order(program, "h-alice", 9000, at(1, 5), external_id="cust-alice")
    # Fully refunded: no customer c5. In dollars: left out, counted in excluded_orders.
    f.backfilled_order(program, "h-c5", 3000, at(2, 20), external_id="c5", refunded_minor=3000)
    f.backfilled_order(program, "h-c6", 2000, at(3, 5), external_id="c6", currency="USD")

    # --- invitations: two campaign emails in March, one in February (not counted),
    # plus Carol's older-style invitation on 4 March: invited = 3.
    campaign = f.invitation(program, c2, at(3, 1, 9)).campaign
    f.invitation(program, c3, at(3, 3), campaign)
    f.invitation(program, f.customer(program, "c9"), at(2, 27), campaign)

    # --- clicks: Alice 1 in February (outside), 3 in March; Bob 1 in March.
    f.click(a_link, at(2, 14), "email")
    f.click(a_link, at(3, 3, 8), "email")
    f.click(a_link, at(3, 5, 8), "email")
    f.click(a_link, at(3, 6, 8), "whatsapp")
    f.click(b_link, at(3, 10, 8), "email")

    # --- referrals and purchases through the API.
    refer(api, a_link.code, {"email": "f0@example.com", "external_id": "f0"}, at(2, 15))
    buy(api, "o-f0", "25.00", {"external_id": "f0"}, at(2, 16), referral_code=a_link.code)
    refer(api, a_link.code, {"email": "f1@example.com", "external_id": "f1"}, at(3, 3))
    buy(api, "o-f1", "120.00", {"external_id": "f1"}, at(3, 4), referral_code=a_link.code)
    refund(api, "o-f1", at(3, 20), "20.00")  # net 100.00; Alice's reward -1.66
    refer(api, a_link.code, {"email": "f2@example.com", "external_id": "f2"}, at(3, 5))
    buy(api, "o-f2", "50.00", {"external_id": "f2"}, at(3, 6), referral_code=a_link.code)
    refund(api, "o-f2", at(3, 7))  # whole order: it no longer counts, reward reversed
    refer(api, b_link.code, {"email": "f3@example.com", "external_id": "f3"}, at(3, 10))
    buy(api, "o-f3-1", "40.00", {"external_id": "f3"}, at(3, 12), referral_code=b_link.code)
    buy(api, "o-f3-2", "30.00", {"external_id": "f3"}, at(3, 25), referral_code=b_link.code)
    refer(api, a_link.code, {"email": "f4@example.com", "external_id": "f4"}, at(3, 28))
    buy(api, "o-f4", "45.00", {"external_id": "f4"}, at(4, 2), referral_code=a_link.code)
    # Not referred: c1 buys again, Erin (email only) buys for the first time.
    buy(api, "o-c1-3", "70.00", {"external_id": "c1"}, at(3, 10))
    buy(api, "o-erin", "35.00", {"email": "erin@example.com"}, at(3, 15))

    # --- NPS answers; each customer's latest in March counts.
    f.nps(program, 3, at(2, 10), external_id="c2")  # February: outside
    f.nps(program, 9, at(3, 2), external_id="c1")  # replaced by c1's later answer
    f.nps(program, 6, at(3, 20), external_id="c1")  # detractor
    f.nps(program, 10, at(3, 5), external_id="c3")  # promoter
    f.nps(program, 8, at(3, 15), external_id="f1")  # passive
    f.nps(program, 9, at(3, 16), external_id="cust-alice")  # promoter
    # Days are built as the hourly sweep would have built them while time passed.
    services.rollups_rebuild(program=program, start=date(2025, 10, 1), end=date(2026, 4, 30))
    return program

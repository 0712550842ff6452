"""Stripe-native attribution: Checkout, subscription invoices, refunds, disputes, cards."""

import json

import pytest

from integrations.models import StripeEvent
from integrations.tasks import process_pending_stripe_events
from referrals.models import Conversion, Referral
from rewards.models import Reward, RewardRule
from tests.fake_stripe import make_event, sign_payload

SECRET = "whsec_attribution"


@pytest.fixture
def stripe_event(client, program, django_capture_on_commit_callbacks):
    program.stripe_webhook_secret = SECRET
    program.save()

    def send(type, obj, **kwargs):
        event = make_event(type, obj, **kwargs)
        body = json.dumps(event).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/webhooks/stripe/{program.slug}/",
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign_payload(body, SECRET),
            )
        assert response.status_code == 200, response.content
        return StripeEvent.objects.get(id=event["id"])

    return send


def session(**overrides):
    obj = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "amount_total": 4990,
        "currency": "eur",
        "customer": "cus_friend",
        "customer_details": {"email": "friend@example.com"},
        "payment_intent": "pi_1",
        "metadata": {},
    }
    obj.update(overrides)
    return obj


def charge(**overrides):
    obj = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_1",
        "invoice": None,
        "amount": 4990,
        "amount_refunded": 0,
        "payment_method_details": {"card": {"fingerprint": "fp_friend"}},
    }
    obj.update(overrides)
    return obj


def test_a_checkout_with_the_referral_in_client_reference_id_is_a_conversion(
    stripe_event, link, client
):
    click = client.get(f"/r/{link.code}")["Location"].split("click=")[1]
    event = stripe_event(
        "checkout.session.completed", session(client_reference_id=f"{link.code}.{click}")
    )
    assert event.result == "conversion pi_1 attributed"
    conversion = Conversion.objects.get()
    assert (conversion.order_id, conversion.amount_minor, conversion.currency) == (
        "pi_1",
        4990,
        "EUR",
    )
    assert (conversion.attribution_method, conversion.source) == ("click", "stripe")
    assert Reward.objects.filter(recipient="advocate").count() == 1


def test_the_referral_can_come_in_metadata(stripe_event, link):
    stripe_event("checkout.session.completed", session(metadata={"referral_code": link.code}))
    assert Conversion.objects.get().attribution_method == "referral_code"


def test_a_stale_referral_code_still_records_the_sale(stripe_event, link):
    event = stripe_event("checkout.session.completed", session(client_reference_id="NOPE"))
    assert event.result == "conversion pi_1 not attributed"
    assert Conversion.objects.count() == 1


def test_the_same_event_twice_and_a_second_event_for_the_same_order_count_once(stripe_event, link):
    obj = session(client_reference_id=link.code)
    stripe_event("checkout.session.completed", obj)
    second = stripe_event("checkout.session.completed", obj)
    assert second.result.endswith("(already recorded)")
    assert Conversion.objects.count() == 1
    assert Reward.objects.filter(recipient="advocate").count() == 1


def test_subscription_invoices_are_recurring_conversions(stripe_event, program, link):
    program.reward_rules.all().delete()
    RewardRule.objects.create(
        program=program,
        name="Monthly",
        trigger="every_purchase",
        recipient="advocate",
        kind="commission",
        percent=10,
        max_purchases=12,
    )
    stripe_event(
        "checkout.session.completed",
        session(
            mode="subscription",
            subscription="sub_1",
            client_reference_id=link.code,
            amount_total=1500,
            payment_intent=None,
        ),
    )
    referral = Referral.objects.get()
    assert referral.friend_external_id == "cus_friend"
    for n in range(1, 4):
        stripe_event(
            "invoice.paid",
            {
                "id": f"in_{n}",
                "object": "invoice",
                "customer": "cus_friend",
                "amount_paid": 1500,
                "currency": "eur",
                "subscription": "sub_1",
                "billing_reason": "subscription_create" if n == 1 else "subscription_cycle",
                "customer_email": "friend@example.com",
            },
        )
    conversions = Conversion.objects.order_by("order_id")
    assert [c.order_id for c in conversions] == ["in_1", "in_2", "in_3"]
    assert all(c.attributed for c in conversions)
    assert [r.amount_minor for r in Reward.objects.order_by("pk")] == [150, 150, 150]


def test_a_first_invoice_before_its_checkout_waits_for_it(stripe_event, link, db):
    first_invoice = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_friend",
        "amount_paid": 1500,
        "currency": "eur",
        "billing_reason": "subscription_create",
    }
    event = stripe_event("invoice.paid", first_invoice)  # answered 200, processing deferred
    assert event.processed_at is None  # kept for a retry, nothing recorded
    assert Conversion.objects.count() == 0
    stripe_event(
        "checkout.session.completed",
        session(
            mode="subscription",
            subscription="sub_1",
            client_reference_id=link.code,
            payment_intent=None,
        ),
    )
    StripeEvent.objects.filter(pk=event.pk).update(received_at=event.received_at.replace(year=2020))
    process_pending_stripe_events.delay()
    assert Conversion.objects.get(order_id="in_1").attributed is True


def test_refunds_follow_stripes_cumulative_amount_in_any_order(stripe_event, link):
    stripe_event("checkout.session.completed", session(client_reference_id=link.code))
    stripe_event("charge.refunded", charge(amount_refunded=4990))
    stripe_event("charge.refunded", charge(amount_refunded=1000))  # older event, late
    conversion = Conversion.objects.get()
    assert (conversion.refunded_minor, conversion.status) == (4990, "refunded")
    assert Reward.objects.get(recipient="advocate").status == "reversed"


def test_a_dispute_reverses_the_rewards(stripe_event, link):
    stripe_event("checkout.session.completed", session(client_reference_id=link.code))
    stripe_event(
        "charge.dispute.created",
        {"id": "dp_1", "object": "dispute", "payment_intent": "pi_1", "charge": "ch_1"},
    )
    assert Reward.objects.get(recipient="advocate").status == "reversed"


def test_a_friend_paying_with_the_advocates_card_is_a_self_referral(stripe_event, link, advocate):
    # The advocate once bought with their own card.
    stripe_event(
        "charge.succeeded",
        charge(
            id="ch_own",
            payment_intent="pi_own",
            payment_method_details={"card": {"fingerprint": "fp_alice"}},
        ),
    )
    stripe_event(
        "checkout.session.completed",
        session(
            id="cs_own",
            payment_intent="pi_own",
            customer="cus_alice",
            customer_details={"email": advocate.email},
        ),
    )
    # A "friend" checks out with the same card: the charge may come before or after.
    stripe_event(
        "checkout.session.completed",
        session(id="cs_2", payment_intent="pi_2", client_reference_id=link.code),
    )
    assert Conversion.objects.get(order_id="pi_2").attributed is True
    event = stripe_event(
        "charge.succeeded",
        charge(
            id="ch_2",
            payment_intent="pi_2",
            payment_method_details={"card": {"fingerprint": "fp_alice"}},
        ),
    )
    assert "own card" in event.result
    conversion = Conversion.objects.get(order_id="pi_2")
    assert conversion.attributed is False
    assert "own card" in conversion.attribution_reason
    assert Reward.objects.get(recipient="advocate").status == "reversed"
    # Charge first, checkout second: never rewarded at all.
    stripe_event(
        "charge.succeeded",
        charge(
            id="ch_3",
            payment_intent="pi_3",
            payment_method_details={"card": {"fingerprint": "fp_alice"}},
        ),
    )
    stripe_event(
        "checkout.session.completed",
        session(
            id="cs_3",
            payment_intent="pi_3",
            customer="cus_x",
            customer_details={"email": "x@example.com"},
            client_reference_id=link.code,
        ),
    )
    assert Conversion.objects.get(order_id="pi_3").attributed is False


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        (10**20, "exceeds the maximum"),
        # A float on SQLite; PostgreSQL's jsonb hands the same JSON number back as an int.
        (1e20, "is not an integer|exceeds the maximum"),
        ("4990", "is not an integer"),
    ],
)
def test_an_absurd_amount_is_rejected_once_with_its_reason_not_retried_forever(
    stripe_event, link, amount, why
):
    event = stripe_event(
        "checkout.session.completed", session(amount_total=amount, client_reference_id=link.code)
    )
    assert event.processed_at is not None
    assert event.result.startswith("rejected:")
    assert any(reason in event.result for reason in why.split("|")), event.result
    assert not Conversion.objects.exists()
    # The sweep leaves it alone.
    assert process_pending_stripe_events() == 0


def test_an_order_in_another_currency_is_recorded_but_earns_nothing(stripe_event, link):
    event = stripe_event(
        "checkout.session.completed", session(currency="usd", client_reference_id=link.code)
    )
    conversion = Conversion.objects.get()
    assert (conversion.currency, conversion.attributed) == ("USD", True)
    assert event.result == "conversion pi_1 attributed"
    assert not Reward.objects.filter(recipient="advocate").exists()

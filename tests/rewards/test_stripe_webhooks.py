"""``POST /webhooks/stripe/<program>/``: Stripe's signature, once per event, any order."""

import json
import time

import pytest

from integrations.models import StripeEvent
from rewards import payouts
from rewards.ledger import balances
from rewards.models import Payout, PayoutAccount
from tests.fake_stripe import make_event, sign_payload
from tests.rewards.test_payouts import earn, run_payouts

SECRET = "whsec_test_secret"


@pytest.fixture
def webhook(client, program, django_capture_on_commit_callbacks):
    program.stripe_webhook_secret = SECRET
    program.save()

    def post(event, secret=SECRET, timestamp=None, signature=None):
        body = json.dumps(event).encode()
        header = signature or sign_payload(body, secret, timestamp)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/webhooks/stripe/{program.slug}/",
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )

    return post


@pytest.fixture
def account(fake_stripe, advocate):
    payouts.payout_account_onboarding_url(
        advocate=advocate, refresh_url="http://testserver/", return_url="http://testserver/"
    )
    return PayoutAccount.objects.get(advocate=advocate)


def test_account_updated_refreshes_from_stripe_not_from_the_payload(webhook, fake_stripe, account):
    fake_stripe.onboard(account.stripe_account_id)
    # The payload claims payouts are off; Stripe's current state says on.
    stale = {"id": account.stripe_account_id, "object": "account", "payouts_enabled": False}
    response = webhook(make_event("account.updated", stale))
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False, "type": "account.updated"}
    account.refresh_from_db()
    assert account.payouts_enabled is True
    event = StripeEvent.objects.get()
    assert event.processed_at is not None
    assert event.result == "payouts_enabled=True"


def test_an_event_delivered_twice_is_processed_once(webhook, fake_stripe, account):
    event = make_event("account.updated", {"id": account.stripe_account_id})
    assert webhook(event).json()["duplicate"] is False
    assert webhook(event).json()["duplicate"] is True
    assert StripeEvent.objects.count() == 1
    assert len(fake_stripe.requests_to(f"/v1/accounts/{account.stripe_account_id}", "GET")) == 1


def test_events_out_of_order_leave_the_current_state(webhook, fake_stripe, account):
    fake_stripe.onboard(account.stripe_account_id)
    newer = make_event("account.updated", {"id": account.stripe_account_id}, created=2_000)
    older = make_event("account.updated", {"id": account.stripe_account_id}, created=1_000)
    webhook(newer)
    webhook(older)
    account.refresh_from_db()
    assert account.payouts_enabled is True


@pytest.mark.parametrize(
    "tamper",
    ["wrong-secret", "old-timestamp", "no-signature", "altered-body"],
)
def test_bad_signatures_are_refused_and_store_nothing(webhook, client, program, tamper):
    event = make_event("account.updated", {"id": "acct_x"})
    if tamper == "wrong-secret":
        response = webhook(event, secret="whsec_other")
    elif tamper == "old-timestamp":
        response = webhook(event, timestamp=int(time.time()) - 3600)  # a replay
    elif tamper == "no-signature":
        response = webhook(event, signature="garbage")
    else:
        body = json.dumps(event).encode()
        header = sign_payload(body, SECRET)
        response = client.post(
            f"/webhooks/stripe/{program.slug}/",
            body.replace(b"acct_x", b"acct_y"),
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert StripeEvent.objects.count() == 0


def test_unknown_event_types_are_acknowledged_and_ignored(webhook):
    response = webhook(make_event("customer.created", {"id": "cus_1"}))
    assert response.status_code == 200
    assert StripeEvent.objects.get().result == "ignored"


def test_a_program_without_a_secret_refuses_webhooks(client, program):
    response = client.post(
        f"/webhooks/stripe/{program.slug}/", b"{}", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_not_configured"


def test_a_reversed_transfer_returns_the_money(webhook, fake_stripe, account, advocate):
    fake_stripe.onboard(account.stripe_account_id)
    payouts.payout_account_refresh(account=account)
    earn(advocate, 3000)
    run_payouts()
    payout = Payout.objects.get()
    transfer = {"id": payout.stripe_transfer_id, "object": "transfer"}
    # Claimed reversed, but not reversed at Stripe: ignored.
    webhook(make_event("transfer.reversed", transfer))
    payout.refresh_from_db()
    assert payout.status == "paid"
    from rewards import stripe_gateway

    stripe_gateway.client().v1.transfers.reversals.create(payout.stripe_transfer_id)
    webhook(make_event("transfer.reversed", transfer))
    payout.refresh_from_db()
    assert payout.status == "reversed"
    assert balances(advocate=advocate)["cash"]["EUR"]["available"] == 3000
    assert balances(advocate=advocate)["cash"]["EUR"]["paid"] == 0


def test_an_event_another_worker_is_processing_is_left_to_it(
    webhook, fake_stripe, account, client, program
):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.stripe_inbound import stripe_event_process, stripe_event_store

    fake_stripe.onboard(account.stripe_account_id)
    event = make_event("account.updated", {"id": account.stripe_account_id})
    stored, _ = stripe_event_store(program=program, event=event)  # its task never ran here
    StripeEvent.objects.filter(pk=stored.pk).update(
        claimed_until=timezone.now() + timedelta(minutes=1)
    )
    assert stripe_event_process(event_id=stored.pk) == "in-progress"
    account.refresh_from_db()
    assert account.payouts_enabled is False
    # The claim expires (the worker died): the next run processes it.
    StripeEvent.objects.filter(pk=stored.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert stripe_event_process(event_id=stored.pk) == "payouts_enabled=True"
    assert stripe_event_process(event_id=stored.pk) == "done"


def test_a_stripe_outage_while_processing_releases_the_event(webhook, fake_stripe, account):
    from integrations.stripe_inbound import stripe_event_process

    fake_stripe.onboard(account.stripe_account_id)
    fake_stripe.fail("/v1/accounts", status=500, type="api_error", times=100)
    webhook(make_event("account.updated", {"id": account.stripe_account_id}))
    stored = StripeEvent.objects.get()
    assert (stored.processed_at, stored.claimed_until) == (None, None)
    fake_stripe.clear_failures()
    assert stripe_event_process(event_id=stored.pk) == "payouts_enabled=True"

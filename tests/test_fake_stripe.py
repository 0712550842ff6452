"""The fake Stripe server, exercised through the real ``stripe`` SDK."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import stripe

from tests.fake_stripe import (
    FakeStripe,
    FakeStripeProcess,
    fake_request,
    make_event,
    parse_form,
    sign_payload,
    signed_event,
)

ROOT = Path(__file__).resolve().parent.parent
CAPS = {"transfers": {"requested": True}}


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server
        assert server.errors == []


@pytest.fixture
def make_client(fake):
    """StripeClient factories pointed at the fake; their HTTP sessions are closed after."""
    http_clients = []

    def make(**kwargs):
        http_client = stripe.RequestsClient(timeout=kwargs.pop("timeout", 10))
        http_clients.append(http_client)
        kwargs.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            "sk_test_x", base_addresses={"api": fake.url}, http_client=http_client, **kwargs
        )

    yield make
    for http_client in http_clients:
        http_client.close()


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "MAX_DELAY", 0.02)


def onboarded_account(client, fake):
    account = client.v1.accounts.create(
        params={"type": "express", "email": "alice@example.com", "capabilities": CAPS}
    )
    fake.onboard(account.id)
    return account


def transfer_params(destination, amount=1000):
    return {
        "amount": amount,
        "currency": "eur",
        "destination": destination,
        "metadata": {"payout_id": 1},
        "transfer_group": "payout-1",
    }


def get_no_redirect(url):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Location")
    finally:
        conn.close()


def test_parse_form_nested_keys_like_stripe():
    body = (
        "metadata[payout_id]=1&metadata[0]=zero&capabilities[transfers][requested]=true"
        "&expand[0]=destination&expand[1]=balance_transaction&items[0][price]=p1&name="
    )
    assert parse_form(body) == {
        "metadata": {"payout_id": "1", "0": "zero"},
        "capabilities": {"transfers": {"requested": "true"}},
        "expand": ["destination", "balance_transaction"],
        "items": [{"price": "p1"}],
        "name": "",
    }


def test_account_link_onboarding_flow(client, fake):
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "email": "alice@example.com",
            "country": "DE",
            "capabilities": CAPS,
            "metadata": {"advocate_id": "7"},
        }
    )
    assert account.id.startswith("acct_")
    assert account.object == "account" and account.livemode is False
    assert (account.charges_enabled, account.payouts_enabled) == (False, False)
    assert account.details_submitted is False
    assert account.default_currency == "eur"
    assert account.metadata.to_dict() == {"advocate_id": "7"}

    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "refresh_url": "http://testserver/stripe/refresh",
            "return_url": "http://testserver/stripe/return",
            "type": "account_onboarding",
        }
    )
    assert link.object == "account_link"
    assert link.url.startswith(f"{fake.url}/onboarding/{account.id}?")
    assert link.expires_at > link.created

    assert get_no_redirect(link.url) == (302, "http://testserver/stripe/return")
    onboarded = client.v1.accounts.retrieve(account.id)
    assert onboarded.payouts_enabled and onboarded.details_submitted
    assert onboarded.capabilities.transfers == "active"
    # A link works once, like Stripe's: afterwards it sends the user to refresh_url.
    assert get_no_redirect(link.url) == (302, "http://testserver/stripe/refresh")

    (event,) = fake.events.values()
    assert (event["type"], event["account"]) == ("account.updated", account.id)
    # Connect events are read with the connected account's header.
    assert client.v1.events.retrieve(event["id"], options={"stripe_account": account.id}).id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(event["id"])


def test_global_api_base_style_and_stripe_account_header(fake, monkeypatch):
    http_client = stripe.RequestsClient()
    monkeypatch.setattr(stripe, "api_key", "sk_test_fake")
    monkeypatch.setattr(stripe, "api_base", fake.url)
    monkeypatch.setattr(stripe, "default_http_client", http_client)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    try:
        account = stripe.Account.create(type="express", email="bob@example.com", capabilities=CAPS)
        fake.onboard(account.id)
        transfer = stripe.Transfer.create(**transfer_params(account.id))
        assert stripe.Transfer.retrieve(transfer.id).destination == account.id
        # A call made "as" the connected account goes to the same api_base with a header.
        coupon = stripe.Coupon.create(percent_off=10, stripe_account=account.id)
        assert fake.requests[-1]["stripe_account"] == account.id
        assert stripe.Coupon.retrieve(coupon.id, stripe_account=account.id).percent_off == 10
        with pytest.raises(stripe.InvalidRequestError, match="No such coupon"):
            stripe.Coupon.retrieve(coupon.id)
        assert stripe.Account.retrieve(account.id).payouts_enabled is True
    finally:
        http_client.close()


def test_transfer_idempotency(client, fake):
    account = onboarded_account(client, fake)
    options = {"idempotency_key": "payout-1"}
    first = client.v1.transfers.create(params=transfer_params(account.id), options=options)
    again = client.v1.transfers.create(params=transfer_params(account.id), options=options)

    assert first.id == again.id and first.id.startswith("tr_")
    assert len(fake.transfers) == 1
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert first.to_dict() == again.to_dict()
    assert first.amount == 1000 and first.metadata.to_dict() == {"payout_id": "1"}
    assert [r["replayed"] for r in fake.requests_to("/v1/transfers", "POST")] == [False, True]

    with pytest.raises(stripe.IdempotencyError) as exc_info:
        client.v1.transfers.create(params=transfer_params(account.id, 999), options=options)
    assert exc_info.type is stripe.error.IdempotencyError
    assert exc_info.value.http_status == 400
    with pytest.raises(stripe.IdempotencyError, match="same endpoint"):
        client.v1.coupons.create(params={"percent_off": 5}, options=options)
    assert len(fake.transfers) == 1 and len(fake.coupons) == 0

    # Idempotency keys are scoped by Stripe-Account.
    other = client.v1.coupons.create(
        params={"percent_off": 5}, options={**options, "stripe_account": account.id}
    )
    assert other.object == "coupon"


def test_transfer_validation_is_not_saved_for_idempotency(client, fake):
    account = client.v1.accounts.create(params={"type": "express", "capabilities": CAPS})
    options = {"idempotency_key": "payout-2"}
    with pytest.raises(stripe.InvalidRequestError) as exc_info:
        client.v1.transfers.create(params=transfer_params(account.id), options=options)
    assert exc_info.value.code == "insufficient_capabilities_for_transfer"
    fake.onboard(account.id)
    transfer = client.v1.transfers.create(params=transfer_params(account.id), options=options)
    assert transfer.destination == account.id
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: amont"):
        client.v1.transfers.create(params={"amont": 1, "currency": "eur", "destination": "x"})
    with pytest.raises(stripe.InvalidRequestError, match="No such destination") as exc_info:
        client.v1.transfers.create(params=transfer_params("acct_missing"))
    assert exc_info.value.code == "resource_missing"


def test_reversal_list_and_expand(client, fake):
    account = onboarded_account(client, fake)
    transfer = client.v1.transfers.create(params=transfer_params(account.id))
    reversal = client.v1.transfers.reversals.create(transfer.id, params={"amount": 400})
    assert reversal.id.startswith("trr_") and reversal.transfer == transfer.id
    partly = client.v1.transfers.retrieve(transfer.id)
    assert (partly.amount_reversed, partly.reversed) == (400, False)
    client.v1.transfers.reversals.create(transfer.id, params={"metadata": {"why": "refund"}})
    full = client.v1.transfers.retrieve(transfer.id, params={"expand": ["destination"]})
    assert (full.amount_reversed, full.reversed) == (1000, True)
    assert full.destination.id == account.id
    with pytest.raises(stripe.InvalidRequestError, match="fully reversed"):
        client.v1.transfers.reversals.create(transfer.id)
    listed = client.v1.transfers.list(params={"destination": account.id})
    assert [t.id for t in listed.data] == [transfer.id]
    assert [e["type"] for e in fake.events.values()][-3:] == [
        "transfer.created",
        "transfer.reversed",
        "transfer.reversed",
    ]


def test_coupons_and_promotion_codes(client, fake):
    coupon = client.v1.coupons.create(
        params={"percent_off": 10, "duration": "once", "name": "Friend discount"}
    )
    assert coupon.object == "coupon" and coupon.percent_off == 10 and coupon.valid
    fixed = client.v1.coupons.create(
        params={"id": "FIVE-EUR", "amount_off": 500, "currency": "EUR", "duration": "forever"}
    )
    assert (fixed.id, fixed.amount_off, fixed.currency) == ("FIVE-EUR", 500, "eur")
    with pytest.raises(stripe.InvalidRequestError, match="currency"):
        client.v1.coupons.create(params={"amount_off": 500})

    # stripe 16.1.0 sends API version 2026-10-28.endive: promotion[coupon], not coupon.
    promo = client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "ALICE-10",
            "max_redemptions": 1,
            "metadata": {"advocate_id": "7"},
        }
    )
    assert promo.id.startswith("promo_") and promo.code == "ALICE-10"
    assert promo.promotion.coupon == coupon.id and promo.max_redemptions == 1
    generated = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}}
    )
    assert generated.code and generated.code != promo.code
    with pytest.raises(stripe.InvalidRequestError, match="already exists"):
        client.v1.promotion_codes.create(
            params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "alice-10"}
        )
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: coupon"):
        client.v1.promotion_codes.create(params={"coupon": coupon.id})
    legacy = client.v1.promotion_codes.create(
        params={"coupon": coupon.id}, options={"stripe_version": "2025-03-31.basil"}
    )
    assert legacy.coupon.id == coupon.id
    assert len(fake.promotion_codes) == 3


def test_unknown_path_and_bad_key(client, fake, make_client):
    with pytest.raises(stripe.InvalidRequestError) as exc_info:
        client.raw_request("post", "/v1/nonsense", foo="bar")
    assert exc_info.value.http_status == 404
    assert exc_info.value.json_body["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError, match="No such transfer"):
        client.v1.transfers.retrieve("tr_missing")

    bad = stripe.StripeClient(
        "sk_live_oops", base_addresses={"api": fake.url}, http_client=stripe.RequestsClient()
    )
    try:
        with pytest.raises(stripe.AuthenticationError):
            bad.v1.accounts.list()
    finally:
        bad._requestor._client.close()


def test_failure_injection_maps_to_sdk_errors(client, fake):
    account = onboarded_account(client, fake)
    fake.fail("/v1/transfers", 500)
    with pytest.raises(stripe.APIError) as exc_info:
        client.v1.transfers.create(params=transfer_params(account.id))
    assert exc_info.type is stripe.error.APIError
    assert exc_info.value.http_status == 500 and fake.transfers == {}

    fake.fail("/v1/transfers", 400, code="account_invalid", message="Account closed")
    with pytest.raises(stripe.InvalidRequestError, match="Account closed") as exc_info:
        client.v1.transfers.create(params=transfer_params(account.id))
    assert exc_info.value.code == "account_invalid"

    fake.fail("/v1/", 429)
    with pytest.raises(stripe.RateLimitError):
        client.v1.accounts.retrieve(account.id)

    fake.fail("/v1/transfers", 500, times=None, method="POST")
    client.v1.transfers.list()  # GET does not match a POST rule
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.transfers.create(params=transfer_params(account.id))
    fake.clear_failures()
    assert client.v1.transfers.create(params=transfer_params(account.id)).id
    assert len(fake.transfers) == 1


def test_sdk_retry_reuses_idempotency_key(make_client, fake, fast_retries):
    client = make_client(max_network_retries=2)
    account = onboarded_account(client, fake)
    fake.fail("/v1/transfers", 500, times=2)
    transfer = client.v1.transfers.create(params=transfer_params(account.id))
    posts = fake.requests_to("/v1/transfers", "POST")
    assert [r["status"] for r in posts] == [500, 500, 200]
    assert len({r["idempotency_key"] for r in posts}) == 1
    assert list(fake.transfers) == [transfer.id]

    # "Stripe did it, the answer was lost": the retry replays the saved success.
    fake.fail("/v1/transfers", 500, when="after")
    again = client.v1.transfers.create(params=transfer_params(account.id, 700))
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(fake.transfers) == 2


def test_hang_after_creation_then_retry_with_same_key(make_client, fake):
    impatient = make_client(timeout=0.3)
    account = onboarded_account(impatient, fake)
    fake.hang("/v1/transfers", 5)
    options = {"idempotency_key": "payout-9"}
    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.transfers.create(params=transfer_params(account.id), options=options)
    assert time.monotonic() - started < 2
    (created,) = fake.transfers.values()  # Stripe did it; the caller never heard back.

    retry = make_client().v1.transfers.create(params=transfer_params(account.id), options=options)
    assert retry.id == created["id"]
    assert retry.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(fake.transfers) == 1


def test_hang_before_creation_and_drop(make_client, fake):
    impatient = make_client(timeout=0.3)
    account = onboarded_account(impatient, fake)
    fake.hang("/v1/transfers", 5, when="before")
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.transfers.create(params=transfer_params(account.id))
    assert fake.transfers == {}

    fake.drop("/v1/transfers")
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.transfers.create(params=transfer_params(account.id))
    assert len(fake.transfers) == 1


def test_concurrent_request_with_same_key_gets_409(make_client, fake):
    account = onboarded_account(make_client(), fake)
    fake.hang("/v1/transfers", 0.3, when="before")
    options = {"idempotency_key": "payout-3"}
    results = []

    def first():
        http_client = stripe.RequestsClient(timeout=5)
        c = stripe.StripeClient(
            "sk_test_x", base_addresses={"api": fake.url}, http_client=http_client
        )
        try:
            results.append(
                c.v1.transfers.create(params=transfer_params(account.id), options=options)
            )
        finally:
            http_client.close()

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 2
    while not fake._inflight and time.monotonic() < deadline:
        time.sleep(0.01)
    # The first request is still running: a duplicate is refused, not executed twice.
    with pytest.raises(stripe.APIError) as exc_info:
        make_client().v1.transfers.create(params=transfer_params(account.id), options=options)
    assert exc_info.value.http_status == 409
    assert exc_info.value.json_body["error"]["type"] == "idempotency_error"
    thread.join(5)
    assert len(results) == 1 and list(fake.transfers) == [results[0].id]


def test_control_over_http(fake, client):
    account = client.v1.accounts.create(params={"type": "express", "capabilities": CAPS})
    fake_request(fake.url, "POST", "/_fake/control", {"onboard": account.id})
    assert fake.accounts[account.id]["payouts_enabled"] is True
    rule = {"path": "/v1/transfers", "status": 400, "code": "account_invalid"}
    fake_request(fake.url, "POST", "/_fake/control", {"fail": rule})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.create(params=transfer_params(account.id))
    log = fake_request(fake.url, "GET", "/_fake/requests?path=/v1/transfers&method=POST")
    assert [(r["method"], r["path"], r["status"]) for r in log] == [("POST", "/v1/transfers", 400)]
    assert log[0]["params"]["metadata"] == {"payout_id": "1"}
    assert log[0]["idempotency_key"]
    state = fake_request(fake.url, "GET", "/_fake/state")
    assert state["counts"]["accounts"] == 1 and state["counts"]["transfers"] == 0
    fake_request(fake.url, "POST", "/_fake/reset", {})
    assert fake.accounts == {} and fake.requests == []
    with pytest.raises(RuntimeError, match="400"):
        fake_request(fake.url, "POST", "/_fake/control", {"fail": {"when": "later"}})


def test_standalone_process(tmp_path):
    cmd = [sys.executable, "-m", "tests.fake_stripe", "--port", "0"]
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            http_client = stripe.RequestsClient(timeout=5)
            client = stripe.StripeClient(
                "sk_test_x", base_addresses={"api": url}, http_client=http_client
            )
            try:
                account = client.v1.accounts.create(params={"type": "express"})
            finally:
                http_client.close()
            state = fake_request(url, "GET", "/_fake/state")
            assert state["counts"]["accounts"] == 1
            assert list(state["accounts"]) == [account.id]
        finally:
            proc.terminate()
    assert proc.returncode is not None


def test_process_helper(fast_retries):
    with FakeStripeProcess() as fake:
        http_client = stripe.RequestsClient(timeout=5)
        client = stripe.StripeClient(
            "sk_test_x",
            base_addresses={"api": fake.url},
            http_client=http_client,
            max_network_retries=1,
        )
        try:
            account = client.v1.accounts.create(params={"type": "express", "capabilities": CAPS})
            assert fake.onboard(account.id)["payouts_enabled"] is True
            fake.fail("/v1/transfers", 500)
            transfer = client.v1.transfers.create(params=transfer_params(account.id))
        finally:
            http_client.close()
        assert list(fake.state()["transfers"]) == [transfer.id]
        assert [r["status"] for r in fake.requests_log("/v1/transfers")] == [500, 200]
        fake.reset()
        assert fake.state()["counts"]["accounts"] == 0


def test_webhook_signature_helpers():
    secret = "whsec_test_secret"
    event = make_event("account.updated", {"id": "acct_1", "object": "account"}, account="acct_1")
    payload = json.dumps(event)
    header = sign_payload(payload, secret)
    assert header.startswith("t=") and ",v1=" in header

    parsed = stripe.Webhook.construct_event(payload, header, secret)
    assert parsed.type == "account.updated" and parsed.account == "acct_1"
    assert parsed.data.object.id == "acct_1"
    body, signature = signed_event("transfer.created", {"id": "tr_1"}, secret)
    assert stripe.Webhook.construct_event(body, signature, secret).data.object.id == "tr_1"

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.replace("acct_1", "acct_2"), header, secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign_payload(payload, "whsec_other"), secret)
    old = sign_payload(payload, secret, timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(payload, old, secret)
    assert stripe.Webhook.construct_event(payload, old, secret, tolerance=600).id == event["id"]

"""Every call this project makes to Stripe, through the official SDK.

Stripe is on when ``STRIPE_API_KEY`` is set; ``STRIPE_API_BASE`` points the SDK
at another host (the tests' local fake Stripe).
"""

import functools

import stripe
from django.conf import settings

from core.errors import ServiceError

# Errors worth retrying: the request may not have reached Stripe, or Stripe
# asked us to slow down. Everything else is a permanent answer.
TRANSIENT_ERRORS = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


class StripeDisabled(ServiceError):
    status_code = 503

    def __init__(self):
        super().__init__(
            "stripe_disabled",
            "Stripe is not configured: set STRIPE_API_KEY (and STRIPE_API_BASE for a test server).",
        )


def enabled() -> bool:
    return bool(settings.STRIPE_API_KEY)


def client() -> stripe.StripeClient:
    if not enabled():
        raise StripeDisabled()
    return _client(
        settings.STRIPE_API_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS
    )


@functools.lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, timeout: int) -> stripe.StripeClient:
    # One client (and HTTP connection pool) per configuration, reused across calls.
    # No SDK retries: Celery owns retries, with backoff and a bounded count.
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def express_account_create(*, email: str, country: str | None = None) -> str:
    params = {"type": "express", "email": email, "capabilities": {"transfers": {"requested": True}}}
    if country:
        params["country"] = country
    return client().v1.accounts.create(params=params).id


def account_retrieve(account_id: str):
    return client().v1.accounts.retrieve(account_id)


def onboarding_link(*, account_id: str, refresh_url: str, return_url: str) -> str:
    link = client().v1.account_links.create(
        params={
            "account": account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        }
    )
    return link.url


def transfer_find(*, transfer_group: str):
    """The transfer already made for this group, if any (Stripe keeps keys only 24 h)."""
    found = client().v1.transfers.list(params={"transfer_group": transfer_group, "limit": 1})
    return found.data[0] if found.data else None


def transfer_create(
    *, amount_minor: int, currency: str, destination: str, idempotency_key: str, metadata: dict
):
    return client().v1.transfers.create(
        params={
            "amount": amount_minor,
            "currency": currency.lower(),
            "destination": destination,
            "transfer_group": idempotency_key,
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    )


def transfer_retrieve(transfer_id: str):
    return client().v1.transfers.retrieve(transfer_id)


def coupon_create(*, percent_off: int, name: str, idempotency_key: str) -> str:
    coupon = client().v1.coupons.create(
        params={"percent_off": percent_off, "duration": "once", "name": name[:40]},
        options={"idempotency_key": idempotency_key},
    )
    return coupon.id


def promotion_code_create(*, coupon_id: str, metadata: dict, idempotency_key: str) -> str:
    """A single-use promotion code for a Stripe coupon; returns the code customers type."""
    promo = client().v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon_id},
            "max_redemptions": 1,
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    )
    return promo.code


def webhook_event(payload: bytes, signature: str, secret: str) -> dict:
    """Verify a webhook's ``Stripe-Signature`` and return the event as a dict."""
    event = stripe.Webhook.construct_event(payload, signature, secret)
    return event.to_dict()

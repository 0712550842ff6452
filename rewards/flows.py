"""The referral loop's use cases: record what happened, then apply the rewards.

Each flow runs ``referrals.services`` (the facts: a friend signed up, an order
was placed or refunded) and the reward rules in **one transaction**, so a
reward exists exactly when its cause does. The API, the Stripe webhooks and
the demo data call these; ``referrals.services`` alone records facts without
rewards.
"""

import uuid
from datetime import datetime

from django.db import transaction

from advocacy.models import Program
from referrals import services as referral_services
from referrals.models import Conversion, Referral, Refund

from .rules import rewards_for_purchase, rewards_for_signup
from .services import rewards_reverse_all, rewards_reverse_for_refund


def referral_create(
    *,
    program: Program,
    friend_email: str = "",
    friend_external_id: str | None = None,
    friend_name: str = "",
    referral_code: str | None = None,
    click_id: uuid.UUID | None = None,
) -> tuple[Referral, bool]:
    """Record a referred friend's sign-up and give the sign-up rewards (the friend's coupon)."""
    with transaction.atomic():
        referral, created = referral_services.referral_create(
            program=program,
            friend_email=friend_email,
            friend_external_id=friend_external_id,
            friend_name=friend_name,
            referral_code=referral_code,
            click_id=click_id,
        )
        if created:
            rewards_for_signup(referral=referral)
    return referral, created


def conversion_record(
    *,
    program: Program,
    order_id: str,
    amount_minor: int,
    currency: str,
    fingerprint: str,
    customer_email: str = "",
    customer_external_id: str | None = None,
    referral_code: str | None = None,
    click_id: uuid.UUID | None = None,
    coupon_code: str | None = None,
    occurred_at: datetime | None = None,
    source: str = "api",
    stripe_payment_intent: str = "",
    payment_fingerprint: str = "",
) -> tuple[Conversion, bool]:
    """Record a purchase once per order id, attribute it and issue its rewards."""
    with transaction.atomic():
        conversion, created = referral_services.conversion_record(
            program=program,
            order_id=order_id,
            amount_minor=amount_minor,
            currency=currency,
            fingerprint=fingerprint,
            customer_email=customer_email,
            customer_external_id=customer_external_id,
            referral_code=referral_code,
            click_id=click_id,
            coupon_code=coupon_code,
            occurred_at=occurred_at,
            source=source,
            stripe_payment_intent=stripe_payment_intent,
            payment_fingerprint=payment_fingerprint,
        )
        if created:
            # A new order's rewards are exactly those issued now: kept for its answer.
            conversion.issued_rewards = rewards_for_purchase(conversion=conversion)
    return conversion, created


def conversion_refund(
    *,
    program: Program,
    order_id: str,
    amount_minor: int | None = None,
    idempotency_key: str | None = None,
) -> tuple[Conversion, Refund | None, bool]:
    """Refund an order in whole or in part and reverse its rewards in proportion."""
    with transaction.atomic():
        # The conversion's row lock, taken by the refund, is held until the
        # reversal is written: two refunds of one order never reverse twice.
        conversion, refund, created = referral_services.conversion_refund(
            program=program,
            order_id=order_id,
            amount_minor=amount_minor,
            idempotency_key=idempotency_key,
        )
        if created:
            rewards_reverse_for_refund(conversion=conversion)
    return conversion, refund, created


def conversion_self_referral_by_card(*, conversion: Conversion) -> bool:
    """Un-attribute a conversion paid with its advocate's own card and reverse its rewards."""
    with transaction.atomic():
        if not referral_services.self_referral_by_card(conversion=conversion):
            return False
        rewards_reverse_all(
            conversion=conversion, reason="self-referral: paid with the advocate's own card"
        )
    return True

"""The referral loop's use cases: record what happened, then apply the rewards.

Each flow runs ``referrals.services`` (the facts: a friend signed up, an order
was placed or refunded) and the reward rules in **one transaction**, so a
reward exists exactly when its cause does. The API, the Stripe webhooks and
the demo data call these; ``referrals.services`` alone records facts without
rewards. Each flow takes the same keyword arguments as the service it wraps.
"""

from django.db import transaction

from referrals import services as referral_services
from referrals.models import Conversion, Referral, Refund

from .rules import rewards_for_purchase, rewards_for_signup
from .services import rewards_reverse_all, rewards_reverse_for_refund


def referral_create(**facts) -> tuple[Referral, bool]:
    """Record a referred friend's sign-up and give the sign-up rewards (the friend's coupon)."""
    with transaction.atomic():
        referral, created = referral_services.referral_create(**facts)
        if created:
            rewards_for_signup(referral=referral)
    return referral, created


def conversion_record(**facts) -> tuple[Conversion, bool]:
    """Record a purchase once per order id, attribute it and issue its rewards."""
    with transaction.atomic():
        conversion, created = referral_services.conversion_record(**facts)
        if created:
            # A new order's rewards are exactly those issued now: kept for its answer.
            conversion.issued_rewards = rewards_for_purchase(conversion=conversion)
    return conversion, created


def conversion_refund(**facts) -> tuple[Conversion, Refund | None, bool]:
    """Refund an order in whole or in part and reverse its rewards in proportion."""
    with transaction.atomic():
        # The conversion's row lock, taken by the refund, is held until the
        # reversal is written: two refunds of one order never reverse twice.
        conversion, refund, created = referral_services.conversion_refund(**facts)
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

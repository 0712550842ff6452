"""The referral loop's use cases: record what happened, then apply the rewards.

Each flow runs ``referrals.services`` (the facts: a friend signed up, an order
was placed or refunded) and the reward rules in **one transaction**, so a
reward exists exactly when its cause does. The API, the Stripe webhooks and
the demo data call these; ``referrals.services`` alone records facts without
rewards. Each flow takes the same keyword arguments as the service it wraps.
"""

from django.db import IntegrityError, transaction

from advocacy.audit import audit_batch
from advocacy.models import AuditAction, AuditLog
from core.transactions import in_transaction
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
    """Record a purchase once per order id, attribute it and issue its rewards.

    Called outside a transaction (the API, a webhook), it runs without savepoints:
    when a concurrent request wins the race for the order id or the friend's
    referral, the whole transaction rolls back and runs once more, and finds the
    winner's rows (two statements fewer per savepoint on every order).
    """
    if in_transaction():
        return _conversion_record(facts, savepoints=True)
    try:
        return _conversion_record(facts, savepoints=False)
    except IntegrityError:
        return _conversion_record(facts, savepoints=True)


def _conversion_record(facts: dict, *, savepoints: bool) -> tuple[Conversion, bool]:
    with transaction.atomic(), audit_batch():
        conversion, created = referral_services.conversion_record(**facts, savepoints=savepoints)
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


def conversion_reattribute(*, actor=None, reason: str, **facts) -> tuple[Conversion, bool]:
    """A manager's attribution override: the old rewards are reversed through the ledger
    and the rules run again as if the order had been attributed so."""
    with transaction.atomic():
        conversion, changed = referral_services.conversion_reattribute(
            actor=actor, reason=reason, **facts
        )
        if changed:
            rewards_reverse_all(
                conversion=conversion, reason=f"Attribution changed: {reason.strip()}", actor=actor
            )
            # Each override's rewards are new rewards (their keys name the override).
            n = AuditLog.objects.filter(
                action=AuditAction.CONVERSION_ATTRIBUTION_OVERRIDDEN,
                object_type="referrals.conversion",
                object_id=str(conversion.pk),
            ).count()
            rewards_for_purchase(conversion=conversion, key_suffix=f":override-{n}")
            if conversion.refunded_minor:
                rewards_reverse_for_refund(conversion=conversion)
    return conversion, changed

"""The events merchants receive, emitted from what the domain layers announce.

Each receiver runs inside the transaction of the change it announces; the
deliveries leave only after that transaction commits.
"""

from django.dispatch import receiver

from advocacy import events as advocacy_events
from core.money import to_decimal_string
from referrals import events as referral_events
from referrals.services import advocate_primary_link
from rewards import events as reward_events
from rewards.ledger import POINTS_CURRENCY

from .services import event_emit


def _amount(amount_minor: int, currency: str) -> str:
    if currency == POINTS_CURRENCY:
        return str(amount_minor)
    return to_decimal_string(amount_minor, currency)


@receiver(advocacy_events.advocate_enrolled, dispatch_uid="integrations.advocate_enrolled")
def advocate_enrolled(sender, advocate, **kwargs) -> None:
    event_emit(
        program=advocate.program,
        type="advocate.enrolled",
        data={
            "advocate": {
                "id": advocate.pk,
                "email": advocate.email,
                "status": advocate.status,
                # Get-or-create: the same link whichever receiver runs first.
                "referral_code": (code := advocate_primary_link(advocate).code),
                # The advocate's personal coupon code (their link's code unless set
                # otherwise): create it in your shop, and friends can pay with it.
                "coupon_code": advocate.coupon_code or code,
            }
        },
    )


@receiver(referral_events.referral_created, dispatch_uid="integrations.referral_created")
def referral_created(sender, referral, **kwargs) -> None:
    event_emit(
        program=referral.program,
        type="referral.created",
        data={
            "referral": {
                "id": referral.pk,
                "status": referral.status,
                "advocate_id": referral.advocate_id,
            }
        },
    )


@receiver(referral_events.conversion_attributed, dispatch_uid="integrations.conversion_attributed")
def conversion_attributed(sender, conversion, **kwargs) -> None:
    event_emit(
        program=conversion.program,
        type="conversion.attributed",
        data={
            "conversion": {
                "id": conversion.pk,
                "order_id": conversion.order_id,
                "amount": _amount(conversion.amount_minor, conversion.currency),
                "currency": conversion.currency,
                "advocate_id": conversion.advocate_id,
                "referral_id": conversion.referral_id,
            }
        },
    )


def _reward(reward, type: str) -> None:
    event_emit(
        program=reward.program,
        type=type,
        data={
            "reward": {
                "id": reward.pk,
                "advocate_id": reward.advocate_id,
                "kind": reward.kind,
                "amount": _amount(reward.amount_minor, reward.currency or "EUR"),
                "currency": reward.currency,
                "status": reward.status,
                "recipient": reward.recipient,
                # A coupon's code (from a pool, Stripe or the advocate's own), else null.
                "coupon_code": reward.coupon_code or None,
                "percent_off": reward.coupon_percent_off or None,
            }
        },
    )


@receiver(reward_events.reward_issued, dispatch_uid="integrations.reward_issued")
def reward_issued(sender, reward, **kwargs) -> None:
    _reward(reward, "reward.issued")


@receiver(reward_events.reward_reversed, dispatch_uid="integrations.reward_reversed")
def reward_reversed(sender, reward, **kwargs) -> None:
    _reward(reward, "reward.reversed")


@receiver(reward_events.payout_paid, dispatch_uid="integrations.payout_paid")
def payout_paid(sender, payout, **kwargs) -> None:
    event_emit(
        program=payout.program,
        type="payout.paid",
        data={
            "payout": {
                "id": payout.pk,
                "advocate_id": payout.advocate_id,
                "amount": _amount(payout.amount_minor, payout.currency),
                "currency": payout.currency,
                "stripe_transfer_id": payout.stripe_transfer_id,
            }
        },
    )

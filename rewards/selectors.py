"""Reads of rewards (balances are ``rewards.ledger``'s)."""

from referrals.models import Conversion, Referral

from .models import Reward


def conversion_rewards(*, conversion: Conversion) -> list[Reward]:
    """The rewards a conversion gave, in the order they were issued."""
    issued = getattr(conversion, "issued_rewards", None)  # just recorded: no query
    if issued is not None:
        return sorted(issued, key=lambda r: r.pk)
    return list(Reward.objects.filter(conversion=conversion).order_by("pk"))


def friend_reward(*, referral: Referral) -> dict | None:
    """The friend's reward (a discount coupon or a perk), when the program grants one."""
    reward = (
        Reward.objects.filter(referral=referral, recipient=Reward.Recipient.FRIEND)
        .exclude(status=Reward.Status.REVERSED)
        .order_by("pk")
        .first()
    )
    if reward is None:
        return None
    if reward.kind == Reward.Kind.COUPON:
        return {
            "kind": "discount",
            "percent_off": reward.coupon_percent_off,
            # Empty while a Stripe code is still being fetched.
            "coupon_code": reward.coupon_code or None,
        }
    return {"kind": "perk", "description": reward.perk_description}


AWAITING_APPROVAL = "awaiting_approval"


def reward_status(reward: Reward) -> str:
    """The status people see: a pending cash reward a manager must approve first is
    ``awaiting_approval`` (it matures only once approved)."""
    if (
        reward.status == Reward.Status.PENDING
        and reward.requires_approval
        and reward.approved_at is None
    ):
        return AWAITING_APPROVAL
    return reward.status

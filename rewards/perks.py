"""Granting perks (early access to a drop or a sale, or any link or code) as rewards.

Any part of the platform grants a perk the same way: a perk reward (no balance,
no ledger entry) keyed by its cause, delivered at once: the advocate sees its
link or code in the portal and gets it by email.
"""

from django.db import transaction

from advocacy.models import Advocate
from core import outbox
from core.errors import Unprocessable

from . import notifications
from .models import Perk, Reward
from .services import reward_issue


def perk_grant(*, advocate: Advocate, perk: Perk, key: str, reason: str = "") -> Reward:
    """Give ``perk`` to ``advocate`` once per ``key`` and email it to them."""
    if perk.program_id != advocate.program_id:
        raise Unprocessable("perk_unavailable", "This perk belongs to another program.")
    with transaction.atomic():
        existing = Reward.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        reward = reward_issue(
            program=advocate.program,
            advocate=advocate,
            key=key,
            reason=(reason or perk.name)[:200],
            kind=Reward.Kind.PERK,
            perk_description=perk.name[:200],
            hold_days=0,
        )
        # Its link or code is delivered with the reward: nothing for a manager to fulfil.
        Reward.objects.filter(pk=reward.pk).update(perk=perk, status=Reward.Status.FULFILLED)
        reward.perk, reward.status = perk, Reward.Status.FULFILLED
        outbox.enqueue(notifications.notify_advocate, "perk_granted", reward.pk)
    return reward


def advocate_perks(*, advocate: Advocate) -> list[Reward]:
    """The perks an advocate holds, newest first (ended ones included, marked by state)."""
    return list(
        Reward.objects.filter(advocate=advocate, perk__isnull=False)
        .exclude(status=Reward.Status.REVERSED)
        .select_related("perk")
        .order_by("-created_at", "-pk")
    )

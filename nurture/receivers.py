"""What nurture does when the layers below announce something (connected in apps.ready).

Each receiver runs inside the transaction of the event: tiers and badges move
with the fact that earned them, and emails are queued through the outbox.
"""

from advocacy.models import Advocate
from core import outbox
from core.config_cache import ConfigCache
from referrals.models import Referral
from rewards.models import Reward

from . import badges
from .emails import email_queue, engagement_emails_on, friend_label
from .followups import conversion_followups
from .models import Tier, WelcomeStep
from .tiers import recompute_standing, standing_recompute

# program id -> whether it has tiers (CONFIG_CACHE_SECONDS; a tier added meanwhile is
# caught by the beat job, tiers_recompute_all).
_tiered = ConfigCache("programs with tiers", invalidated_by=("nurture.Tier",))


def _has_tiers(advocate: Advocate) -> bool:
    program_id = advocate.program_id
    return _tiered.get(program_id, lambda: Tier.objects.filter(program_id=program_id).exists())


def on_reward_changed(sender, reward: Reward, **kwargs):
    if reward.recipient != Reward.Recipient.ADVOCATE or not _has_tiers(reward.advocate):
        return
    if reward.kind == Reward.Kind.POINTS and reward.rule_id is None:
        # A challenge, a tier's entry points, a manager's reward: at once.
        standing_recompute(advocate=reward.advocate)
        return
    # Points from the rules, and any reversal (a refund lowers points and referred
    # revenue alike): once the event is committed.
    _recompute_after_commit(reward.advocate, _cause(reward))


def _recompute_after_commit(advocate: Advocate, cause=None) -> None:
    """Move the tier once the event is committed: all the rewards of one event (a sign-up,
    a purchase) get the multiplier of the tier the advocate held when it came. A task
    (through the outbox), so the request does not wait for it; the beat job
    recomputes anyway. ``cause``: the event's conversion or referral, which asks once
    however many receivers hear of it."""
    if not _has_tiers(advocate):
        return
    if cause is not None:
        if getattr(cause, "_tier_move_queued", False):
            return
        cause._tier_move_queued = True
    outbox.enqueue(recompute_standing, advocate.pk)


def _cause(reward: Reward):
    """The conversion or referral object that issued this reward in this request, if any
    (never a query)."""
    cached = reward._state.fields_cache
    return cached.get("conversion") or cached.get("referral")


def on_referral_created(sender, referral: Referral, **kwargs):
    if referral.status == Referral.Status.REJECTED:
        return
    advocate = referral.advocate
    badges.referral_badges_check(advocate=advocate)
    _recompute_after_commit(advocate, referral)
    if not engagement_emails_on(advocate.program_id):
        return
    event = "purchase" if referral.status == Referral.Status.CONVERTED else "signup"
    email_queue(
        advocate=advocate,
        template="friend_activity",
        key=f"friend:{referral.pk}:{event}",
        params={"event": event, "friend": friend_label(referral)},
    )


def on_conversion_attributed(sender, conversion, **kwargs):
    """Badges, the tier and the friend-activity email follow the purchase in a worker
    (``followups``): one outbox row in the order's transaction, nothing else."""
    advocate = conversion.advocate
    if advocate is None:
        return
    tiers = _has_tiers(advocate)
    # The rewards this purchase issues next ask for a tier move too (see
    # _recompute_after_commit): the follow-up does it.
    conversion._tier_move_queued = True
    outbox.enqueue(conversion_followups, conversion.pk, tiers)


def on_advocate_enrolled(sender, advocate: Advocate, **kwargs):
    """Day 0 of the welcome sequence goes at once; later days from the beat job."""
    step = WelcomeStep.objects.filter(program_id=advocate.program_id, day=0, is_active=True).first()
    if step is not None:
        email_queue(
            advocate=advocate,
            template="welcome",
            key=f"welcome:{advocate.pk}:{step.pk}",
            params=step_params(step, advocate),
        )


def step_params(step: WelcomeStep, advocate: Advocate) -> dict:
    name = advocate.name or advocate.email.split("@")[0]
    fill = {"name": name, "program": advocate.program.name}
    return {
        "subject": step.subject.replace("{name}", name).replace("{program}", fill["program"]),
        "body": step.body.replace("{name}", name).replace("{program}", fill["program"]),
    }

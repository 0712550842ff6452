"""The program's offer in words: what advocates and friends get, from its active rules.

One place for the texts the portal, the widget and share messages show; each
is translated into the active language.
"""

from django.utils.translation import gettext as _

from advocacy.models import Program
from core.money import format_money

from . import variants
from .models import RewardRule

PURCHASE_TRIGGERS = (RewardRule.Trigger.FIRST_PURCHASE, RewardRule.Trigger.EVERY_PURCHASE)
ADVOCATE_SIDE = (RewardRule.Recipient.ADVOCATE, RewardRule.Recipient.BOTH)
FRIEND_SIDE = (RewardRule.Recipient.FRIEND, RewardRule.Recipient.BOTH)


def friend_discount_percent(program: Program) -> int:
    """The friend's percent off from the program's active signup coupon rule, or 0."""
    rule = (
        RewardRule.objects.filter(
            program=program,
            is_active=True,
            trigger=RewardRule.Trigger.SIGNUP,
            recipient__in=FRIEND_SIDE,
            kind=RewardRule.Kind.COUPON,
            coupon_percent_off__gt=0,
        )
        .order_by("-coupon_percent_off")
        .first()
    )
    return rule.coupon_percent_off if rule else 0


def reward_phrase(rule: RewardRule, currency: str, advocate=None) -> str:
    """What a rule gives, in a few words of the active language ("€10.00", "15% off");
    with ``advocate``, their offer variant's amount for the advocate's side."""
    kind = rule.Kind
    mine = advocate is not None and rule.recipient in ADVOCATE_SIDE
    if rule.kind == kind.CASH:
        amount = rule.amount_minor
        if mine:
            amount = variants.cash_amount(advocate=advocate, amount_minor=amount)
        return format_money(amount, currency)
    if rule.kind == kind.COMMISSION:
        percent = rule.percent
        if mine:
            percent = variants.commission_percent(advocate=advocate, percent=percent)
        return _("%(percent)s%% of the order") % {"percent": percent.normalize()}
    if rule.kind == kind.POINTS:
        return _("%(points)s points") % {"points": rule.points}
    if rule.kind == kind.COUPON:
        if rule.coupon_percent_off:
            return _("%(percent)s%% off") % {"percent": rule.coupon_percent_off}
        if rule.coupon_pool_id and rule.coupon_pool.description:
            return rule.coupon_pool.description
        return _("a discount coupon")
    return rule.perk_description or _("a perk")


def _advocate_sentence(rule, what: str) -> str:
    trigger = rule.Trigger
    if rule.trigger == trigger.SIGNUP:
        return _("You get %(reward)s when a friend signs up.") % {"reward": what}
    if rule.trigger == trigger.FIRST_PURCHASE:
        return _("You get %(reward)s when a friend makes their first purchase.") % {"reward": what}
    if rule.trigger == trigger.EVERY_PURCHASE:
        return _("You get %(reward)s for every purchase a friend makes.") % {"reward": what}
    return _("You get %(reward)s when %(count)s of your friends have bought.") % {
        "reward": what,
        "count": rule.milestone_count,
    }


def _friend_sentence(rule, what: str) -> str:
    trigger = rule.Trigger
    if rule.trigger == trigger.SIGNUP:
        return _("Friends get %(reward)s when they sign up with your link.") % {"reward": what}
    if rule.trigger == trigger.FIRST_PURCHASE:
        return _("Friends get %(reward)s after their first purchase.") % {"reward": what}
    return _("Friends get %(reward)s with every purchase.") % {"reward": what}


def offer_sentences(*, program: Program, advocate=None) -> list[str]:
    """The program's active reward rules, each said in one sentence (with ``advocate``:
    as that advocate's offer variant gives them)."""
    sentences = []
    rules = (
        RewardRule.objects.filter(program=program, is_active=True)
        .select_related("coupon_pool")
        .order_by("pk")
    )
    for rule in rules:
        what = reward_phrase(rule, program.currency, advocate)
        if rule.recipient in ADVOCATE_SIDE:
            sentences.append(_advocate_sentence(rule, what))
        if rule.recipient in FRIEND_SIDE:
            sentences.append(_friend_sentence(rule, what))
    return sentences


def offer_summary(*, program: Program, advocate=None) -> dict[str, str]:
    """The headline offer: what an advocate gets for a friend's purchase, and what the friend
    gets, in a few words each (empty when no rule gives it); with ``advocate``, as their
    offer variant gives it."""
    offer = {"advocate": "", "friend": ""}
    rules = (
        RewardRule.objects.filter(program=program, is_active=True)
        .select_related("coupon_pool")
        .order_by("pk")
    )
    for rule in rules:
        purchase = rule.trigger in PURCHASE_TRIGGERS
        if not offer["advocate"] and rule.recipient in ADVOCATE_SIDE and purchase:
            offer["advocate"] = reward_phrase(rule, program.currency, advocate)
        if not offer["friend"] and rule.recipient in FRIEND_SIDE:
            offer["friend"] = reward_phrase(rule, program.currency)
    return offer

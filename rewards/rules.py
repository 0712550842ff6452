"""The one service that evaluates a program's reward rules for an event.

Every rule considered leaves a ``RewardDecision`` (applied, or skipped and
why), so a manager can see why an advocate was or was not rewarded.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from django.db import connection
from django.db.models import Sum
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from advocacy.models import Advocate, Program
from core.config_cache import ConfigCache, fresh
from referrals.models import Conversion, Referral

from . import coupons, multipliers, variants
from .ledger import POINTS_CURRENCY
from .models import Reward, RewardDecision, RewardRule
from .services import reward_issue

Rule = RewardRule
_ADVOCATES = Advocate._meta.db_table
SIGNUP = "signup"
PURCHASE = "purchase"


class Skip(Exception):
    """A rule does not apply; the message is the stored reason."""


@dataclass
class Event:
    kind: str  # SIGNUP or PURCHASE
    program: Program
    advocate: Advocate
    referral: Referral | None = None
    conversion: Conversion | None = None
    key_suffix: str = ""  # a manager's re-attribution: its rewards are new ones

    @property
    def key(self) -> str:
        if self.conversion is not None:
            return f"conversion:{self.conversion.pk}"
        return f"referral:{self.referral.pk}"


# program id -> its active rules in order (CONFIG_CACHE_SECONDS; a save in this process
# empties it at once, other processes follow within the period).
_active = ConfigCache("reward rules", invalidated_by=("rewards.RewardRule",))


def active_rules(program_id: int) -> list[RewardRule]:
    """The program's active rules, each a copy of its own for the caller."""
    rules = _active.get(
        program_id,
        lambda: list(
            RewardRule.objects.filter(program_id=program_id, is_active=True).order_by("pk")
        ),
    )
    return [fresh(rule) for rule in rules]


def rules_apply(event: Event) -> list[Reward]:
    """Evaluate every active rule of the program for ``event``; returns the rewards issued.

    Call inside the transaction that records the event.
    """
    _advocate_lock(event.advocate.pk)
    rules = active_rules(event.program.pk)
    issued = []
    for rule in rules:
        if not _matches_trigger(rule, event):
            continue
        for recipient in rule.recipients():
            try:
                reward = _apply(rule, recipient, event)
            except Skip as skip:
                _decide(rule, recipient, event, RewardDecision.Outcome.SKIPPED, str(skip))
                continue
            if reward is None:  # already issued for this event: nothing to record
                continue
            _decide(rule, recipient, event, RewardDecision.Outcome.APPLIED, reward.reason, reward)
            issued.append(reward)
    return issued


def _advocate_lock(advocate_id: int) -> None:
    """The advocate's row lock serialises rewards per advocate, so limits hold under
    concurrency (two purchases cannot both take the last daily slot). Plain SQL: the
    row itself is not needed, and the ORM's SELECT cost more CPU than the lock."""
    lock = connection.features.has_select_for_update
    if lock and connection.get_autocommit():
        raise TransactionManagementError("The advocate's lock needs a transaction.")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {_ADVOCATES} WHERE id = %s{' FOR UPDATE' if lock else ''}",  # noqa: S608
            [advocate_id],
        )


def _matches_trigger(rule: Rule, event: Event) -> bool:
    if event.kind == SIGNUP:
        return rule.trigger == Rule.Trigger.SIGNUP
    return rule.trigger != Rule.Trigger.SIGNUP


def _decide(rule, recipient, event, outcome, reason, reward=None):
    RewardDecision.objects.create(
        program=event.program,
        rule=rule,
        advocate=event.advocate,
        event=event.kind,
        referral=event.referral,
        conversion=event.conversion,
        recipient=recipient,
        outcome=outcome,
        reason=reason[:300],
        reward=reward,
    )


def _purchase_number(conversion: Conversion) -> int:
    """1 for the friend's first attributed purchase, 2 for the second, ..."""
    if conversion.referral_id is None:
        return 1
    known = getattr(conversion, "purchase_number", None)  # set when recording it
    if known is not None:
        return known
    return Conversion.objects.filter(
        referral_id=conversion.referral_id, attributed=True, pk__lte=conversion.pk
    ).count()


def _check_trigger(rule: Rule, event: Event) -> str:
    """Raise ``Skip`` unless the trigger's conditions hold; returns the key part."""
    conversion = event.conversion
    if conversion is not None and conversion.currency != event.program.currency:
        # Rules, rewards and the budget are in the program's currency, and money is
        # never converted: an order in another currency is recorded, not rewarded.
        raise Skip(
            f"order in {conversion.currency}; the program rewards {event.program.currency} orders"
        )
    if (
        conversion is not None
        and rule.min_order_minor
        and (conversion.amount_minor < rule.min_order_minor)
    ):
        raise Skip(f"order below the minimum of {rule.min_order_minor}")
    if rule.trigger == Rule.Trigger.SIGNUP:
        return "signup"
    number = _purchase_number(conversion)
    if rule.trigger == Rule.Trigger.FIRST_PURCHASE:
        if number != 1:
            raise Skip(f"not the friend's first purchase (purchase #{number})")
        return "first-purchase"
    if rule.trigger == Rule.Trigger.EVERY_PURCHASE:
        if rule.max_purchases and number > rule.max_purchases:
            raise Skip(f"purchase #{number} is past the limit of {rule.max_purchases}")
        if rule.max_months and conversion.referral_id:
            first = (
                Conversion.objects.filter(referral_id=conversion.referral_id, attributed=True)
                .order_by("occurred_at")
                .values_list("occurred_at", flat=True)
                .first()
            )
            if first and conversion.occurred_at > first + timedelta(days=30 * rule.max_months):
                raise Skip(f"more than {rule.max_months} months after the first purchase")
        return f"purchase-{number}"
    # Milestone: counted when a friend converts for the first time.
    if number != 1:
        raise Skip("milestones count friends' first purchases only")
    converted = Referral.objects.filter(
        advocate=event.advocate, status=Referral.Status.CONVERTED
    ).count()
    if converted != rule.milestone_count:
        raise Skip(f"{converted} successful referrals, milestone is {rule.milestone_count}")
    return f"milestone-{rule.milestone_count}"


def _check_limits(rule: Rule, event: Event) -> None:
    if rule.limit_per_day is None and rule.limit_per_month is None and rule.limit_lifetime is None:
        return
    now = timezone.now()
    given = Reward.objects.filter(
        rule=rule, advocate=event.advocate, recipient=Reward.Recipient.ADVOCATE
    )
    windows = [
        (rule.limit_per_day, now - timedelta(days=1), "per day"),
        (rule.limit_per_month, now.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
         "per month"),
        (rule.limit_lifetime, None, "in total"),
    ]  # fmt: skip
    for limit, since, label in windows:
        if limit is None:
            continue
        count = given.filter(created_at__gte=since).count() if since else given.count()
        if count >= limit:
            raise Skip(f"limit of {limit} rewards {label} reached")


def _check_budget(program: Program, amount_minor: int, currency: str) -> None:
    if program.monthly_budget_minor is None or currency != program.currency:
        return
    # Lock the program row: budget checks for one program run one at a time.
    Program.objects.select_for_update().filter(pk=program.pk).first()
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = (
        Reward.objects.filter(
            program=program,
            kind=Reward.Kind.CASH,
            currency=currency,
            created_at__gte=month_start,
        ).aggregate(total=Sum("amount_minor") - Sum("reversed_minor"))["total"]
        or 0
    )
    if spent + amount_minor > program.monthly_budget_minor:
        raise Skip(f"monthly budget exhausted ({spent} of {program.monthly_budget_minor} used)")


def _amount(rule: Rule, event: Event, recipient: str = "") -> tuple[str, int, str]:
    """(reward kind, amount in minor units or points, currency) for a reward; an advocate's
    cash and commission follow their offer variant, if an experiment gives them one."""
    mine = recipient == Rule.Recipient.ADVOCATE
    if rule.kind == Rule.Kind.CASH:
        amount = rule.amount_minor
        if mine:
            amount = variants.cash_amount(advocate=event.advocate, amount_minor=amount)
        return Reward.Kind.CASH, amount, event.program.currency
    if rule.kind == Rule.Kind.COMMISSION:
        conversion = event.conversion
        percent = rule.percent
        if mine:
            percent = variants.commission_percent(advocate=event.advocate, percent=percent)
        amount = (Decimal(conversion.amount_minor) * percent / 100).to_integral_value(
            rounding=ROUND_DOWN
        )
        if amount <= 0:
            raise Skip("commission rounds to zero")
        return Reward.Kind.CASH, int(amount), conversion.currency
    if rule.kind == Rule.Kind.POINTS:
        return Reward.Kind.POINTS, rule.points, POINTS_CURRENCY
    if rule.kind == Rule.Kind.COUPON:
        return Reward.Kind.COUPON, 0, ""
    return Reward.Kind.PERK, 0, ""


def _key_is_new(rule: Rule, event: Event) -> bool:
    """Whether the reward key names a row this very transaction inserted (the order, or
    the friend's referral made at their first purchase): then no reward holds it yet,
    and looking would cost a query for nothing. The unique key stays the guarantee."""
    if rule.trigger == Rule.Trigger.MILESTONE or event.key_suffix:
        return False
    if rule.trigger == Rule.Trigger.FIRST_PURCHASE and event.referral is not None:
        return getattr(event.referral, "created_now", False)
    return event.conversion is not None and getattr(event.conversion, "recorded_now", False)


def _apply(rule: Rule, recipient: str, event: Event) -> Reward | None:
    if not event.advocate.can_earn:
        raise Skip(f"advocate is {event.advocate.status}")
    part = _check_trigger(rule, event)
    key = f"rule:{rule.pk}:{recipient}:{part}:"
    if rule.trigger == Rule.Trigger.MILESTONE:
        key += f"advocate:{event.advocate.pk}"
    elif rule.trigger == Rule.Trigger.FIRST_PURCHASE and event.referral is not None:
        # One first purchase per friend, whatever the race: two orders of a new friend
        # recorded at once may each count as the first, but they share this key.
        key += f"referral:{event.referral.pk}"
    else:
        key += event.key
    key += event.key_suffix
    if not _key_is_new(rule, event) and Reward.objects.filter(idempotency_key=key).exists():
        return None
    kind, amount, currency = _amount(rule, event, recipient)
    if recipient == Rule.Recipient.ADVOCATE and kind in Reward.BALANCE_KINDS:
        amount = multipliers.amount_multiply(advocate=event.advocate, amount_minor=amount)
    if recipient == Rule.Recipient.ADVOCATE:
        _check_limits(rule, event)
        if kind == Reward.Kind.CASH:
            _check_budget(event.program, amount, currency)
    try:
        claimed = (
            coupons.coupon_claim(rule=rule, advocate=event.advocate)
            if kind == Reward.Kind.COUPON
            else None
        )
    except coupons.CouponUnavailable as exc:
        raise Skip(str(exc)) from exc
    reason = f"{rule.name}: {rule.get_trigger_display().lower()}"
    if event.conversion is not None:
        reason += f" (order {event.conversion.order_id})"
    reward = reward_issue(
        program=event.program,
        advocate=event.advocate,
        referral=event.referral,
        conversion=event.conversion,
        rule=rule,
        recipient=recipient,
        kind=kind,
        amount_minor=amount,
        currency=currency,
        reason=reason,
        key=key,
        hold_days=rule.hold_days if rule.hold_days is not None else event.program.hold_days,
        requires_approval=kind == Reward.Kind.CASH
        and rule.approval_above_minor is not None
        and amount > rule.approval_above_minor,
        perk_description=rule.perk_description,
        coupon_code=claimed.code if claimed else "",
        coupon_percent_off=rule.coupon_percent_off,
        awaiting_code=bool(claimed and claimed.from_stripe),
        checked_new=True,
    )
    if claimed is not None:
        coupons.coupon_assign(claimed=claimed, reward=reward)
    return reward


def rewards_for_signup(*, referral: Referral) -> list[Reward]:
    """Apply the program's sign-up rules (e.g. the friend's coupon) to a new referral."""
    if referral.status == Referral.Status.REJECTED or not referral.verified:
        # An unverified sign-up (a browser without a click on the link) earns nothing,
        # neither the advocate's sign-up reward nor a code from the friend's pool.
        return []
    return rules_apply(
        Event(kind=SIGNUP, program=referral.program, advocate=referral.advocate, referral=referral)
    )


def rewards_for_purchase(*, conversion: Conversion, key_suffix: str = "") -> list[Reward]:
    """Apply the program's purchase rules to an attributed conversion."""
    if not conversion.attributed:
        return []
    return rules_apply(
        Event(
            kind=PURCHASE,
            program=conversion.program,
            advocate=conversion.advocate,
            referral=conversion.referral,
            conversion=conversion,
            key_suffix=key_suffix,
        )
    )

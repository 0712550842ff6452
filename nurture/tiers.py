"""VIP tiers: what an advocate has achieved, which tier that earns, and its multiplier.

``standing_recompute`` runs on each event (signals, in the event's transaction)
and from a beat job as a safety net; rewards asks ``tier_multiplier`` (registered
in ``rewards.multipliers``) when its rules give the advocate cash or points.
"""

from datetime import timedelta
from decimal import Decimal

from celery import shared_task
from django.db import OperationalError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate
from referrals.models import Conversion, Referral
from rewards.ledger import POINTS_CURRENCY
from rewards.models import LedgerEntry, Reward
from rewards.perks import perk_grant
from rewards.services import reward_issue

from . import badges
from .emails import email_queue
from .models import Standing, Tier, TierChange

Metric = Tier.Metric


def metric_value(*, advocate: Advocate, metric: str, window_days: int | None) -> int:
    """Points earned, friends referred or referred revenue (minor units), in the window."""
    since = timezone.now() - timedelta(days=window_days) if window_days else None
    if metric == Metric.POINTS:
        entries = LedgerEntry.objects.filter(
            advocate=advocate,
            currency=POINTS_CURRENCY,
            kind__in=[LedgerEntry.Kind.REWARD_ISSUED, LedgerEntry.Kind.REWARD_REVERSED],
        )
        if since:
            entries = entries.filter(created_at__gte=since)
        return entries.aggregate(t=Sum("amount_minor"))["t"] or 0
    if metric == Metric.REFERRALS:
        referrals = Referral.objects.filter(advocate=advocate).exclude(
            status=Referral.Status.REJECTED
        )
        if since:
            referrals = referrals.filter(created_at__gte=since)
        return referrals.count()
    orders = Conversion.objects.filter(
        advocate=advocate, attributed=True, currency=advocate.program.currency
    )
    if since:
        orders = orders.filter(occurred_at__gte=since)
    return orders.aggregate(t=Sum(F("amount_minor") - F("refunded_minor")))["t"] or 0


def progress(*, advocate: Advocate, tiers: list[Tier] | None = None) -> dict:
    """Each tier with the advocate's value against its threshold, and the tier they hold."""
    if tiers is None:
        tiers = list(Tier.objects.filter(program_id=advocate.program_id).order_by("rank", "pk"))
    cache: dict[tuple, int] = {}
    rows = []
    for tier in tiers:
        key = (tier.metric, tier.window_days)
        if key not in cache:
            cache[key] = metric_value(
                advocate=advocate, metric=tier.metric, window_days=tier.window_days
            )
        value = cache[key]
        rows.append(
            {
                "tier": tier,
                "value": value,
                "reached": value >= tier.threshold,
                "percent": min(100, int(value * 100 / tier.threshold)) if tier.threshold else 100,
                "missing": max(0, tier.threshold - value),
            }
        )
    return {"rows": rows}


def _best(rows: list[dict]) -> Tier | None:
    reached = [r["tier"] for r in rows if r["reached"]]
    return max(reached, key=lambda t: (t.rank, t.threshold, t.pk)) if reached else None


def standing_recompute(*, advocate: Advocate) -> Standing:
    """Put the advocate in the tier they have earned now; on a change: history, audit,
    entry reward (the first time only), badge and email. Safe to run any time."""
    with transaction.atomic():
        standing, _ = Standing.objects.select_for_update().get_or_create(advocate=advocate)
        tiers = list(Tier.objects.filter(program_id=advocate.program_id).order_by("rank", "pk"))
        best = _best(progress(advocate=advocate, tiers=tiers)["rows"]) if tiers else None
        now = timezone.now()
        if (best.pk if best else None) == standing.tier_id:
            if best is not None and standing.multiplier != best.multiplier:
                standing.multiplier = best.multiplier  # the manager changed the tier
            standing.recomputed_at = now
            standing.save(update_fields=["multiplier", "recomputed_at"])
            return standing
        previous = standing.tier
        standing.tier = best
        standing.multiplier = best.multiplier if best else Decimal("1.00")
        standing.tier_since = now if best else None
        standing.recomputed_at = now
        standing.save(update_fields=["tier", "multiplier", "tier_since", "recomputed_at"])
        change = TierChange.objects.create(advocate=advocate, from_tier=previous, to_tier=best)
        up = best is not None and (previous is None or best.rank > previous.rank)
        audit_log(
            action=AuditAction.TIER_CHANGED,
            obj=advocate,
            program=advocate.program,
            data={"from": previous.name if previous else None, "to": best.name if best else None},
        )
        if best is None:
            return standing
        if up and best.entry_points and advocate.can_earn:
            reward_issue(
                program=advocate.program,
                advocate=advocate,
                key=f"tier-entry:{advocate.pk}:{best.pk}",  # once per tier, ever
                reason=f"Welcome to {best.name}",
                kind=Reward.Kind.POINTS,
                amount_minor=best.entry_points,
                currency=POINTS_CURRENCY,
                hold_days=0,
            )
        if up and best.entry_perk_id and advocate.can_earn:
            perk_grant(
                advocate=advocate,
                perk=best.entry_perk,
                key=f"tier-perk:{advocate.pk}:{best.pk}",  # once per tier, ever
                reason=f"{best.name}: {best.entry_perk.name}",
            )
        if up:
            badges.badge_award(advocate=advocate, code=badges.Code.TIER_REACHED)
        email_queue(
            advocate=advocate,
            template="tier_changed",
            key=f"tier-change:{change.pk}",
            params={
                "tier": best.name,
                "up": up,
                "multiplier": str(best.multiplier),
                "entry_points": best.entry_points if up else 0,
                "perks": best.perk_list,
            },
        )
    return standing


@shared_task(
    name="nurture.tasks.recompute_standing",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=5,
)
def recompute_standing(advocate_id: int) -> bool:
    """The task of an event's tier move (queued in its transaction, see receivers)."""
    advocate = Advocate.objects.select_related("program").filter(pk=advocate_id).first()
    if advocate is None:
        return False
    standing_recompute(advocate=advocate)
    return True


def tier_multiplier(*, advocate) -> Decimal:
    """The multiplier of the advocate's tier (1 without one); rewards asks this, for every
    reward of every order: plain SQL (one row at most, the standing is one per advocate),
    the ORM cost more CPU composing it than the database running it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT multiplier FROM {Standing._meta.db_table}"  # noqa: S608 - fixed name
            " WHERE advocate_id = %s AND tier_id IS NOT NULL",
            [advocate.pk],
        )
        row = cursor.fetchone()
    value = Decimal(str(row[0])) if row and row[0] is not None else None
    return value or Decimal(1)

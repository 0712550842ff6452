"""The fraud engine: assess a referral or an order, act on its rewards, decide reviews.

An assessment is made once per referral (at sign-up) and once per order that earns;
its decision follows the program's rules: ``block`` reverses the advocate's rewards
for it, ``flag`` holds them (they stay pending) for a manager's review until the
program's deadline, when the policy's default applies. Every decision has an audit
row. Rewards change only through ``rewards.services``.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Program
from core.config_cache import ConfigCache
from referrals.models import Click, Conversion, Referral
from rewards import services as reward_services
from rewards.models import Reward

from .checks import SIGNALS, Facts
from .models import Action, Assessment, FraudPolicy, FraudRule

# program id -> its FraudRule rows as (signal, action, threshold), CONFIG_CACHE_SECONDS.
_rules = ConfigCache("fraud rules", invalidated_by=("fraud.FraudRule",))


def program_rules(program: Program) -> dict[str, tuple[str, int | None]]:
    """Each signal's action and threshold for a program: its rules over the defaults."""
    rules = {name: (s.action, s.threshold) for name, s in SIGNALS.items()}
    rows = _rules.get(
        program.pk,
        lambda: list(
            FraudRule.objects.filter(program_id=program.pk)
            .order_by("pk")
            .values_list("signal", "action", "threshold", named=True)
        ),
    )
    for rule in rows:
        if rule.signal in rules:
            default_threshold = rules[rule.signal][1]
            threshold = rule.threshold if rule.threshold is not None else default_threshold
            rules[rule.signal] = (rule.action, threshold)
    return rules


def _policy(program: Program) -> FraudPolicy:
    policy = FraudPolicy.objects.filter(program=program).first()
    return policy or FraudPolicy(program=program)


# program id -> its review deadline in days, CONFIG_CACHE_SECONDS.
_deadlines = ConfigCache("fraud review deadlines", invalidated_by=("fraud.FraudPolicy",))


def _review_deadline_days(program_id: int) -> int:
    return _deadlines.get(program_id, lambda: _policy(Program(pk=program_id)).review_deadline_days)


def _evaluate(facts: Facts, rules) -> tuple[int, str, list[dict]]:
    hits = []
    for name, (action, threshold) in rules.items():
        if action == Action.IGNORE:
            continue
        signal = SIGNALS[name]
        detail = signal.check(facts, threshold)
        if detail:
            hits.append(
                {"signal": name, "action": action, "weight": signal.weight, "detail": detail}
            )
    score = min(100, sum(hit["weight"] for hit in hits))
    if any(hit["action"] == Action.BLOCK for hit in hits):
        decision = Assessment.Decision.BLOCK
    elif hits:
        decision = Assessment.Decision.FLAG
    else:
        decision = Assessment.Decision.ALLOW
    return score, decision, hits


def assessment_for(*, referral: Referral, conversion: Conversion | None = None) -> Assessment:
    """The assessment of a referral, or of its order; made on first use, then kept."""
    if conversion is None:
        found = Assessment.objects.filter(referral=referral, conversion__isnull=True).first()
    elif getattr(conversion, "recorded_now", False):
        # The order was inserted in this very transaction: only this request can have
        # assessed it (for an earlier reward of the same order), and kept it here.
        found = getattr(conversion, "fraud_assessment_made", None)
    else:
        found = Assessment.objects.filter(conversion=conversion).first()
    if found:
        return found
    program = referral.program
    click = Click.objects.filter(pk=referral.click_id).first() if referral.click_id else None
    rules = program_rules(program)
    facts = Facts(
        referral=referral,
        advocate=referral.advocate,
        click=click,
        conversion=conversion,
        signals=frozenset(name for name, (action, _) in rules.items() if action != Action.IGNORE),
    )
    score, decision, hits = _evaluate(facts, rules)
    row = {
        "program": program,
        "referral": referral,
        "conversion": conversion,
        "score": score,
        "decision": decision,
        "hits": hits,
        "created_at": timezone.now(),
    }
    if conversion is not None and getattr(conversion, "recorded_now", False):
        # An order inserted by this transaction: no other can assess it before the
        # commit (its row is not visible to them), so no savepoint is needed.
        assessment = conversion.fraud_assessment_made = Assessment.objects.create(**row)
    else:
        try:
            with transaction.atomic():
                assessment = Assessment.objects.create(**row)
        except IntegrityError:  # made by a concurrent request for the same referral or order
            return assessment_for(referral=referral, conversion=conversion)
    if decision != Assessment.Decision.ALLOW:
        audit_log(
            action=AuditAction.FRAUD_BLOCKED if decision == "block" else AuditAction.FRAUD_FLAGGED,
            obj=assessment,
            program=program,
            data={"score": score, "signals": [hit["signal"] for hit in hits]},
        )
    return assessment


def reward_screen(*, reward: Reward) -> None:
    """Apply the fraud decision on what earned an advocate's reward (inside its transaction)."""
    if reward.recipient != Reward.Recipient.ADVOCATE or reward.referral_id is None:
        return
    assessment = assessment_for(referral=reward.referral, conversion=reward.conversion)
    _apply(assessment, reward)


def _apply(assessment: Assessment, reward: Reward) -> None:
    reasons = f"fraud rules: {assessment.reasons}"[:200]
    if assessment.decision == Assessment.Decision.BLOCK or (
        assessment.review == Assessment.Review.REJECTED
    ):
        reward_services.reward_void(reward_id=reward.pk, reason=reasons)
    elif (
        assessment.decision == Assessment.Decision.FLAG
        and assessment.review in (Assessment.Review.NONE, Assessment.Review.OPEN)
        and reward_services.reward_hold(reward_id=reward.pk, reason=reasons, issued=reward)
    ):
        # A review opens once money waits on it: a flagged sign-up that earns
        # nothing only stays on record (its signals still count, e.g. velocity).
        _open_review(assessment)


def _open_review(assessment: Assessment) -> None:
    days = _review_deadline_days(assessment.program_id)
    due = timezone.now() + timedelta(days=days)
    if Assessment.objects.filter(pk=assessment.pk, review=Assessment.Review.NONE).update(
        review=Assessment.Review.OPEN, review_due_at=due
    ):
        assessment.review, assessment.review_due_at = Assessment.Review.OPEN, due
    else:  # already open (or decided): as it is
        assessment.refresh_from_db(fields=["review", "review_due_at"])


def _held_rewards(assessment: Assessment):
    rewards = Reward.objects.filter(
        recipient=Reward.Recipient.ADVOCATE, referral_id=assessment.referral_id
    )
    if assessment.conversion_id:
        return rewards.filter(conversion_id=assessment.conversion_id)
    return rewards.filter(conversion__isnull=True)


def review_decide(*, assessment_id: int, approve: bool, reason: str = "", actor=None) -> bool:
    """A manager's (or the deadline's) decision on a flagged assessment. Safe to repeat."""
    with transaction.atomic():
        assessment = Assessment.objects.select_for_update().filter(pk=assessment_id).first()
        if assessment is None or assessment.review != Assessment.Review.OPEN:
            return False
        assessment.review = Assessment.Review.APPROVED if approve else Assessment.Review.REJECTED
        assessment.reviewed_at = timezone.now()
        assessment.reviewed_by = actor if getattr(actor, "is_authenticated", False) else None
        assessment.review_reason = reason[:200]
        assessment.save(update_fields=["review", "reviewed_at", "reviewed_by", "review_reason"])
        for reward in _held_rewards(assessment).order_by("pk"):
            if approve:
                reward_services.reward_approve(reward_id=reward.pk, actor=actor)
            else:
                reward_services.reward_void(
                    reward_id=reward.pk,
                    reason=f"fraud review: {reason or 'rejected'}"[:200],
                    actor=actor,
                )
        audit_log(
            action=AuditAction.FRAUD_REVIEWED,
            obj=assessment,
            program=assessment.program,
            actor=actor,
            data={"approved": approve, "reason": reason[:200]},
        )
    return True


def reviews_past_deadline(*, now=None) -> int:
    """Decide the flagged reviews nobody decided in time, as each program's policy says."""
    now = now or timezone.now()
    decided = 0
    due = Assessment.objects.filter(review=Assessment.Review.OPEN, review_due_at__lte=now)
    for assessment_id, program_id in due.values_list("pk", "program_id")[:1000]:
        policy = FraudPolicy.objects.filter(program_id=program_id).first()
        approve = policy is not None and policy.unreviewed == FraudPolicy.Unreviewed.APPROVE
        decided += review_decide(
            assessment_id=assessment_id,
            approve=approve,
            reason="review deadline passed: " + ("approved" if approve else "rejected"),
        )
    return decided


def fraud_config_save(*, obj: FraudRule | FraudPolicy, actor, changed: list[str]) -> None:
    """Save a program's fraud rule or review policy, with an audit row."""
    with transaction.atomic():
        obj.save()
        audit_log(
            action=AuditAction.PROGRAM_UPDATED,
            obj=obj.program,
            program=obj.program,
            actor=actor,
            data={"fraud": str(obj), "changed": changed},
        )

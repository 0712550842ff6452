"""Badges: each earned once, announced by email."""

from django.db import IntegrityError, transaction

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate
from referrals.models import Referral

from .emails import email_queue, engagement_emails_on
from .models import Badge, ChallengeSubmission, Moderation

Code = Badge.Code
REFERRAL_BADGES = ((1, Code.FIRST_REFERRAL), (5, Code.FIVE_REFERRALS), (10, Code.TEN_REFERRALS))
STREAK = 3  # approved challenges in a row make a streak


def badge_award(*, advocate: Advocate, code: str) -> Badge | None:
    """Give the badge unless the advocate has it; returns the new badge or None."""
    if Badge.objects.filter(advocate=advocate, code=code).exists():
        return None
    try:
        with transaction.atomic():
            badge = Badge.objects.create(advocate=advocate, code=code)
    except IntegrityError:
        return None
    audit_log(
        action=AuditAction.BADGE_AWARDED, obj=badge, program=advocate.program, data={"code": code}
    )
    if not engagement_emails_on(advocate.program_id):
        return badge
    email_queue(
        advocate=advocate,
        template="badge",
        key=f"badge:{badge.pk}",
        params={"badge": str(Code(code).label), "code": code},
    )
    return badge


def referral_badges_check(*, advocate: Advocate) -> list[Badge]:
    """Badges and milestone emails for 1, 5 and 10 friends referred (not rejected)."""
    # Counted up to the last milestone only, and the badges held read at once: two
    # small queries per event however many friends a busy advocate has.
    most = REFERRAL_BADGES[-1][0]
    count = (
        Referral.objects.filter(advocate=advocate)
        .exclude(status=Referral.Status.REJECTED)
        .order_by()[:most]
        .count()
    )
    reached = [(needed, code) for needed, code in REFERRAL_BADGES if count >= needed]
    held = set()
    if reached:
        held = set(
            Badge.objects.filter(advocate=advocate, code__in=[c for _, c in reached]).values_list(
                "code", flat=True
            )
        )
    given = []
    for needed, code in reached:
        if code not in held:
            badge = badge_award(advocate=advocate, code=code)
            if badge is not None:
                given.append(badge)
                if needed > 1 and engagement_emails_on(advocate.program_id):
                    email_queue(
                        advocate=advocate,
                        template="milestone",
                        key=f"milestone:{advocate.pk}:{needed}",
                        params={"count": needed},
                    )
    return given


def streak_check(*, advocate: Advocate) -> Badge | None:
    """The streak badge after ``STREAK`` approved challenge entries with no rejection between."""
    latest = list(
        ChallengeSubmission.objects.filter(advocate=advocate)
        .exclude(status=Moderation.PENDING)
        .order_by("-reviewed_at", "-pk")
        .values_list("status", flat=True)[:STREAK]
    )
    if len(latest) == STREAK and all(s == Moderation.APPROVED for s in latest):
        return badge_award(advocate=advocate, code=Code.CHALLENGE_STREAK)
    return None

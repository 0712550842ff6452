"""Reads for the portal, the public widget and the API."""

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils.translation import gettext as _

from advocacy.models import Advocate, Program
from rewards.ledger import POINTS_CURRENCY
from rewards.models import LedgerEntry

from .models import (
    Badge,
    Challenge,
    ChallengeSubmission,
    Moderation,
    ProgramSettings,
    Standing,
    Suggestion,
    SuggestionVote,
    Testimonial,
    Tier,
)
from .tiers import progress

LEADERBOARD_SIZE = 10


def program_settings(program: Program) -> ProgramSettings:
    return ProgramSettings.objects.filter(program=program).first() or ProgramSettings(
        program=program
    )


def standing_of(advocate: Advocate) -> Standing:
    return Standing.objects.filter(advocate=advocate).select_related("tier").first() or Standing(
        advocate=advocate
    )


def club(*, advocate: Advocate) -> dict:
    """The advocate's tier, progress to the next one, badges and the leaderboard."""
    standing = standing_of(advocate)
    tiers = list(Tier.objects.filter(program_id=advocate.program_id).order_by("rank", "pk"))
    rows = progress(advocate=advocate, tiers=tiers)["rows"] if tiers else []
    current_rank = standing.tier.rank if standing.tier else 0
    upcoming = [r for r in rows if r["tier"].rank > current_rank and not r["reached"]]
    settings_row = program_settings(advocate.program)
    return {
        "standing": standing,
        "tier_rows": rows,
        "next_tier": upcoming[0] if upcoming else None,
        "badges": list(Badge.objects.filter(advocate=advocate)),
        "all_badges": Badge.Code.choices,
        "leaderboard": leaderboard(program=advocate.program)
        if settings_row.leaderboard_enabled
        else None,
        "advocate_of_the_month": advocate_of_the_month(program=advocate.program),
    }


def leaderboard(*, program: Program, size: int = LEADERBOARD_SIZE) -> list[dict]:
    """Opted-in advocates by points earned, under the display name they chose only."""
    rows = (
        Standing.objects.filter(
            advocate__program=program,
            leaderboard_opt_in=True,
            advocate__status=Advocate.Status.ACTIVE,
        )
        .exclude(display_name="")
        .annotate(
            points=Sum(
                "advocate__ledger_entries__amount_minor",
                filter=Q(
                    advocate__ledger_entries__currency=POINTS_CURRENCY,
                    advocate__ledger_entries__kind__in=[
                        LedgerEntry.Kind.REWARD_ISSUED,
                        LedgerEntry.Kind.REWARD_REVERSED,
                    ],
                ),
            )
        )
        .order_by("-points", "display_name")
        .values("display_name", "points", "tier__name")[:size]
    )
    return [
        {"rank": i, "name": r["display_name"], "points": r["points"] or 0, "tier": r["tier__name"]}
        for i, r in enumerate(rows, start=1)
    ]


def advocate_of_the_month(*, program: Program) -> str:
    """The featured advocate's public name (only if they chose one), else ""."""
    row = ProgramSettings.objects.filter(program=program).first()
    if row is None or row.advocate_of_the_month_id is None:
        return ""
    standing = Standing.objects.filter(advocate_id=row.advocate_of_the_month_id).first()
    return standing.display_name if standing and standing.display_name else ""


def challenges(*, advocate: Advocate) -> list[dict]:
    """Open challenges (and ones the advocate entered), each with their latest entry."""
    entries = {}
    for s in ChallengeSubmission.objects.filter(advocate=advocate).order_by("created_at", "pk"):
        entries[s.challenge_id] = s  # the latest wins
    rows = []
    for challenge in Challenge.objects.filter(program_id=advocate.program_id).order_by(
        "deadline", "-created_at"
    ):
        entry = entries.get(challenge.pk)
        if not challenge.is_open and entry is None:
            continue
        rows.append(
            {
                "challenge": challenge,
                "entry": entry,
                "can_enter": challenge.is_open
                and (entry is None or entry.status == Moderation.REJECTED),
            }
        )
    return rows


def suggestions(*, advocate: Advocate) -> dict:
    """Open ideas by votes, and "you said, we did": the ideas managers answered."""
    base = (
        Suggestion.objects.filter(program_id=advocate.program_id)
        .annotate(
            vote_count=Count("votes"),
            voted=Exists(
                SuggestionVote.objects.filter(suggestion=OuterRef("pk"), advocate=advocate)
            ),
        )
        .order_by("-vote_count", "-created_at")
    )
    return {
        "open": list(
            base.filter(status__in=[Suggestion.Status.OPEN, Suggestion.Status.PLANNED])[:50]
        ),
        "answered": list(
            base.filter(status__in=[Suggestion.Status.DONE, Suggestion.Status.PLANNED])
            .exclude(reply="")
            .order_by("-replied_at")[:20]
        ),
        "mine": list(base.filter(advocate=advocate).order_by("-created_at")[:20]),
    }


def public_testimonials(*, program: Program, featured_only: bool = False, limit: int = 20):
    """Approved testimonials whose authors consented to publishing, featured first."""
    rows = Testimonial.objects.filter(
        program=program, status=Moderation.APPROVED, consent_to_publish=True
    ).order_by("-featured", "-created_at")
    if featured_only:
        rows = rows.filter(featured=True)
    return list(rows[:limit])


def testimonial_author(testimonial: Testimonial) -> str:
    """The name a published testimonial carries: the one its author gave, else a first name."""
    if testimonial.display_name:
        return testimonial.display_name
    name = (testimonial.advocate.name or "").split()
    return name[0] if name else ""


def reward_label(reward) -> str:
    """What a reward nurture gave is for, in the active language ("" when not nurture's)."""
    key = reward.idempotency_key
    if key.startswith("challenge-submission:"):
        title = reward.reason.removeprefix("Challenge: ")
        return _("Challenge done: %(title)s") % {"title": title}
    if key.startswith("tier-entry:"):
        tier = reward.reason.removeprefix("Welcome to ")
        return _("Welcome bonus for reaching %(tier)s") % {"tier": tier}
    return ""

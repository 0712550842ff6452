"""Reads for programs and advocates, always scoped to a program."""

from django.db.models import Count, Q

from advocacy.errors import NotFound

from .models import Advocate, Program


def advocate_get(*, program: Program, advocate_id) -> Advocate:
    """The advocate with this id in this program; another program's advocate is not found."""
    try:
        advocate_id = int(advocate_id)
    except (TypeError, ValueError):
        advocate_id = None
    advocate = Advocate.objects.filter(program=program, pk=advocate_id).first()
    if advocate is None:
        raise NotFound("advocate_not_found", "No advocate with this id in this program.")
    return advocate


def advocate_stats(*, advocate: Advocate) -> dict:
    from referrals.models import Click, Conversion, Referral

    referrals = Referral.objects.filter(advocate=advocate).aggregate(
        total=Count("pk", filter=~Q(status=Referral.Status.REJECTED))
    )
    return {
        "clicks": Click.objects.filter(advocate=advocate).count(),
        "referrals": referrals["total"],
        "conversions": Conversion.objects.filter(advocate=advocate, attributed=True).count(),
    }

"""Reads for links, referrals and conversions, always scoped to a program."""

import re

from django.db.models import Count, Q

from advocacy.models import Advocate, Program
from core.errors import NotFound

from .clicks import cached_link
from .models import Click, Conversion, Referral, ReferralLink


def conversion_for_order(*, program: Program, order_id: str) -> Conversion:
    # An order id from a URL path may hold anything; PostgreSQL rejects NUL bytes.
    conversion = (
        None
        if "\x00" in order_id
        else Conversion.objects.filter(program=program, order_id=order_id).first()
    )
    if conversion is None:
        raise NotFound("unknown_order", f"No conversion with order id {order_id!r}.")
    return conversion


CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


def link_for_redirect(code: str) -> ReferralLink | None:
    """The link for ``/r/<code>`` with what the redirect needs (cached briefly in process)."""
    if not CODE_RE.fullmatch(code):
        return None
    return cached_link(code.upper(), _load_link)


def _load_link(code: str) -> ReferralLink | None:
    return (
        ReferralLink.objects.select_related("program", "advocate")
        .only(
            "id",
            "code",
            "is_active",
            "program_id",
            "advocate_id",
            "program__landing_url",
            "program__allowed_domains",
            "program__status",
            "program__attribution_window_days",
            "advocate__status",
        )
        .filter(code=code)
        .order_by()
        .first()
    )


def link_accepts_clicks(link: ReferralLink) -> bool:
    return (
        link.is_active
        and link.program.status == Program.Status.ACTIVE
        and link.advocate.status == Advocate.Status.ACTIVE
    )


def advocate_stats(*, advocate: Advocate) -> dict:
    """Clicks, referred friends (not rejected) and attributed purchases of one advocate."""
    referrals = Referral.objects.filter(advocate=advocate).aggregate(
        total=Count("pk", filter=~Q(status=Referral.Status.REJECTED))
    )
    return {
        "clicks": Click.objects.filter(advocate=advocate).count(),
        "referrals": referrals["total"],
        "conversions": Conversion.objects.filter(advocate=advocate, attributed=True).count(),
    }

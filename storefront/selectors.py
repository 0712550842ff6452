"""Reads for the advocate widget: the offer in words, the share links, its stats."""

import re
from datetime import datetime

import qrcode
import qrcode.image.svg
from django.db.models import Count, Q, Value
from django.db.models.functions import Coalesce, NullIf

from advocacy.models import Advocate, Program
from core.normalize import normalize_email
from referrals.models import Click, Conversion, Referral
from referrals.placements import POST_PURCHASE, QR, WIDGET
from referrals.selectors import advocate_stats
from referrals.services import advocate_primary_link, referral_url
from referrals.sharing import share_links
from rewards.offers import friend_discount_percent, offer_summary

from .models import PlacementEvent


def widget_context(*, advocate: Advocate, event_token: str = "") -> dict:
    """What the widget shows an advocate: link, share buttons, offer and stats."""
    program = advocate.program
    url = referral_url(advocate_primary_link(advocate).code)
    return {
        "advocate": advocate,
        "program": program,
        "referral_url": f"{url}?p={WIDGET}",
        "event_token": event_token,
        "offer": offer_summary(program=program, advocate=advocate),
        "share_links": share_links(
            program=program,
            url=url,
            percent=friend_discount_percent(program),
            placement=WIDGET,
            advocate=advocate,
        ),
        "stats": advocate_stats(advocate=advocate),
    }


# ---------------------------------------------------------------- placements


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def placement_funnel(
    *, program: Program, since: datetime | None = None, until: datetime | None = None
) -> list[dict]:
    """The referral funnel per placement (docs/metrics.md, "Placements").

    impressions → shares → clicks → referrals → purchases, each step's count and its
    rate over the step before; the share rate is sharers ÷ unique impressions. Each
    step is counted by its own time (an event's, a click's, a referral's creation, a
    purchase's ``occurred_at``) within [since, until). Placement ``""`` gathers what
    was recorded without one (links shared by hand, older rows).
    """

    def window(field: str) -> Q:
        q = Q()
        if since is not None:
            q &= Q(**{f"{field}__gte": since})
        if until is not None:
            q &= Q(**{f"{field}__lt": until})
        return q

    rows: dict[str, dict] = {}

    def row(placement: str) -> dict:
        return rows.setdefault(
            placement,
            {
                "placement": placement,
                "impressions": 0,
                "unique_impressions": 0,
                "shares": 0,
                "sharers": 0,
                "clicks": 0,
                "referrals": 0,
                "purchases": 0,
            },
        )

    events = (
        PlacementEvent.objects.filter(window("created_at"), program=program)
        .values("placement", "kind")
        .annotate(n=Count("id"), people=Count("viewer", distinct=True))
        .order_by()
    )
    for e in events:
        r = row(e["placement"])
        if e["kind"] == PlacementEvent.Kind.IMPRESSION:
            r["impressions"], r["unique_impressions"] = e["n"], e["people"]
        else:
            r["shares"], r["sharers"] = e["n"], e["people"]
    counted = [
        ("clicks", Click.objects.filter(window("created_at"), program=program), "placement"),
        (
            "referrals",
            Referral.objects.filter(window("created_at"), program=program).exclude(
                status=Referral.Status.REJECTED
            ),
            "placement",
        ),
        (
            "purchases",
            # The friend's referral's placement, else the click's (an anonymous order).
            Conversion.objects.filter(
                window("occurred_at"), program=program, attributed=True, backfill=False
            ).annotate(at=Coalesce(NullIf("referral__placement", Value("")), "click__placement")),
            "at",
        ),
    ]
    for step, queryset, field in counted:
        for c in queryset.values(field).annotate(n=Count("id")).order_by():
            row(c[field] or "")[step] = c["n"]
    for r in rows.values():
        r["share_rate"] = _rate(r["sharers"], r["unique_impressions"])
        r["click_rate"] = _rate(r["clicks"], r["shares"])
        r["referral_rate"] = _rate(r["referrals"], r["clicks"])
        r["purchase_rate"] = _rate(r["purchases"], r["referrals"])
    return sorted(rows.values(), key=lambda r: (-r["purchases"], -r["clicks"], r["placement"]))


# ---------------------------------------------------------------- post-purchase prompt

DEFAULT_BRAND_COLOR = "#1f6feb"


def qr_svg(url: str) -> str:
    """The link as an SVG QR code (a single path), sized by CSS."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    return re.sub(r'width="[^"]*" height="[^"]*" ', "", svg, count=1)


def prompt_context(*, program: Program, advocate: Advocate | None, event_token: str) -> dict:
    """What the prompt shows: the invitation (not yet an advocate) or the link to share."""
    context = {
        "program": program,
        "brand_color": program.brand_color or DEFAULT_BRAND_COLOR,
        "offer": offer_summary(program=program),
        "advocate": advocate,
        "event_token": event_token,
        "terms_version": program.terms_version,
    }
    if advocate is not None and advocate.status == Advocate.Status.ACTIVE:
        code = advocate_primary_link(advocate).code
        url = referral_url(code)
        context.update(
            code=code,
            referral_url=f"{url}?p={POST_PURCHASE}",
            qr_svg=qr_svg(f"{url}?p={QR}"),
            share_links=share_links(
                program=program,
                url=url,
                percent=friend_discount_percent(program),
                placement=POST_PURCHASE,
                advocate=advocate,
            ),
        )
    return context


# ---------------------------------------------------------------- "referred by a friend?"

LOOKUP_MIN_CHARS = 3
LOOKUP_MAX_RESULTS = 5


def _display_name(name: str) -> str:
    """First name and last initial: "Jane Advocate" → "Jane A."."""
    words = name.split()
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return f"{words[0]} {words[-1][0].upper()}."


def lookup_matches(*, program: Program, query: str) -> list[dict]:
    """Findable, active advocates of this program whose name starts a word with ``query``,
    or whose email is exactly ``query``: first name, last initial and (if allowed) city.

    Never an email or a full surname, so typing finds people, not their details.
    """
    query = " ".join(query.split())
    if len(query) < LOOKUP_MIN_CHARS:
        return []
    by_name = Q(name__istartswith=query) | Q(name__icontains=f" {query}")
    if "@" in query:
        by_name = Q(email_normalized=normalize_email(query))
    advocates = (
        Advocate.objects.filter(by_name, program=program, findable=True)
        .filter(status=Advocate.Status.ACTIVE)
        .exclude(name="")
        .order_by("name", "pk")[:LOOKUP_MAX_RESULTS]
    )
    results = []
    for advocate in advocates:
        results.append(
            {
                "name": _display_name(advocate.name),
                "city": advocate.city if advocate.findable_show_city else "",
                "referral_code": advocate_primary_link(advocate).code,
            }
        )
    return results

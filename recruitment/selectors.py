"""Reads: a customer's profile, and the customers of a segment (for campaigns and measurement).

A segment's ``filters`` is a JSON object; every key is optional and all given
keys must hold (AND):

=========================  ===================================================
``score_min``/``score_max``  advocate score, 0-100 (unscored customers never match)
``nps``                      list of categories: "promoter", "passive",
                             "detractor", "none" (never answered)
``orders_min``/``orders_max``  number of orders (backfill included, net of refunds)
``revenue_min``/``revenue_max``  net revenue, a decimal string in the program's currency
``last_order_within_days``   an order in the last N days
``last_order_before_days``   no order in the last N days (lapsed; never ordered: no)
``marketing_consent``        true / false
``advocate``                 true (linked to an advocate) / false (not yet)
``locale``                   list of language codes
``email_domain``             e.g. "example.com"
``attributes``               {"key": value}: each attribute equals its value
=========================  ===================================================
"""

from datetime import UTC, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from advocacy.models import Program
from core.errors import NotFound, ServiceError
from core.money import MoneyError, to_decimal_string, to_minor

from .models import Campaign, CampaignRecipient, Customer, NpsResponse, Segment
from .scoring import MODEL_NAME, latest_nps, order_stats

NPS_CHOICES = {"promoter", "passive", "detractor", "none"}
INT_KEYS = [
    "score_min",
    "score_max",
    "orders_min",
    "orders_max",
    "last_order_within_days",
    "last_order_before_days",
]


def _bad(key: str, message: str) -> ServiceError:
    return ServiceError(
        "invalid_segment", f"{key}: {message}", fields={f"filters.{key}": [message]}
    )


def segment_filters_clean(filters) -> dict:
    """The filters, checked; raises ``ServiceError`` naming the bad key."""
    if not isinstance(filters, dict):
        raise _bad("filters", "Must be an object.")
    known = {
        *INT_KEYS,
        "nps",
        "revenue_min",
        "revenue_max",
        "marketing_consent",
        "advocate",
        "locale",
        "email_domain",
        "attributes",
        "external_ids",
    }
    out = {}
    for key, value in filters.items():
        if key not in known:
            raise _bad(key, "Unknown filter.")
        if value in (None, "", []):
            continue
        if key in INT_KEYS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _bad(key, "A whole number >= 0.")
        elif key == "nps":
            if not isinstance(value, list) or not set(value) <= NPS_CHOICES:
                raise _bad(key, f"A list of {sorted(NPS_CHOICES)}.")
        elif key in ("revenue_min", "revenue_max"):
            if not isinstance(value, str):
                raise _bad(key, 'A decimal string, e.g. "100.00".')
        elif key in ("marketing_consent", "advocate"):
            if not isinstance(value, bool):
                raise _bad(key, "true or false.")
        elif key == "locale":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad(key, "A list of language codes.")
        elif key == "email_domain":
            if not isinstance(value, str):
                raise _bad(key, "A domain name.")
            value = value.strip().lower().lstrip("@")
        elif key == "attributes" and not isinstance(value, dict):
            raise _bad(key, "An object of attribute values.")
        elif key == "external_ids" and (
            not isinstance(value, list)
            or len(value) > 10_000
            or not all(isinstance(v, str) for v in value)
        ):
            raise _bad(key, "A list of at most 10,000 customer ids.")
        out[key] = value
    return out


def _revenue(program: Program, key: str, value: str) -> int:
    try:
        return to_minor(value, program.currency)
    except MoneyError as exc:
        raise _bad(key, str(exc)) from exc


def customers_filter(*, program: Program, filters: dict) -> QuerySet:
    """The program's customers matching ``filters`` (see the module's table)."""
    f = segment_filters_clean(filters)
    qs = Customer.objects.filter(program=program)
    now = timezone.now()
    if "score_min" in f:
        qs = qs.filter(score__gte=f["score_min"])
    if "score_max" in f:
        qs = qs.filter(score__lte=f["score_max"])
    if "nps" in f:
        q = Q(nps_category__in=[c for c in f["nps"] if c != "none"])
        if "none" in f["nps"]:
            q |= Q(nps_category="")
        qs = qs.filter(q)
    if "orders_min" in f:
        qs = qs.filter(order_count__gte=f["orders_min"])
    if "orders_max" in f:
        qs = qs.filter(order_count__lte=f["orders_max"])
    if "revenue_min" in f:
        qs = qs.filter(revenue_minor__gte=_revenue(program, "revenue_min", f["revenue_min"]))
    if "revenue_max" in f:
        qs = qs.filter(revenue_minor__lte=_revenue(program, "revenue_max", f["revenue_max"]))
    if "last_order_within_days" in f:
        qs = qs.filter(last_order_at__gte=now - timedelta(days=f["last_order_within_days"]))
    if "last_order_before_days" in f:
        qs = qs.filter(last_order_at__lt=now - timedelta(days=f["last_order_before_days"]))
    if "marketing_consent" in f:
        qs = qs.filter(marketing_consent=f["marketing_consent"])
    if "advocate" in f:
        qs = qs.filter(advocate__isnull=not f["advocate"])
    if "locale" in f:
        qs = qs.filter(locale__in=f["locale"])
    if "email_domain" in f:
        qs = qs.filter(email_normalized__endswith="@" + f["email_domain"])
    if "external_ids" in f:  # a hand-picked list of customers
        qs = qs.filter(external_id__in=f["external_ids"])
    for key, value in f.get("attributes", {}).items():
        qs = qs.filter(**{f"attributes__{key}": value})
    return qs


def segment_customers(segment: Segment) -> QuerySet:
    """The customers in ``segment`` now (a queryset: count it, page it by pk)."""
    return customers_filter(program=segment.program, filters=segment.filters)


def segment_get(*, program: Program, slug: str) -> Segment:
    segment = Segment.objects.filter(program=program, slug=slug).first()
    if segment is None:
        raise NotFound("unknown_segment", f"No segment {slug!r} in this program.")
    return segment


def customer_get(*, program: Program, external_id: str) -> Customer:
    customer = (
        Customer.objects.filter(program=program, external_id=external_id)
        .select_related("program")
        .first()
    )
    if customer is None:
        raise NotFound("unknown_customer", f"No customer with external_id {external_id!r}.")
    return customer


def customer_profile(*, customer: Customer) -> dict:
    """The customer's API answer: profile, live order history, latest NPS, advocate, score."""
    stats = order_stats(program=customer.program, customers=[customer])[customer.pk]
    nps = latest_nps(customers=[customer]).get(customer.pk)
    return {
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "locale": customer.locale,
        "marketing_consent": customer.marketing_consent,
        "reviews": customer.reviews,
        "review_rating": customer.review_rating,
        "social_engagement": customer.social_engagement,
        "attributes": customer.attributes,
        "orders": stats.count,
        "revenue": {cur: to_decimal_string(v, cur) for cur, v in sorted(stats.revenue.items())},
        "first_order_at": stats.first_at.isoformat() if stats.first_at else None,
        "last_order_at": stats.last_at.isoformat() if stats.last_at else None,
        "nps": nps[0] if nps else None,
        "advocate_id": customer.advocate_id,
        "advocate_score": {
            "score": customer.score,
            "model": customer.score_model or MODEL_NAME,
            "reasons": customer.score_reasons,
        },
        "unsubscribed": customer.unsubscribed_at is not None,
    }


def campaign_get(*, program: Program, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(program=program, pk=campaign_id).first()
    if campaign is None:
        raise NotFound("unknown_campaign", f"No campaign {campaign_id} in this program.")
    return campaign


def campaign_numbers(*, campaign: Campaign) -> dict:
    """The campaign's funnel (contract): recipients, sent, failed, skipped, opened, ..."""
    S = CampaignRecipient.State
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    counts = {
        "recipients": Q(),
        "sent": Q(steps_sent__gte=1),
        "failed": Q(state=S.FAILED),
        "skipped_no_consent": Q(state=S.SKIPPED_NO_CONSENT),
        "opened": Q(opened_at__isnull=False),
        "clicked": Q(clicked_at__isnull=False),
        "joined": Q(joined_at__isnull=False),
        "unsubscribed": Q(state=S.UNSUBSCRIBED),
        "bounced": Q(state=S.BOUNCED),
        "queued": Q(state=S.QUEUED),
    }
    numbers = rows.aggregate(**{k: Count("pk", filter=q) for k, q in counts.items()})
    return {"id": campaign.pk, "status": campaign.status, "step": campaign.step, **numbers}


def nps_over_time(*, program: Program, segment: Segment | None = None, months: int = 12) -> list:
    """NPS per calendar month (UTC) over the last ``months`` months, oldest first.

    Each month: ``{"month": date, "responses", "promoters", "passives",
    "detractors", "nps"}`` where nps = % promoters - % detractors (-100..100), or
    None for a month without answers. Every answer counts in its month. With a
    segment, the answers of the customers in it now.
    """
    now = timezone.now()
    first = now.date().replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    rows = NpsResponse.objects.filter(program=program, occurred_at__gte=since)
    if segment is not None:
        rows = rows.filter(customer__in=segment_customers(segment).values("pk"))
    C = NpsResponse.Category
    counted = {
        r["month"].date(): r
        for r in rows.annotate(month=TruncMonth("occurred_at", tzinfo=UTC))
        .values("month")
        .annotate(
            responses=Count("pk"),
            promoters=Count("pk", filter=Q(category=C.PROMOTER)),
            passives=Count("pk", filter=Q(category=C.PASSIVE)),
            detractors=Count("pk", filter=Q(category=C.DETRACTOR)),
        )
        .order_by("month")
    }
    out = []
    month = first
    for _ in range(months):
        r = counted.get(month)
        n = r["responses"] if r else 0
        out.append(
            {
                "month": month,
                "responses": n,
                "promoters": r["promoters"] if r else 0,
                "passives": r["passives"] if r else 0,
                "detractors": r["detractors"] if r else 0,
                "nps": round(100 * (r["promoters"] - r["detractors"]) / n) if n else None,
            }
        )
        month = (month + timedelta(days=32)).replace(day=1)
    return out


def in_app_invitation(*, advocate) -> CampaignRecipient | None:
    """The campaign invitation to show a customer now signed in to the storefront widget
    ("you're invited"), once: their latest recipient row in a started campaign, not
    shown in the widget yet, and not unsubscribed, bounced, failed or skipped. Opening
    the widget enrols them, so it may already be marked joined."""
    S = CampaignRecipient.State
    match = Q(email_normalized=advocate.email_normalized)
    if advocate.external_id:
        match |= Q(external_id=advocate.external_id)
    return (
        CampaignRecipient.objects.filter(
            campaign__program_id=advocate.program_id,
            campaign__step__gte=1,
            customer__in=Customer.objects.filter(program_id=advocate.program_id).filter(match),
            shown_in_app_at__isnull=True,
        )
        .exclude(state__in=[S.UNSUBSCRIBED, S.BOUNCED, S.FAILED, S.SKIPPED_NO_CONSENT])
        .order_by("-campaign__created_at", "-pk")
        .first()
    )

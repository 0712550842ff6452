"""Which customers a recruitment segment holds, as measurement's customer keys.

Measurement needs only "is this customer in the segment?". Recruitment owns
segments and their filter language; when it offers
``recruitment.selectors.segment_customers(segment)`` (a queryset of
``Customer``) that is used. Until then a minimal reading of
``Segment.filters`` stands in, kept here so it can be dropped in one place:

* ``external_ids``: a list of customer external ids;
* ``nps_category``: promoter / passive / detractor (the customer's latest answer);
* ``marketing_consent``: true / false;
* ``is_advocate``: true / false (the profile is linked to an advocate);
* ``min_score`` / ``max_score``: the advocate score, 0-100.

Unknown keys are ignored by the stand-in.
"""

from django.db.models import OuterRef, QuerySet, Subquery

from recruitment.models import Customer, NpsResponse, Segment

try:  # recruitment's own selector, once it exists
    from recruitment.selectors import segment_customers as _recruitment_segment_customers
except ImportError:  # pragma: no cover - depends on what recruitment ships
    _recruitment_segment_customers = None


def _minimal_segment_customers(segment: Segment) -> QuerySet:
    filters = segment.filters or {}
    customers = Customer.objects.filter(program_id=segment.program_id)
    if "external_ids" in filters:
        customers = customers.filter(external_id__in=list(filters["external_ids"]))
    if "marketing_consent" in filters:
        customers = customers.filter(marketing_consent=bool(filters["marketing_consent"]))
    if "is_advocate" in filters:
        customers = customers.filter(advocate__isnull=not filters["is_advocate"])
    if "min_score" in filters:
        customers = customers.filter(score__gte=int(filters["min_score"]))
    if "max_score" in filters:
        customers = customers.filter(score__lte=int(filters["max_score"]))
    if "nps_category" in filters:
        latest = NpsResponse.objects.filter(customer=OuterRef("pk")).order_by("-occurred_at", "-pk")
        customers = customers.annotate(latest_nps=Subquery(latest.values("category")[:1])).filter(
            latest_nps=filters["nps_category"]
        )
    return customers


def segment_customers(segment: Segment) -> QuerySet:
    if _recruitment_segment_customers is not None:
        return _recruitment_segment_customers(segment)
    return _minimal_segment_customers(segment)


def segment_keys(segment: Segment) -> frozenset[str]:
    """The customer keys (external ids and normalised emails) of the segment's customers."""
    keys: set[str] = set()
    for external_id, email in segment_customers(segment).values_list(
        "external_id", "email_normalized"
    ):
        if external_id:
            keys.add(external_id)
        if email:
            keys.add(email)
    return frozenset(keys)

"""Writes for customers, their order history, NPS answers and segments.

Campaign sending lives in ``recruitment.campaigns``, the score in
``recruitment.scoring``.
"""

from dataclasses import dataclass, field
from datetime import datetime

from allauth.account.models import EmailAddress
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from advocacy.audit import audit_log
from advocacy.models import Advocate, AuditAction, AuditLog, Program
from core.errors import ServiceError
from core.normalize import normalize_email
from referrals.models import Conversion
from rewards import flows

from . import campaigns, scoring, staging
from .models import Customer, NpsResponse, Segment
from .selectors import segment_filters_clean

BACKFILL_REASON = "history (backfill): never attributed"
CUSTOMER_FIELDS = [
    "email",
    "name",
    "locale",
    "marketing_consent",
    "reviews",
    "review_rating",
    "social_engagement",
    "attributes",
]
KEPT_FIELDS = ["email_normalized", "undeliverable_at", "undeliverable_reason"]
# Customers linked and rescored per batch after a bulk write.
RESCORE_BATCH = 1000


@dataclass
class BulkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    existing: int = 0
    errors: list[dict] = field(default_factory=list)

    def error(self, index: int, code: str, message: str, fields: dict | None = None) -> None:
        body = {"code": code, "message": message}
        if fields:
            body["fields"] = fields
        self.errors.append({"index": index, "error": body})


# --- customers ----------------------------------------------------------------


def customers_upsert(*, program: Program, rows: list[tuple[int, dict]]) -> BulkResult:
    """Create or update customers by ``external_id``; each row is a validated dict.

    ``rows`` holds (index in the request, fields). All rows are written in one
    statement (``INSERT ... ON CONFLICT DO UPDATE``), so a batch is applied whole
    or not at all; invalid rows never reach here. A repeated ``external_id`` in
    one batch is an error for the later row. The customers are then linked to
    their advocates and rescored.
    """
    result = BulkResult()
    seen: dict[str, int] = {}
    clean: list[dict] = []
    for index, row in rows:
        ext = row["external_id"]
        if ext in seen:
            result.error(
                index,
                "duplicate_in_batch",
                f"external_id {ext!r} is already in row {seen[ext]} of this batch.",
                {"external_id": ["Repeated in this batch."]},
            )
            continue
        seen[ext] = index
        clean.append(row)
    if not clean:
        return result
    now = timezone.now()
    if staged():
        rows_in = [
            {**row, "email_normalized": normalize_email(row["email"])} if "email" in row else row
            for row in clean
        ]
        result.created, result.updated, result.unchanged, ids = staging.customers_upsert(
            program_id=program.pk, rows=rows_in, now=now
        )
    else:
        ids = _customers_upsert_orm(program=program, clean=clean, result=result, now=now)
    for start in range(0, len(ids), RESCORE_BATCH):
        batch = ids[start : start + RESCORE_BATCH]
        customers_link_advocates(program=program, customer_ids=batch)
        scoring.customers_rescore(program=program, customer_ids=batch)
    return result


def staged() -> bool:
    """Bulk writes go through COPY and a staging table (``recruitment.staging``) on
    PostgreSQL; elsewhere through the ORM. Both give the same rows and counts."""
    return connection.vendor == "postgresql"


def _customers_upsert_orm(
    *, program: Program, clean: list[dict], result: BulkResult, now
) -> list[int]:
    """The ORM path of ``customers_upsert`` (SQLite): returns the rows' customer ids."""
    exts = [row["external_id"] for row in clean]
    existing = {
        c.external_id: c for c in Customer.objects.filter(program=program, external_id__in=exts)
    }
    objs = []
    for row in clean:
        old = existing.get(row["external_id"])
        values = {f: row[f] for f in CUSTOMER_FIELDS if f in row}
        if "email" in values:
            values["email_normalized"] = normalize_email(values["email"])
        if old is None:
            result.created += 1
        elif all(getattr(old, f) == v for f, v in values.items()):
            result.unchanged += 1
            continue
        else:
            result.updated += 1
            # Fields absent from the row keep their stored values; a new address
            # clears an earlier bounce (recruitment.bounces).
            values = {
                **{f: getattr(old, f) for f in [*CUSTOMER_FIELDS, *KEPT_FIELDS]},
                **values,
            }
            if values["email_normalized"] != old.email_normalized:
                values.update(undeliverable_at=None, undeliverable_reason="")
        objs.append(
            Customer(
                program=program,
                external_id=row["external_id"],
                created_at=now,
                updated_at=now,
                **values,
            )
        )
    if objs:
        with transaction.atomic():
            Customer.objects.bulk_create(
                objs,
                update_conflicts=True,
                unique_fields=["program", "external_id"],
                update_fields=[*CUSTOMER_FIELDS, *KEPT_FIELDS, "updated_at"],
                batch_size=1000,
            )
    return list(
        Customer.objects.filter(program=program, external_id__in=exts)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _verified_email(advocate: Advocate, verified: set[tuple[int, str]]) -> bool:
    """An advocate's email is trusted when the merchant gave it (no account) or the
    advocate's account verified it (allauth)."""
    return advocate.user_id is None or (advocate.user_id, advocate.email_normalized) in verified


def _verified_pairs(advocates: list[Advocate]) -> set[tuple[int, str]]:
    user_ids = [a.user_id for a in advocates if a.user_id]
    if not user_ids:
        return set()
    return {
        (user_id, normalize_email(email))
        for user_id, email in EmailAddress.objects.filter(
            user_id__in=user_ids, verified=True
        ).values_list("user_id", "email")
    }


def customers_link_advocates(*, program: Program, customer_ids: list[int]) -> int:
    """Link customers without an advocate to theirs: same external id, else verified email."""
    customers = list(
        Customer.objects.filter(program=program, pk__in=customer_ids, advocate__isnull=True)
    )
    if not customers:
        return 0
    exts = [c.external_id for c in customers]
    emails = [c.email_normalized for c in customers if c.email_normalized]
    advocates = list(
        Advocate.objects.filter(program=program).filter(
            Q(external_id__in=exts) | Q(email_normalized__in=emails)
        )
    )
    verified = _verified_pairs(advocates)
    by_ext = {a.external_id: a for a in advocates if a.external_id}
    by_email = {a.email_normalized: a for a in advocates if _verified_email(a, verified)}
    linked = []
    for c in customers:
        advocate = by_ext.get(c.external_id) or by_email.get(c.email_normalized or None)
        if advocate is not None:
            c.advocate = advocate
            linked.append(c)
    Customer.objects.bulk_update(linked, ["advocate"], batch_size=500)
    return len(linked)


def advocate_link_customers(*, advocate: Advocate) -> int:
    """A new advocate: link the program's customers with their external id or verified email.

    Runs inside the advocate's enrolment (``advocacy.events.advocate_enrolled``).
    """
    match = Q(email_normalized=advocate.email_normalized)
    if advocate.user_id is not None and not _verified_email(advocate, _verified_pairs([advocate])):
        match = Q(pk__in=[])
    if advocate.external_id:
        match |= Q(external_id=advocate.external_id)
    return (
        Customer.objects.filter(program_id=advocate.program_id, advocate__isnull=True)
        .filter(match)
        .update(advocate=advocate, updated_at=timezone.now())
    )


# --- order history --------------------------------------------------------------


def conversions_bulk_record(
    *, program: Program, rows: list[tuple[int, dict]], backfill: bool
) -> BulkResult:
    """Record orders one by one (each its own transaction), collecting errors per row.

    With ``backfill`` they are history (``Conversion.backfill``): never attributed,
    never rewarded. Without it each goes through the normal conversion flow. The
    customers of these orders are rescored afterwards.
    """
    result = BulkResult()
    exts: set[str] = set()
    emails: set[str] = set()
    if backfill:
        done = _backfill(program=program, rows=rows, result=result)
    else:
        done = []
        for index, facts in rows:
            try:
                _, created = flows.conversion_record(program=program, **facts)
            except ServiceError as exc:
                result.error(index, exc.code, exc.message, exc.fields)
                continue
            result.created += created
            result.existing += not created
            done.append(facts)
    for facts in done:
        if facts.get("customer_external_id"):
            exts.add(facts["customer_external_id"])
        elif facts.get("customer_email"):
            emails.add(normalize_email(facts["customer_email"]))
    ids = scoring.customers_for_orders(program=program, external_ids=exts, emails=emails)
    for start in range(0, len(ids), 1000):
        scoring.customers_rescore(program=program, customer_ids=ids[start : start + 1000])
    return result


def _backfill(*, program: Program, rows: list[tuple[int, dict]], result: BulkResult) -> list:
    """History in bulk: one INSERT for the batch's new orders, each never attributed.

    The same rows as ``referrals.services.conversion_record(backfill=True)`` writes
    one by one (and an audit row each), ~50x faster: an order id already
    recorded with the same body is "existing", with another body an
    ``order_conflict`` row, and a repeated order id in the batch an error.
    """
    seen: dict[str, int] = {}
    batch = []
    for index, facts in rows:
        if facts["order_id"] in seen:
            result.error(
                index,
                "duplicate_in_batch",
                f"order_id {facts['order_id']!r} is already in row {seen[facts['order_id']]}.",
                {"order_id": ["Repeated in this batch."]},
            )
            continue
        seen[facts["order_id"]] = index
        batch.append((index, facts))
    now = timezone.now()
    if staged():
        return _backfill_staged(program=program, batch=batch, result=result, now=now)
    with transaction.atomic():
        before = dict(
            Conversion.objects.filter(program=program, order_id__in=list(seen)).values_list(
                "order_id", "request_fingerprint"
            )
        )
        Conversion.objects.bulk_create(
            [
                Conversion(
                    program=program,
                    order_id=f["order_id"],
                    amount_minor=f["amount_minor"],
                    currency=f["currency"],
                    customer_email=f.get("customer_email") or "",
                    customer_email_normalized=normalize_email(f.get("customer_email")),
                    customer_external_id=f.get("customer_external_id") or "",
                    attribution_reason=BACKFILL_REASON,
                    backfill=True,
                    request_fingerprint=f["fingerprint"],
                    occurred_at=f["occurred_at"],
                    created_at=now,
                )
                for _, f in batch
                if f["order_id"] not in before
            ],
            ignore_conflicts=True,  # a concurrent batch with the same order: it won
            batch_size=1000,
        )
        after = {
            order_id: (pk, fp)
            for order_id, pk, fp in Conversion.objects.filter(
                program=program, order_id__in=list(seen)
            ).values_list("order_id", "pk", "request_fingerprint")
        }
        done, audits = [], []
        for index, f in batch:
            pk, fp = after[f["order_id"]]
            if fp != f["fingerprint"]:
                result.error(
                    index,
                    "order_conflict",
                    f"Order {f['order_id']!r} was already recorded with a different body.",
                )
                continue
            done.append(f)
            if f["order_id"] in before:
                result.existing += 1
                continue
            result.created += 1
            audits.append(
                AuditLog(
                    program=program,
                    action=AuditAction.CONVERSION_RECORDED,
                    object_type=Conversion._meta.label_lower,
                    object_id=str(pk),
                    data={"attributed": False, "reason": BACKFILL_REASON, "backfill": True},
                    created_at=now,
                )
            )
        AuditLog.objects.bulk_create(audits, batch_size=1000)
    return done


def _backfill_staged(
    *, program: Program, batch: list[tuple[int, dict]], result: BulkResult, now
) -> list:
    """``_backfill`` on PostgreSQL: COPY to a staging table, one INSERT ... SELECT."""
    if not batch:
        return []
    created, conflicts = staging.orders_backfill(
        program_id=program.pk, rows=batch, reason=BACKFILL_REASON, now=now
    )
    done = []
    for index, f in batch:
        if index in conflicts:
            result.error(
                index,
                "order_conflict",
                f"Order {f['order_id']!r} was already recorded with a different body.",
            )
            continue
        done.append(f)
        if index in created:
            result.created += 1
        else:
            result.existing += 1
    return done


# --- NPS ---------------------------------------------------------------------------


def customer_find(
    *, program: Program, external_id: str | None = None, email: str = ""
) -> Customer | None:
    if external_id:
        found = Customer.objects.filter(program=program, external_id=external_id).first()
        if found:
            return found
    if email:
        return (
            Customer.objects.filter(program=program, email_normalized=normalize_email(email))
            .order_by("pk")
            .first()
        )
    return None


def nps_record(
    *,
    program: Program,
    score: int,
    customer_external_id: str | None = None,
    customer_email: str = "",
    comment: str = "",
    occurred_at: datetime | None = None,
    survey=None,
) -> NpsResponse:
    """Record one NPS answer; a detractor opens a follow-up, a promoter may be invited."""
    if not 0 <= score <= 10:
        raise ServiceError("validation_error", "The score is 0-10.", fields={"score": ["0-10."]})
    customer = customer_find(
        program=program, external_id=customer_external_id, email=customer_email
    )
    category = NpsResponse.category_for(score)
    with transaction.atomic():
        response = NpsResponse.objects.create(
            program=program,
            customer=customer,
            customer_external_id=customer_external_id or (customer.external_id if customer else ""),
            customer_email_normalized=normalize_email(customer_email)
            or (customer.email_normalized if customer else ""),
            score=score,
            category=category,
            comment=comment,
            occurred_at=occurred_at or timezone.now(),
            survey=survey,
            followup_status=NpsResponse.FollowUp.OPEN
            if category == NpsResponse.Category.DETRACTOR
            else NpsResponse.FollowUp.NONE,
        )
        if customer is not None and category == NpsResponse.Category.PROMOTER:
            campaigns.promoter_invite(customer=customer)
    if customer is not None:
        scoring.customers_rescore(program=program, customer_ids=[customer.pk])
    return response


def nps_followup_update(
    *, response: NpsResponse, status: str, owner=None, note: str | None = None
) -> NpsResponse:
    """Move a detractor's follow-up along (owner, status, note)."""
    with transaction.atomic():
        response = NpsResponse.objects.select_for_update().get(pk=response.pk)
        response.followup_status = status
        response.followup_owner = owner
        if note is not None:
            response.followup_note = note
        response.save(update_fields=["followup_status", "followup_owner", "followup_note"])
    return response


# --- segments ------------------------------------------------------------------------


def segment_save(*, segment: Segment, actor=None) -> Segment:
    """Save a segment after checking its filters (audited: created or changed)."""
    segment.filters = segment_filters_clean(segment.filters)
    created = segment.pk is None
    try:
        with transaction.atomic():
            segment.save()
            audit_log(
                action=AuditAction.SEGMENT_CREATED if created else AuditAction.SEGMENT_UPDATED,
                obj=segment,
                program=segment.program,
                actor=actor,
                data={"name": segment.name, "slug": segment.slug, "filters": segment.filters},
            )
    except IntegrityError as exc:
        raise ServiceError("slug_taken", f"A segment named {segment.slug!r} exists.") from exc
    return segment


# --- settings ------------------------------------------------------------------------


def recruitment_settings_save(*, obj, changed: list[str], actor=None):
    """Save a program's recruitment settings (weights, limits, ranking), audited."""
    with transaction.atomic():
        before = type(obj).objects.filter(pk=obj.pk).first() if obj.pk else None
        obj.save()
        audit_log(
            action=AuditAction.RECRUITMENT_SETTINGS_UPDATED,
            obj=obj,
            program=obj.program,
            actor=actor,
            data={
                f: [getattr(before, f) if before else None, getattr(obj, f)]
                for f in changed
                if f != "program"
            },
        )
    return obj

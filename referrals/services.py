"""Writes for clicks, referred friends, purchases and refunds."""

import hashlib
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate, Program, random_code
from core import rows
from core.errors import Conflict, NotFound, ServiceError, Unprocessable
from core.normalize import normalize_email

from . import clicks, events
from .models import Click, Conversion, Referral, ReferralLink, Refund
from .placements import NAME_LOOKUP, placement_clean

_LINKS, _ADVOCATES = ReferralLink._meta.db_table, Advocate._meta.db_table
_REFERRALS = Referral._meta.db_table


def referral_url(code: str) -> str:
    """The public link a friend follows: ``<SITE_URL>/r/<code>``."""
    return f"{settings.SITE_URL}/r/{code}"


def _new_link_code() -> str:
    for _ in range(10):
        code = random_code(8)
        if not ReferralLink.objects.filter(code=code).exists():
            return code
    raise RuntimeError("Could not find a free referral code.")  # pragma: no cover


def _create_primary_link(advocate: Advocate) -> ReferralLink:
    # The unique index is the real guard; retry in the (rare) race for a code.
    for _ in range(5):
        try:
            with transaction.atomic():
                return ReferralLink.objects.create(
                    program=advocate.program, advocate=advocate, code=_new_link_code()
                )
        except IntegrityError:
            continue
    raise RuntimeError("Could not create a referral link.")  # pragma: no cover


def advocate_primary_link(advocate: Advocate) -> ReferralLink:
    """The advocate's oldest active link, created when they have none."""
    link = advocate.links.filter(is_active=True).order_by("created_at").first()
    return link or _create_primary_link(advocate)


def advocate_link_setup(*, advocate: Advocate) -> ReferralLink:
    """Give a newly enrolled advocate their link, and its code as their personal coupon code."""
    link = advocate_primary_link(advocate)
    if not advocate.coupon_code:
        advocate.coupon_code = link.code
        advocate.save(update_fields=["coupon_code"])
    return link


def click_record(
    *,
    link: ReferralLink,
    channel: str = "",
    user_agent: str = "",
    ip: str = "",
    placement: str = "",
    referrer: str = "",
) -> uuid.UUID:
    """Record a click on a referral link; returns the click id for the landing URL.

    ``referrer`` is the request's ``Referer``: only its host is kept. The row may be
    written a moment later, in a batch (see ``referrals.clicks``).
    """
    placement = placement_clean(placement)
    click_id = clicks.new_click_id(link.pk, placement=placement)
    clicks.click_write(
        (
            click_id,
            link.program_id,
            link.pk,
            link.advocate_id,
            # Query strings and headers are untrusted: PostgreSQL rejects NUL bytes.
            channel.replace("\x00", "")[:30],
            user_agent.replace("\x00", "")[:300],
            hashlib.sha256(ip.encode()).hexdigest() if ip else "",
            timezone.now(),
            placement,
            referrer_host(referrer),
        )
    )
    return click_id


def referrer_host(referrer: str) -> str:
    """The host of a ``Referer`` header ("" when absent or unreadable)."""
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer.replace("\x00", "")).hostname or ""
    except ValueError:
        return ""
    return host[:255]


def _is_self_referral(
    advocate: Advocate,
    *,
    email_normalized: str,
    external_id: str | None,
    payment_fingerprint: str = "",
) -> str | None:
    if email_normalized and email_normalized == advocate.email_normalized:
        return "self-referral: the friend's email is the advocate's own"
    if external_id and advocate.external_id and external_id == advocate.external_id:
        return "self-referral: the friend's customer id is the advocate's own"
    if payment_fingerprint and _advocate_used_card(advocate, payment_fingerprint):
        return "self-referral: paid with the advocate's own card"
    return None


def _advocate_used_card(advocate: Advocate, payment_fingerprint: str) -> bool:
    """Has the advocate themself paid with this card (in any of their own orders)?"""
    own = Q(customer_email_normalized=advocate.email_normalized)
    if advocate.external_id:
        own |= Q(customer_external_id=advocate.external_id)
    return (
        Conversion.objects.filter(
            program_id=advocate.program_id, payment_fingerprint=payment_fingerprint
        )
        .filter(own)
        .exists()
    )


def _resolve_code(program: Program, code: str) -> ReferralLink:
    # Codes are stored upper-case: an exact match uses the unique index on code.
    link = (
        ReferralLink.objects.select_related("advocate")
        .filter(program=program, code=code.strip().upper())
        .order_by()
        .first()
    )
    if link is None:
        raise Unprocessable(
            "unknown_referral_code",
            "No referral link in this program has this code.",
            fields={"referral_code": ["Unknown referral code."]},
        )
    return link


def _resolve_code_and_referral(
    program: Program, code: str, email_normalized: str
) -> tuple[ReferralLink, Referral | None]:
    """``_resolve_code`` and the friend's referral by email (``_find_referral``), read
    by one statement: the two look-ups of nearly every order by referral code."""
    sql = (
        f"SELECT {rows.columns(ReferralLink, 'l')}, {rows.columns(Advocate, 'a')},"  # noqa: S608 - fixed names
        f" {rows.columns(Referral, 'r')}"
        f" FROM {_LINKS} l INNER JOIN {_ADVOCATES} a ON a.id = l.advocate_id"
        f" LEFT JOIN {_REFERRALS} r ON r.program_id = %s AND r.friend_email_normalized = %s"
        " WHERE l.program_id = %s AND l.code = %s"
    )
    # An email is unique per program (referral_unique_friend_email): at most one row.
    params = [program.pk, email_normalized or None, program.pk, code.strip().upper()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise Unprocessable(
            "unknown_referral_code",
            "No referral link in this program has this code.",
            fields={"referral_code": ["Unknown referral code."]},
        )
    link = rows.instance(ReferralLink, row)
    advocate = rows.instance(Advocate, row, rows.width(ReferralLink))
    link._state.fields_cache["advocate"] = advocate
    referral = rows.instance(Referral, row, rows.width(ReferralLink) + rows.width(Advocate))
    return link, referral


def _resolve_click(program: Program, click_id: uuid.UUID) -> Click:
    click = (
        Click.objects.select_related("advocate", "link")
        .filter(program=program, pk=click_id)
        .first()
    ) or _click_from_id(program, click_id)
    if click is None:
        raise Unprocessable(
            "unknown_click",
            "No click in this program has this id.",
            fields={"click_id": ["Unknown click id."]},
        )
    return click


def _click_from_id(program: Program, click_id: uuid.UUID) -> Click | None:
    """A genuine click id whose row is not written (yet, or lost): recreate the row."""
    parsed = clicks.parse_click_id(click_id)
    if parsed is None:
        return None
    link_id, at = parsed
    link = ReferralLink.objects.filter(program=program, pk=link_id).first()
    if link is None:
        return None
    Click.objects.bulk_create(
        [
            Click(
                id=click_id,
                program=program,
                link=link,
                advocate_id=link.advocate_id,
                created_at=at,
                placement=clicks.click_id_placement(click_id),
            )
        ],
        ignore_conflicts=True,
    )
    return Click.objects.select_related("advocate", "link").get(pk=click_id)


def referral_create(
    *,
    program: Program,
    friend_email: str = "",
    friend_external_id: str | None = None,
    friend_name: str = "",
    referral_code: str | None = None,
    click_id: uuid.UUID | None = None,
    placement: str = "",
    from_browser: bool = False,
) -> tuple[Referral, bool]:
    """Record a referred friend's sign-up; the same friend again returns the first record.

    The referral's placement is its click's, else the one passed (e.g. ``name_lookup``).
    ``from_browser``: sent with the publishable key, which anyone can use. Only a click
    on the advocate's link (its signed id) vouches for such a sign-up; without one the
    referral is recorded unverified.
    """
    click = _resolve_click(program, click_id) if click_id else None
    link = click.link if click else _resolve_code(program, referral_code or "")
    advocate = link.advocate
    normalized = normalize_email(friend_email)
    existing = _find_referral(program, normalized, friend_external_id)
    if existing:
        return existing, False
    reason = _is_self_referral(
        advocate, email_normalized=normalized, external_id=friend_external_id
    )
    if reason is None and not advocate.can_earn:
        reason = f"advocate is {advocate.status}"
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                program=program,
                advocate=advocate,
                link=link,
                click=click,
                friend_email=friend_email,
                friend_email_normalized=normalized,
                friend_external_id=friend_external_id or None,
                friend_name=friend_name,
                placement=(click.placement if click else "") or placement_clean(placement),
                status=Referral.Status.REJECTED if reason else Referral.Status.SIGNED_UP,
                rejection_reason=reason or "",
                verified=not (from_browser and click is None),
            )
            audit_log(action=AuditAction.REFERRAL_CREATED, obj=referral, program=program)
            events.referral_created.send(sender=Referral, referral=referral)
    except IntegrityError:
        existing = _find_referral(program, normalized, friend_external_id)
        if existing is None:
            raise
        return existing, False
    return referral, True


def _find_referral(program: Program, email_normalized: str, external_id: str | None):
    if email_normalized:
        found = (
            Referral.objects.filter(program=program, friend_email_normalized=email_normalized)
            .order_by()
            .first()
        )
        if found:
            return found
    if external_id:
        return Referral.objects.filter(program=program, friend_external_id=external_id).first()
    return None


@dataclass
class Attribution:
    method: str = Conversion.Method.NONE
    reason: str = "no click id, referral code or advocate coupon code"
    advocate: Advocate | None = None
    link: ReferralLink | None = None
    click: Click | None = None
    referral: Referral | None = None
    started_at: datetime | None = None
    rejected: bool = False
    self_referral: bool = False
    placement: str = ""


def _attribute(
    *,
    program: Program,
    occurred_at: datetime,
    email_normalized: str,
    external_id: str | None,
    referral_code: str | None,
    click_id: uuid.UUID | None,
    coupon_code: str | None,
    payment_fingerprint: str = "",
    placement: str = "",
) -> Attribution:
    """Decide who, if anyone, referred this purchase: click, then code, then coupon.

    A code picked by the friend at checkout (placement ``name_lookup``) is attributed
    by the method of that name; it follows the same rules as a code.
    """
    if referral_code and not click_id:
        link, known = _resolve_code_and_referral(program, referral_code, email_normalized)
        if known is None and external_id:
            known = _find_referral(program, "", external_id)
    else:
        known = _find_referral(program, email_normalized, external_id)
    if known is not None and not known.verified:
        # A sign-up nobody vouched for (see referral_create) neither attributes an
        # order by itself nor keeps the customer from the advocate who did refer them.
        claim = known
        known = None
    else:
        claim = None
    if click_id:
        click = _resolve_click(program, click_id)
        found = Attribution(
            method=Conversion.Method.CLICK,
            reason=f"click {click.pk}",
            advocate=click.advocate,
            link=click.link,
            click=click,
            started_at=click.created_at,
            placement=click.placement,
        )
    elif referral_code:
        by_name = placement == NAME_LOOKUP
        found = Attribution(
            method=Conversion.Method.NAME_LOOKUP if by_name else Conversion.Method.REFERRAL_CODE,
            reason=f"{'advocate picked by name, code' if by_name else 'referral code'} {link.code}",
            advocate=link.advocate,
            link=link,
            placement=placement,
        )
    elif coupon_code and (
        advocate := Advocate.objects.filter(
            program=program, coupon_code__iexact=coupon_code.strip()
        ).first()
    ):
        found = Attribution(
            method=Conversion.Method.COUPON,
            reason=f"coupon code {advocate.coupon_code}",
            advocate=advocate,
        )
    elif known:
        found = Attribution(
            method=Conversion.Method.REFERRED_CUSTOMER,
            reason=f"customer was referred (referral {known.pk})",
            advocate=known.advocate,
            link=known.link,
            started_at=known.created_at,
        )
    else:
        return Attribution()

    if claim is not None:
        found.referral = claim  # verified by this order: see _referral_for_conversion
    elif known and known.advocate_id == found.advocate.pk:
        found.referral = known
        found.started_at = found.started_at or known.created_at
    elif known:
        # The customer was first referred by someone else: the first referrer keeps them.
        return Attribution(
            reason=f"{found.reason} ignored: customer was already referred by advocate "
            f"{known.advocate_id}",
            referral=None,
        )

    reason = _is_self_referral(
        found.advocate,
        email_normalized=email_normalized,
        external_id=external_id,
        payment_fingerprint=payment_fingerprint,
    )
    found.self_referral = reason is not None
    if (
        reason is None
        and found.referral
        and found.referral.status == Referral.Status.REJECTED
        and found.referral.advocate_id == found.advocate.pk
    ):
        reason = f"referral was rejected ({found.referral.rejection_reason})"
    if reason is None and not found.advocate.can_earn:
        reason = f"advocate is {found.advocate.status}"
    converted = found.referral is not None and found.referral.status == Referral.Status.CONVERTED
    # The window bounds the way to a first purchase; a converted friend's later
    # purchases (subscriptions) stay theirs, and the rules limit their rewards.
    if reason is None and found.started_at is not None and not converted:
        window = timedelta(days=program.attribution_window_days)
        if occurred_at - found.started_at > window:
            reason = f"outside the {program.attribution_window_days}-day attribution window"
    if reason:
        found.rejected = True
        found.reason = f"{found.reason}; not rewarded: {reason}"
    return found


def conversion_record(
    *,
    program: Program,
    order_id: str,
    amount_minor: int,
    currency: str,
    fingerprint: str,
    customer_email: str = "",
    customer_external_id: str | None = None,
    referral_code: str | None = None,
    click_id: uuid.UUID | None = None,
    coupon_code: str | None = None,
    placement: str = "",
    occurred_at: datetime | None = None,
    source: str = "api",
    stripe_payment_intent: str = "",
    payment_fingerprint: str = "",
    backfill: bool = False,
    savepoints: bool = True,
) -> tuple[Conversion, bool]:
    """Record a purchase once per order id, attribute it and issue its rewards.

    The same order again returns the original conversion (``created`` False);
    the same order with a different body raises ``Conflict``. A ``backfill``
    order is history: recorded, never attributed (so never rewarded).

    A concurrent request that inserts the same order (or the same friend's
    referral) first is caught at a savepoint. ``savepoints=False`` skips them,
    and the look-up of the order before anything is written: the
    ``IntegrityError`` of an order recorded before (or meanwhile) reaches the
    caller, whose whole transaction is lost, and who runs it again
    (``rewards.flows.conversion_record``): the second run finds the order.
    """
    if savepoints:
        existing = _recorded_order(program, order_id)
        if existing:
            return _same_order(existing, fingerprint), False
    # Without savepoints the order is not looked up first (one statement fewer for every
    # new order): a recorded one makes the INSERT below fail, and the caller runs again
    # with savepoints, which finds it. Only what could fail before that INSERT (an
    # unknown code: its link deleted since) looks the order up.

    occurred_at = occurred_at or timezone.now()
    email_normalized = normalize_email(customer_email)
    try:
        decision = (
            Attribution(reason="history (backfill): never attributed")
            if backfill
            else _attribute(
                program=program,
                occurred_at=occurred_at,
                email_normalized=email_normalized,
                external_id=customer_external_id,
                referral_code=referral_code,
                click_id=click_id,
                coupon_code=coupon_code,
                payment_fingerprint=payment_fingerprint,
                placement=placement_clean(placement),
            )
        )
    except ServiceError:
        existing = None if savepoints else _recorded_order(program, order_id)
        if existing:
            return _same_order(existing, fingerprint), False
        raise
    conversion = Conversion(
        program=program,
        order_id=order_id,
        amount_minor=amount_minor,
        currency=currency,
        customer_email=customer_email,
        customer_email_normalized=email_normalized,
        customer_external_id=customer_external_id or "",
        advocate=decision.advocate,
        click=decision.click,
        attributed=decision.advocate is not None and not decision.rejected,
        attribution_method=decision.method,
        attribution_reason=decision.reason[:300],
        request_fingerprint=fingerprint,
        occurred_at=occurred_at,
        source=source,
        stripe_payment_intent=stripe_payment_intent,
        payment_fingerprint=payment_fingerprint,
        backfill=backfill,
    )
    identified = bool(email_normalized or customer_external_id)
    try:
        with transaction.atomic() if savepoints else nullcontext():
            # The friend's referral first, so the order is inserted with it in one go;
            # a duplicate order rolls both back.
            if decision.referral is not None or (
                identified
                and decision.advocate is not None
                and (not decision.rejected or decision.self_referral)
            ):
                conversion.referral = _referral_for_conversion(
                    program, decision, conversion, savepoints=savepoints
                )
            conversion.save(force_insert=True)
            conversion.recorded_now = True  # inserted by this transaction (see fraud)
            audit_log(
                action=AuditAction.CONVERSION_RECORDED,
                obj=conversion,
                program=program,
                data={"attributed": conversion.attributed, "reason": conversion.attribution_reason},
            )
            if conversion.attributed:
                events.conversion_attributed.send(sender=Conversion, conversion=conversion)
    except IntegrityError:
        if not savepoints:
            raise
        # Another request recorded this order first (the unique index decides).
        existing = Conversion.objects.filter(program=program, order_id=order_id).first()
        if existing is None:
            raise
        return _same_order(existing, fingerprint), False
    return conversion, True


def _recorded_order(program: Program, order_id: str) -> Conversion | None:
    return Conversion.objects.filter(program=program, order_id=order_id).order_by().first()


def _same_order(conversion: Conversion, fingerprint: str) -> Conversion:
    if conversion.request_fingerprint != fingerprint:
        raise Conflict(
            "order_conflict",
            f"Order {conversion.order_id!r} was already recorded with a different body.",
        )
    return conversion


def _referral_for_conversion(
    program: Program, decision: Attribution, conversion: Conversion, *, savepoints: bool = True
) -> Referral:
    """The friend's referral record, created at first purchase when they never signed up.

    When this purchase converts the friend, it is their first attributed one: the
    rules need not count (``conversion.purchase_number``).
    """
    now = timezone.now()
    referral = decision.referral
    if referral is not None and not referral.verified:
        # The merchant's server names the referrer: the unverified sign-up becomes theirs.
        if referral.advocate_id != decision.advocate.pk:
            # Another advocate's unverified claim (rejected or not) starts over as theirs.
            referral.status, referral.rejection_reason = Referral.Status.SIGNED_UP, ""
        referral.advocate, referral.link, referral.verified = decision.advocate, decision.link, True
        referral.click = decision.click or referral.click
        referral.save(
            update_fields=["advocate", "link", "click", "verified", "status", "rejection_reason"]
        )
    if referral is None:
        try:
            with transaction.atomic() if savepoints else nullcontext():
                referral = Referral.objects.create(
                    program=program,
                    advocate=decision.advocate,
                    link=decision.link,
                    click=decision.click,
                    friend_email=conversion.customer_email,
                    friend_email_normalized=conversion.customer_email_normalized,
                    friend_external_id=conversion.customer_external_id or None,
                    placement=decision.placement,
                    status=Referral.Status.REJECTED
                    if decision.rejected
                    else Referral.Status.CONVERTED,
                    rejection_reason=decision.reason[:200] if decision.rejected else "",
                    converted_at=None if decision.rejected else now,
                )
            referral.created_now = True  # inserted by this transaction (see rewards.rules)
            if not decision.rejected:
                conversion.purchase_number = 1
        except IntegrityError:
            if not savepoints:
                raise
            # The same friend's first order arrived twice at once under two order ids.
            referral = _find_referral(
                program,
                conversion.customer_email_normalized,
                conversion.customer_external_id or None,
            )
            if referral is None:
                raise
            return referral
    elif not decision.rejected and referral.status == Referral.Status.SIGNED_UP:
        # Of two orders converting the friend at once, one wins this update (the row
        # lock makes the other re-read the status); only the winner is known to be first.
        won = Referral.objects.filter(pk=referral.pk, status=Referral.Status.SIGNED_UP).update(
            status=Referral.Status.CONVERTED, converted_at=now
        )
        referral.status, referral.converted_at = Referral.Status.CONVERTED, now
        if won:
            conversion.purchase_number = 1
    return referral


def conversion_refund(
    *,
    program: Program,
    order_id: str,
    amount_minor: int | None = None,
    idempotency_key: str | None = None,
) -> tuple[Conversion, Refund | None, bool]:
    """Refund an order in whole or in part and reverse its rewards in proportion."""
    with transaction.atomic():
        # The row lock serialises refunds of one order: no double reversal.
        conversion = (
            Conversion.objects.select_for_update()
            .filter(program=program, order_id=order_id)
            .first()
        )
        if conversion is None:
            raise NotFound("unknown_order", f"No conversion with order id {order_id!r}.")
        if idempotency_key:
            done = conversion.refunds.filter(idempotency_key=idempotency_key).first()
            if done:
                return conversion, done, False
        remaining = conversion.amount_minor - conversion.refunded_minor
        if amount_minor is None:
            if remaining == 0:
                return conversion, conversion.refunds.last(), False
            amount_minor = remaining
        if amount_minor > remaining:
            raise Unprocessable(
                "refund_exceeds_order",
                "The refund is larger than what is left of the order.",
                fields={"amount": [f"At most {remaining} minor units remain."]},
            )
        refund = Refund.objects.create(
            conversion=conversion, amount_minor=amount_minor, idempotency_key=idempotency_key
        )
        conversion.refunded_minor += amount_minor
        conversion.status = (
            Conversion.Status.REFUNDED
            if conversion.refunded_minor == conversion.amount_minor
            else Conversion.Status.PARTIALLY_REFUNDED
        )
        conversion.save(update_fields=["refunded_minor", "status"])
        audit_log(
            action=AuditAction.CONVERSION_REFUNDED,
            obj=conversion,
            program=program,
            data={"amount_minor": amount_minor, "refund_id": refund.pk},
        )
    return conversion, refund, True


def self_referral_by_card(*, conversion: Conversion) -> bool:
    """Un-attribute a conversion paid with its advocate's own card; True when it was.

    Call inside the transaction that also reverses the conversion's rewards.
    """
    with transaction.atomic():
        conversion = Conversion.objects.select_for_update().get(pk=conversion.pk)
        advocate = conversion.advocate
        if not conversion.attributed or advocate is None:
            return False
        if not _advocate_used_card(advocate, conversion.payment_fingerprint):
            return False
        reason = "self-referral: paid with the advocate's own card"
        conversion.attributed = False
        conversion.attribution_reason = f"{conversion.attribution_reason}; not rewarded: {reason}"[
            :300
        ]
        conversion.save(update_fields=["attributed", "attribution_reason"])
        if conversion.referral_id:
            Referral.objects.filter(pk=conversion.referral_id).update(
                status=Referral.Status.REJECTED, rejection_reason=reason
            )
        audit_log(
            action=AuditAction.CONVERSION_SELF_REFERRAL, obj=conversion, program=conversion.program
        )
    return True


def referral_link_save(*, link: ReferralLink, actor, changed: list[str] | None = None):
    """Create or update a link from the admin: it belongs to its advocate's program."""
    created = link._state.adding
    link.program_id = link.advocate.program_id
    link.code = link.code.upper()
    try:
        with transaction.atomic():
            link.save()
            audit_log(
                action=AuditAction.REFERRAL_LINK_CREATED
                if created
                else AuditAction.REFERRAL_LINK_UPDATED,
                obj=link,
                program=link.program,
                actor=actor,
                data={"code": link.code, "fields": sorted(changed or [])},
            )
    except IntegrityError as exc:
        raise Conflict("code_taken", f"The code {link.code} is already used.") from exc
    return link


def conversion_reattribute(
    *,
    program: Program,
    order_id: str,
    reason: str,
    advocate_id: int | None = None,
    referral_code: str | None = None,
    actor=None,
) -> tuple[Conversion, bool]:
    """A manager's override: the order counts as referred by this advocate (audited).

    Returns the conversion and whether it changed; ``rewards.flows`` re-runs the
    rules in the same transaction.
    """
    if not reason.strip():
        raise Unprocessable(
            "reason_required", "Say why.", fields={"reason": ["Say why attribution changes."]}
        )
    with transaction.atomic():
        conversion = (
            Conversion.objects.select_for_update()
            .filter(program=program, order_id=order_id)
            .first()
        )
        if conversion is None:
            raise NotFound("unknown_order", f"No conversion with order id {order_id!r}.")
        if conversion.backfill:
            raise Unprocessable("backfilled_order", "Backfilled orders are never attributed.")
        if referral_code:
            advocate = _resolve_code(program, referral_code).advocate
        else:
            advocate = Advocate.objects.filter(program=program, pk=advocate_id).first()
            if advocate is None:
                raise NotFound("unknown_advocate", f"No advocate {advocate_id!r} in this program.")
        if conversion.attributed and conversion.advocate_id == advocate.pk:
            return conversion, False
        previous = conversion.advocate_id
        known = _find_referral(
            program, conversion.customer_email_normalized, conversion.customer_external_id or None
        )
        referral = None
        if known is not None and known.advocate_id == advocate.pk:
            referral = known
            if referral.status != Referral.Status.CONVERTED:
                Referral.objects.filter(pk=referral.pk).update(
                    status=Referral.Status.CONVERTED,
                    rejection_reason="",
                    converted_at=timezone.now(),
                )
        elif known is None and (
            conversion.customer_email_normalized or conversion.customer_external_id
        ):
            referral = Referral.objects.create(
                program=program,
                advocate=advocate,
                friend_email=conversion.customer_email,
                friend_email_normalized=conversion.customer_email_normalized,
                friend_external_id=conversion.customer_external_id or None,
                status=Referral.Status.CONVERTED,
                converted_at=timezone.now(),
            )
        # A friend another advocate referred stays theirs; only this order moves.
        conversion.advocate = advocate
        conversion.referral = referral
        if conversion.click_id and conversion.click.advocate_id != advocate.pk:
            conversion.click = None
        conversion.attributed = True
        conversion.attribution_method = Conversion.Method.MANUAL
        conversion.attribution_reason = f"set by a manager: {reason.strip()}"[:300]
        conversion.save(
            update_fields=[
                "advocate",
                "referral",
                "click",
                "attributed",
                "attribution_method",
                "attribution_reason",
            ]
        )
        audit_log(
            action=AuditAction.CONVERSION_ATTRIBUTION_OVERRIDDEN,
            obj=conversion,
            program=program,
            actor=actor,
            data={"from_advocate": previous, "to_advocate": advocate.pk, "reason": reason.strip()},
        )
        events.conversion_attributed.send(sender=Conversion, conversion=conversion)
    return conversion, True

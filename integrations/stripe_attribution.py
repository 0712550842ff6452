"""Stripe-native attribution: Checkout, subscription invoices, refunds and disputes.

Merchants who sell through Stripe pass the referral in Checkout's
``client_reference_id`` (``"CODE"`` or ``"CODE.CLICK_ID"``) or in
``metadata[referral_code]`` / ``metadata[click_id]`` (for subscriptions also in
``subscription_data[metadata]``, which Stripe copies onto every invoice).

Handlers read the signed event's object and are written to be order-proof:
refunds carry Stripe's cumulative ``amount_refunded``, so an older event
arriving late changes nothing.
"""

import uuid
from datetime import UTC, datetime

from django.db import transaction

from advocacy.models import Program
from core.errors import ServiceError
from core.hashing import fingerprint
from core.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MAJOR
from referrals.models import Conversion, Referral, StripePayment
from rewards import flows


class NotReadyYet(Exception):
    """The event depends on another one not processed yet: retry later."""


class Unusable(Exception):
    """The event's object cannot be recorded (say, an absurd amount): retrying won't help."""


def _amount_minor(value, currency: str) -> int:
    """Stripe's integer amount, checked as the API checks an order's amount."""
    if currency not in CURRENCY_EXPONENTS:
        raise Unusable(f"unsupported currency {currency!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unusable(f"amount {value!r} is not an integer")
    if value > MAX_AMOUNT_MAJOR.scaleb(CURRENCY_EXPONENTS[currency]):
        raise Unusable(f"amount {value} exceeds the maximum of {MAX_AMOUNT_MAJOR} {currency}")
    return value


def _referral_from(obj: dict) -> tuple[str | None, uuid.UUID | None]:
    metadata = obj.get("metadata") or {}
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    sources = [metadata, obj.get("subscription_details") or {}, parent]
    code = click = None
    reference = obj.get("client_reference_id") or ""
    if reference:
        code, _, click = reference.partition(".")
    for source in sources:
        meta = source.get("metadata", source) if source is not metadata else source
        code = code or meta.get("referral_code")
        click = click or meta.get("click_id")
    try:
        click_id = uuid.UUID(click) if click else None
    except ValueError:
        click_id = None
    return (code or None), click_id


def _occurred(obj: dict) -> datetime | None:
    created = obj.get("created")
    return datetime.fromtimestamp(int(created), tz=UTC) if created else None


def _record(program: Program, *, order_id: str, amount: int, currency: str, obj: dict,
            customer_id: str, email: str, payment_intent: str) -> str:  # fmt: skip
    code, click_id = _referral_from(obj)
    card = (
        StripePayment.objects.filter(program=program, payment_intent=payment_intent)
        .values_list("fingerprint", flat=True)
        .first()
        if payment_intent
        else None
    )
    currency = currency.upper()
    fields = {
        "program": program,
        "order_id": order_id,
        "amount_minor": _amount_minor(amount, currency),
        "currency": currency,
        "customer_email": email or "",
        "customer_external_id": customer_id or None,
        "occurred_at": _occurred(obj),
        "source": "stripe",
        "stripe_payment_intent": payment_intent or "",
        "payment_fingerprint": card or "",
    }
    fp = fingerprint({"stripe": order_id})
    try:
        conversion, created = flows.conversion_record(
            fingerprint=fp, referral_code=code, click_id=click_id, **fields
        )
    except ServiceError as exc:
        if exc.code not in ("unknown_referral_code", "unknown_click"):
            raise
        # A stale or mistyped referral must not lose the sale: record it unattributed.
        conversion, created = flows.conversion_record(fingerprint=fp, **fields)
    state = "attributed" if conversion.attributed else "not attributed"
    return f"conversion {conversion.order_id} {state}" + ("" if created else " (already recorded)")


def checkout_session_completed(program: Program, obj: dict) -> str:
    if obj.get("payment_status") not in ("paid", "no_payment_required", None):
        return "checkout not paid yet: ignored"
    email = (obj.get("customer_details") or {}).get("email") or obj.get("customer_email") or ""
    customer = obj.get("customer") or ""
    if obj.get("mode") == "subscription":
        # Invoices carry the payments; the session makes the customer a referred friend.
        code, click_id = _referral_from(obj)
        if not (code or click_id) or not (email or customer):
            return "subscription checkout without a referral"
        try:
            referral, _ = flows.referral_create(
                program=program,
                friend_email=email,
                friend_external_id=customer or None,
                referral_code=code,
                click_id=click_id,
            )
        except ServiceError as exc:
            return f"referral not recorded: {exc.message}"
        return f"referral {referral.pk} for subscription {obj.get('subscription')}"
    currency = (obj.get("currency") or program.currency).upper()
    amount = _amount_minor(obj.get("amount_total") or 0, currency)
    if amount <= 0:
        return "free checkout: ignored"
    return _record(
        program,
        order_id=obj.get("payment_intent") or obj["id"],
        amount=amount,
        currency=currency,
        obj=obj,
        customer_id=customer,
        email=email,
        payment_intent=obj.get("payment_intent") or "",
    )


def invoice_paid(program: Program, obj: dict) -> str:
    currency = (obj.get("currency") or program.currency).upper()
    amount = _amount_minor(obj.get("amount_paid") or 0, currency)
    if amount <= 0:
        return "invoice with nothing paid: ignored"
    customer = obj.get("customer") or ""
    code, click_id = _referral_from(obj)
    known = Referral.objects.filter(program=program, friend_external_id=customer).exists()
    if not (code or click_id or known) and obj.get("billing_reason") == "subscription_create":
        # The first invoice can beat checkout.session.completed here: wait for it.
        raise NotReadyYet(f"no referral known yet for customer {customer}")
    payment_intent = obj.get("payment_intent") or ""
    return _record(
        program,
        order_id=obj["id"],
        amount=amount,
        currency=currency,
        obj=obj,
        customer_id=customer,
        email=obj.get("customer_email") or "",
        payment_intent=payment_intent,
    )


def _conversion_for_charge(program: Program, charge: dict) -> Conversion | None:
    keys = [k for k in (charge.get("payment_intent"), charge.get("invoice")) if k]
    return (
        Conversion.objects.filter(program=program, order_id__in=keys).first()
        or Conversion.objects.filter(
            program=program, stripe_payment_intent=charge.get("payment_intent") or "-"
        ).first()
    )


def charge_refunded(program: Program, obj: dict) -> str:
    conversion = _conversion_for_charge(program, obj)
    if conversion is None:
        return "refund for an order we did not record"
    target = min(int(obj.get("amount_refunded") or 0), conversion.amount_minor)
    delta = target - conversion.refunded_minor
    if delta <= 0:
        return "refund already applied"
    flows.conversion_refund(
        program=program,
        order_id=conversion.order_id,
        amount_minor=delta,
        idempotency_key=f"stripe-refunded-{target}",
    )
    return f"refunded {delta} of order {conversion.order_id}"


def charge_dispute_created(program: Program, obj: dict) -> str:
    charge = {"payment_intent": obj.get("payment_intent"), "invoice": None}
    conversion = _conversion_for_charge(program, charge)
    if conversion is None:
        return "dispute for an order we did not record"
    flows.conversion_refund(
        program=program, order_id=conversion.order_id, idempotency_key=f"stripe-dispute-{obj['id']}"
    )
    return f"order {conversion.order_id} disputed: rewards reversed"


def charge_succeeded(program: Program, obj: dict) -> str:
    """Keep the card's fingerprint; an earlier-recorded conversion is re-checked."""
    card = ((obj.get("payment_method_details") or {}).get("card") or {}).get("fingerprint")
    intent = obj.get("payment_intent")
    if not card or not intent:
        return "no card fingerprint"
    with transaction.atomic():
        StripePayment.objects.get_or_create(
            program=program, payment_intent=intent, defaults={"fingerprint": card}
        )
        conversion = (
            Conversion.objects.select_for_update()
            .filter(program=program, stripe_payment_intent=intent)
            .first()
        )
        if conversion is None:
            return "fingerprint kept"
        if not conversion.payment_fingerprint:
            conversion.payment_fingerprint = card
            conversion.save(update_fields=["payment_fingerprint"])
        if conversion.attributed and flows.conversion_self_referral_by_card(conversion=conversion):
            return f"order {conversion.order_id}: paid with the advocate's own card, reversed"
    return "fingerprint kept"


HANDLERS = {
    "checkout.session.completed": checkout_session_completed,
    "invoice.paid": invoice_paid,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": charge_dispute_created,
    "charge.succeeded": charge_succeeded,
}

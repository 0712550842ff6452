"""Small builders of portal data: referrals, clicks, purchases and ledger entries."""

import uuid

from referrals.models import Click, Conversion, Referral
from rewards.models import CatalogItem, LedgerEntry


def add_referral(advocate, email: str, status=Referral.Status.SIGNED_UP) -> Referral:
    return Referral.objects.create(
        program=advocate.program,
        advocate=advocate,
        friend_email=email,
        friend_email_normalized=email.lower(),
        status=status,
    )


def add_click(advocate, channel: str = "") -> Click:
    return Click.objects.create(
        program=advocate.program, link=advocate.links.get(), advocate=advocate, channel=channel
    )


def add_purchase(advocate, order_id: str) -> Conversion:
    return Conversion.objects.create(
        program=advocate.program,
        order_id=order_id,
        amount_minor=5000,
        currency="EUR",
        advocate=advocate,
        attributed=True,
        request_fingerprint=order_id,
    )


def add_entry(advocate, amount_minor: int, currency="EUR", bucket="available", memo="Bonus"):
    return LedgerEntry.objects.create(
        program=advocate.program,
        advocate=advocate,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        bucket=bucket,
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=f"test:{uuid.uuid4()}",
        memo=memo,
    )


def add_perk(program, points: int = 100, name: str = "Tote bag") -> CatalogItem:
    return CatalogItem.objects.create(
        program=program, name=name, kind=CatalogItem.Kind.PERK, points_price=points
    )

"""Points redemptions: atomic, never overdrawing a balance."""

from django.db import transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate
from core.errors import ServiceError, Unprocessable

from . import ledger, perks
from .models import CatalogItem, CouponCode, LedgerEntry, Redemption


def points_redeem(*, advocate: Advocate, item: CatalogItem, idempotency_key: str) -> Redemption:
    """Spend points on a catalog item; the same key again returns the same redemption."""
    with transaction.atomic():
        existing = Redemption.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return existing
        # Lock the advocate, then re-read the balance: two concurrent
        # redemptions are serialised here and the second sees the first's debit.
        locked = Advocate.objects.select_for_update().get(pk=advocate.pk)
        if not locked.can_earn:
            raise ServiceError("advocate_inactive", f"The advocate is {locked.status}.", status=403)
        if item.program_id != locked.program_id or not item.is_active:
            raise Unprocessable("item_unavailable", "This item is not in the catalog.")
        balance = ledger.available_points(locked.pk)
        if balance < item.points_price:
            raise Unprocessable(
                "insufficient_points",
                f"This costs {item.points_price} points; {balance} are available.",
            )
        item = CatalogItem.objects.select_for_update().get(pk=item.pk)
        if item.stock is not None:
            if item.stock == 0:
                raise Unprocessable("out_of_stock", "This item is out of stock.")
            item.stock -= 1
            item.save(update_fields=["stock"])
        code = None
        if item.kind == CatalogItem.Kind.COUPON:
            code = (
                CouponCode.objects.select_for_update(skip_locked=True)
                .filter(pool_id=item.coupon_pool_id, assigned_at__isnull=True)
                .order_by("pk")
                .first()
            )
            if code is None:
                raise Unprocessable("out_of_stock", "No coupon codes are left for this item.")
        delivered = code is not None or item.kind == CatalogItem.Kind.EARLY_ACCESS
        redemption = Redemption.objects.create(
            program_id=locked.program_id,
            advocate=locked,
            item=item,
            points=item.points_price,
            status=Redemption.Status.COMPLETED
            if delivered
            else Redemption.Status.AWAITING_FULFILMENT,
            coupon_code=code.code if code else "",
            idempotency_key=idempotency_key,
        )
        if code is not None:
            CouponCode.objects.filter(pk=code.pk).update(
                assigned_at=timezone.now(), redemption=redemption
            )
        ledger.redemption_append(
            redemption=redemption,
            kind=LedgerEntry.Kind.REDEMPTION,
            amount_minor=-item.points_price,
            key=f"redemption:{redemption.pk}",
            memo=f"Redeemed {item.name}",
        )
        if item.kind == CatalogItem.Kind.EARLY_ACCESS:
            # Its link or code goes to the portal and by email, as any granted perk.
            perks.perk_grant(
                advocate=locked,
                perk=item.perk,
                key=f"redemption:{redemption.pk}:perk",
                reason=f"Redeemed {item.name}",
            )
        audit_log(
            action=AuditAction.POINTS_REDEEMED,
            obj=redemption,
            program=locked.program,
            data={"item": item.pk, "points": item.points_price},
        )
    return redemption


def redemption_fulfil(*, redemption_id: int, actor=None) -> bool:
    with transaction.atomic():
        r = Redemption.objects.select_for_update().filter(pk=redemption_id).first()
        if r is None or r.status != Redemption.Status.AWAITING_FULFILMENT:
            return False
        r.status = Redemption.Status.FULFILLED
        r.save(update_fields=["status"])
        audit_log(action=AuditAction.REDEMPTION_FULFILLED, obj=r, program=r.program, actor=actor)
    return True


def redemption_cancel(*, redemption_id: int, actor=None) -> bool:
    """Cancel an unfulfilled redemption and return its points (a compensating entry)."""
    with transaction.atomic():
        r = Redemption.objects.select_for_update().filter(pk=redemption_id).first()
        if r is None or r.status != Redemption.Status.AWAITING_FULFILMENT:
            return False
        r.status = Redemption.Status.CANCELLED
        r.save(update_fields=["status"])
        ledger.redemption_append(
            redemption=r,
            kind=LedgerEntry.Kind.REDEMPTION_REFUNDED,
            amount_minor=r.points,
            key=f"redemption:{r.pk}:cancelled",
            memo="Redemption cancelled",
        )
        audit_log(action=AuditAction.REDEMPTION_CANCELLED, obj=r, program=r.program, actor=actor)
    return True

"""Points redemptions at their edges (rewards/catalog.py): stock, codes, refusals, cancels.

Found by mutation testing (docs/testing.md).
"""

import pytest

from advocacy.models import AuditLog
from core.errors import ServiceError
from rewards.catalog import points_redeem, redemption_cancel
from rewards.coupons import coupon_pool_import
from rewards.ledger import available_points
from rewards.models import CatalogItem, CouponCode, CouponPool, LedgerEntry, Redemption
from tests.rewards.test_catalog import grant_points


def item(program, **fields):
    defaults = {"name": "Mug", "kind": "perk", "points_price": 100}
    return CatalogItem.objects.create(program=program, **{**defaults, **fields})


def refused(advocate, thing, key="r"):
    with pytest.raises(ServiceError) as exc:
        points_redeem(advocate=advocate, item=thing, idempotency_key=key)
    return exc.value.status_code, exc.value.code, exc.value.message


def test_a_redemption_is_one_debit_with_its_key_memo_and_audit(program, advocate):
    mug = item(program)
    grant_points(advocate, 250)
    redemption = points_redeem(advocate=advocate, item=mug, idempotency_key="r")
    assert (redemption.status, redemption.coupon_code, redemption.points) == (
        "awaiting_fulfilment",
        "",
        100,
    )
    assert redemption.program_id == program.pk
    entry = LedgerEntry.objects.get(kind="redemption")
    assert (entry.amount_minor, entry.memo, entry.idempotency_key) == (
        -100,
        "Redeemed Mug",
        f"redemption:{redemption.pk}",
    )
    row = AuditLog.objects.get(action="points.redeemed")
    assert (row.program_id, row.data) == (program.pk, {"item": mug.pk, "points": 100})
    assert available_points(advocate.pk) == 150


def test_a_paused_advocate_cannot_redeem(program, advocate):
    mug = item(program)
    grant_points(advocate, 250)
    advocate.status = "paused"
    advocate.save(update_fields=["status"])
    assert refused(advocate, mug) == (403, "advocate_inactive", "The advocate is paused.")
    assert available_points(advocate.pk) == 250


def test_an_inactive_item_cannot_be_redeemed(program, advocate):
    mug = item(program, is_active=False)
    grant_points(advocate, 250)
    assert refused(advocate, mug)[1:] == ("item_unavailable", "This item is not in the catalog.")


def test_a_refusal_for_too_few_points_says_how_many(program, advocate):
    mug = item(program)
    grant_points(advocate, 99)
    assert refused(advocate, mug)[1:] == (
        "insufficient_points",
        "This costs 100 points; 99 are available.",
    )


def test_stock_is_counted_down_to_zero_and_then_refused(program, advocate):
    mug = item(program, stock=1)
    grant_points(advocate, 500)
    points_redeem(advocate=advocate, item=mug, idempotency_key="a")
    mug.refresh_from_db()
    assert mug.stock == 0
    assert refused(advocate, mug, key="b")[1:] == ("out_of_stock", "This item is out of stock.")
    assert available_points(advocate.pk) == 400
    unlimited = item(program, name="Pen", points_price=50)
    for key in ("c", "d"):
        points_redeem(advocate=advocate, item=unlimited, idempotency_key=key)
    unlimited.refresh_from_db()
    assert unlimited.stock is None
    assert available_points(advocate.pk) == 300


def test_a_coupon_item_hands_out_its_pools_next_free_code(program, advocate):
    other = CouponPool.objects.create(program=program, name="Other")
    coupon_pool_import(pool=other, data=b"O-1\n")
    pool = CouponPool.objects.create(program=program, name="Vouchers")
    coupon_pool_import(pool=pool, data=b"V-1\nV-2\nV-3\n")
    CouponCode.objects.filter(code="V-1").update(assigned_at="2026-01-01T00:00:00Z")
    voucher = item(program, name="Voucher", kind="coupon", coupon_pool=pool)
    grant_points(advocate, 300)
    first = points_redeem(advocate=advocate, item=voucher, idempotency_key="a")
    second = points_redeem(advocate=advocate, item=voucher, idempotency_key="b")
    assert [(r.status, r.coupon_code) for r in (first, second)] == [
        ("completed", "V-2"),
        ("completed", "V-3"),
    ]
    given = CouponCode.objects.get(code="V-2")
    assert (given.redemption_id, given.assigned_at is not None) == (first.pk, True)
    assert CouponCode.objects.get(code="O-1").assigned_at is None
    assert refused(advocate, voucher, key="c")[1:] == (
        "out_of_stock",
        "No coupon codes are left for this item.",
    )
    assert available_points(advocate.pk) == 100
    # A code handed out is not a redemption to cancel.
    assert redemption_cancel(redemption_id=first.pk) is False
    assert redemption_cancel(redemption_id=first.pk + 1000) is False
    assert Redemption.objects.get(pk=first.pk).status == "completed"
    assert available_points(advocate.pk) == 100


def test_a_cancel_returns_the_points_under_its_own_key(program, advocate):
    mug = item(program)
    grant_points(advocate, 100)
    redemption = points_redeem(advocate=advocate, item=mug, idempotency_key="r")
    assert redemption_cancel(redemption_id=redemption.pk) is True
    returned = LedgerEntry.objects.get(kind="redemption_refunded")
    assert (returned.amount_minor, returned.idempotency_key) == (
        100,
        f"redemption:{redemption.pk}:cancelled",
    )
    assert available_points(advocate.pk) == 100

"""Points redemptions: atomic, never overdrawn, idempotent."""

import threading

import pytest
from django.db import connection

from core.errors import ServiceError
from rewards.catalog import points_redeem, redemption_cancel
from rewards.coupons import coupon_pool_import
from rewards.ledger import available_points
from rewards.models import CatalogItem, CouponPool, LedgerEntry, Redemption, Reward
from rewards.services import reward_issue, reward_mature


def grant_points(advocate, points):
    reward = reward_issue(
        program=advocate.program,
        advocate=advocate,
        key=f"test-grant-{advocate.pk}-{Reward.objects.count()}",
        reason="test grant",
        kind=Reward.Kind.POINTS,
        amount_minor=points,
        currency="PTS",
        hold_days=0,
    )
    reward_mature(reward_id=reward.pk)


@pytest.fixture
def coupon_item(program):
    pool = CouponPool.objects.create(program=program, name="5 EUR voucher")
    coupon_pool_import(pool=pool, data=b"V-1\nV-2\n")
    return CatalogItem.objects.create(
        program=program, name="5 EUR voucher", kind="coupon", points_price=100, coupon_pool=pool
    )


def test_redeeming_takes_the_points_and_hands_out_a_code(advocate, coupon_item):
    grant_points(advocate, 250)
    redemption = points_redeem(advocate=advocate, item=coupon_item, idempotency_key="r1")
    assert (redemption.status, redemption.coupon_code) == ("completed", "V-1")
    assert available_points(advocate.pk) == 150
    again = points_redeem(advocate=advocate, item=coupon_item, idempotency_key="r1")
    assert again.pk == redemption.pk
    assert available_points(advocate.pk) == 150


def test_it_refuses_to_overdraw(advocate, coupon_item):
    grant_points(advocate, 99)
    with pytest.raises(ServiceError) as exc:
        points_redeem(advocate=advocate, item=coupon_item, idempotency_key="r1")
    assert exc.value.code == "insufficient_points"
    assert Redemption.objects.count() == 0


def test_pending_points_cannot_be_spent(advocate, coupon_item):
    reward_issue(
        program=advocate.program, advocate=advocate, key="k", reason="r",
        kind=Reward.Kind.POINTS, amount_minor=500, currency="PTS",
    )  # fmt: skip
    with pytest.raises(ServiceError):
        points_redeem(advocate=advocate, item=coupon_item, idempotency_key="r1")


def test_an_empty_pool_is_out_of_stock_and_keeps_the_points(advocate, coupon_item):
    grant_points(advocate, 1000)
    for key in ("a", "b"):
        points_redeem(advocate=advocate, item=coupon_item, idempotency_key=key)
    with pytest.raises(ServiceError) as exc:
        points_redeem(advocate=advocate, item=coupon_item, idempotency_key="c")
    assert exc.value.code == "out_of_stock"
    assert available_points(advocate.pk) == 800


def test_a_cancelled_perk_returns_the_points(program, advocate):
    perk = CatalogItem.objects.create(program=program, name="Mug", kind="perk", points_price=60)
    grant_points(advocate, 100)
    redemption = points_redeem(advocate=advocate, item=perk, idempotency_key="m")
    assert redemption.status == "awaiting_fulfilment"
    assert redemption_cancel(redemption_id=redemption.pk) is True
    assert redemption_cancel(redemption_id=redemption.pk) is False
    assert available_points(advocate.pk) == 100


def test_another_programs_item_cannot_be_redeemed(advocate, other_program):
    item = CatalogItem.objects.create(
        program=other_program[0], name="X", kind="perk", points_price=1
    )
    grant_points(advocate, 10)
    with pytest.raises(ServiceError):
        points_redeem(advocate=advocate, item=item, idempotency_key="x")


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_never_overdraw(require_postgres, program, advocate):
    perk = CatalogItem.objects.create(program=program, name="Mug", kind="perk", points_price=100)
    grant_points(advocate, 350)
    barrier = threading.Barrier(10)
    outcomes = []

    def redeem(i):
        try:
            barrier.wait(timeout=30)
            points_redeem(advocate=advocate, item=perk, idempotency_key=f"c{i}")
            outcomes.append("ok")
        except ServiceError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["insufficient_points"] * 7 + ["ok"] * 3
    assert available_points(advocate.pk) == 50
    assert LedgerEntry.objects.filter(kind="redemption").count() == 3

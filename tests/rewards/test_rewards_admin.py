"""Program managers' money tools in the admin: adjustments, coupon imports, approvals."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from advocacy.models import AuditLog
from rewards.ledger import balances
from rewards.models import CouponPool, LedgerEntry, Reward, RewardRule
from tests.helpers import post_conversion


@pytest.fixture
def manager(admin_user, program):
    return admin_user


def test_a_manual_adjustment_writes_an_entry_with_reason_and_audit(admin_client, advocate):
    url = f"/admin/advocacy/advocate/{advocate.pk}/adjust/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url, {"amount": "-2.50", "currency": "EUR", "reason": "Goodwill correction"}
    )
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.bucket, entry.amount_minor, entry.memo) == (
        "adjustment",
        "available",
        -250,
        "Goodwill correction",
    )
    audit = AuditLog.objects.get(action="ledger.adjusted")
    assert audit.data["reason"] == "Goodwill correction"
    assert audit.actor.username == "admin"
    assert balances(advocate=advocate)["cash"]["EUR"]["available"] == -250


def test_an_adjustment_needs_a_reason_and_an_amount(admin_client, advocate):
    url = f"/admin/advocacy/advocate/{advocate.pk}/adjust/"
    response = admin_client.post(url, {"amount": "0", "currency": "EUR", "reason": "x"})
    assert response.status_code == 200
    assert b"non-zero amount" in response.content
    response = admin_client.post(url, {"amount": "1.00", "currency": "EUR", "reason": ""})
    assert response.status_code == 200
    assert LedgerEntry.objects.count() == 0


def test_coupon_codes_are_imported_from_csv(admin_client, program):
    pool = CouponPool.objects.create(program=program, name="Welcome")
    upload = SimpleUploadedFile("codes.csv", b"code\nA-1\nA-2\nA-1\nbad code\n")
    response = admin_client.post(
        f"/admin/rewards/couponpool/{pool.pk}/import/", {"file": upload}, follow=True
    )
    assert b"Added 2 code(s)" in response.content
    assert sorted(pool.codes.values_list("code", flat=True)) == ["A-1", "A-2"]
    assert admin_client.get("/admin/rewards/couponpool/").status_code == 200


def test_a_rule_is_validated_in_the_admin(admin_client, program):
    response = admin_client.post(
        "/admin/rewards/rewardrule/add/",
        {"program": program.pk, "name": "Bad", "is_active": "on", "trigger": "signup",
         "recipient": "friend", "kind": "cash", "amount_minor": "100", "percent": "0",
         "points": "0", "coupon_percent_off": "0"},
    )  # fmt: skip
    assert response.status_code == 200
    assert b"Friends can receive coupons or perks only." in response.content
    assert not RewardRule.objects.filter(name="Bad").exists()


def test_rewards_waiting_for_approval_are_approved_in_bulk(admin_client, api, program, link):
    program.reward_rules.update(approval_above_minor=500)
    post_conversion(api, referral_code=link.code)
    reward = Reward.objects.get(recipient="advocate")
    assert reward.requires_approval
    admin_client.post(
        "/admin/rewards/reward/", {"action": "approve", "_selected_action": [reward.pk]}
    )
    reward.refresh_from_db()
    assert reward.approved_at is not None


def test_the_ledger_shows_a_running_balance(admin_client, api, link):
    post_conversion(api, referral_code=link.code)
    post_conversion(api, referral_code=link.code, order_id="o2", customer={"email": "b@x.com"})
    response = admin_client.get("/admin/rewards/ledgerentry/")
    assert response.status_code == 200
    assert b"Balance after" in response.content
    assert '<td class="field-running_balance">€20.00</td>'.encode() in response.content

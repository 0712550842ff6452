"""The manager's console: amounts in major units, one-step setup, acting on rewards and
attribution, CSV exports that follow the list's filters."""

import csv
import io

import pytest
from django.urls import reverse

from advocacy.models import ApiKey, AuditLog, Program
from referrals.models import Conversion
from rewards.ledger import balances
from rewards.models import LedgerEntry, Reward, RewardRule
from rewards.selectors import reward_status
from tests.factories import enroll
from tests.helpers import post_conversion


def _rule_form(program, **changes):
    data = {"program": program.pk, "name": "Big spender bonus", "is_active": "on",
            "trigger": "first_purchase", "recipient": "advocate", "kind": "cash",
            "amount_minor": "12.50", "percent": "0", "points": "0", "coupon_percent_off": "0",
            "min_order_minor": "100", "approval_above_minor": ""}  # fmt: skip
    data.update(changes)
    return data


def test_a_rule_amount_is_typed_in_the_programs_currency(admin_client, program):
    response = admin_client.post("/admin/rewards/rewardrule/add/", _rule_form(program))
    assert response.status_code == 302
    rule = RewardRule.objects.get(name="Big spender bonus")
    assert (rule.amount_minor, rule.min_order_minor, rule.approval_above_minor) == (
        1250,
        10000,
        None,
    )
    page = admin_client.get(f"/admin/rewards/rewardrule/{rule.pk}/change/").content.decode()
    assert 'value="12.50"' in page and 'value="100.00"' in page
    listing = admin_client.get("/admin/rewards/rewardrule/").content.decode()
    assert "€12.50" in listing


def test_an_amount_with_too_many_decimals_is_refused(admin_client, program):
    response = admin_client.post(
        "/admin/rewards/rewardrule/add/", _rule_form(program, amount_minor="1.234")
    )
    assert response.status_code == 200
    assert b"at most 2 decimal places" in response.content
    assert not RewardRule.objects.filter(name="Big spender bonus").exists()


def test_the_double_sided_refusal_says_how_to_make_both_sides(admin_client, program):
    page = admin_client.get("/admin/rewards/rewardrule/add/").content.decode()
    assert "make two rules" in page and "Set up a program" in page


def test_a_program_is_set_up_in_one_step_as_a_draft_with_its_keys(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:advocacy_program_setup"),
        {"name": "Nordic Friends", "currency": "NOK", "advocate_reward": "100.00",
         "friend_discount_percent": "15", "landing_url": "https://shop.example.no/",
         "allowed_domains": "Example.no\nhttps://www.example.no/\nexample.no",
         "attribution_window_days": "45", "hold_days": "7", "logo_url": "",
         "brand_color": "#123456"},
    )  # fmt: skip
    assert response.status_code == 302
    program = Program.objects.get(name="Nordic Friends")
    assert program.allowed_domains == ["example.no", "www.example.no"]
    assert (program.currency, program.attribution_window_days, program.hold_days) == ("NOK", 45, 7)
    assert not program.open_enrollment and program.brand_color == "#123456"
    rules = {(r.recipient, r.kind): r for r in program.reward_rules.all()}
    assert rules[("advocate", "cash")].amount_minor == 10000
    assert rules[("friend", "coupon")].coupon_percent_off == 15
    assert set(program.api_keys.values_list("kind", flat=True)) == {"secret", "publishable"}

    page = admin_client.get(response["Location"]).content.decode()
    secret_prefix = program.api_keys.get(kind=ApiKey.Kind.SECRET).prefix
    assert f'id="key-secret">{secret_prefix}' in page and "not shown again" in page
    assert "embed.js" in page and "Preview as advocate" in page and "Publish" in page
    again = admin_client.get(response["Location"]).content.decode()
    assert 'id="key-secret"' not in again  # once only

    admin_client.post(reverse("admin:advocacy_program_publish", args=[program.pk]))
    program.refresh_from_db()
    assert program.open_enrollment
    assert AuditLog.objects.filter(action="program.updated", actor=admin_user).exists()


SETUP = {"name": "Pool Friends", "currency": "EUR", "advocate_reward": "10",
         "friend_discount_percent": "10", "landing_url": "https://shop.example.com/",
         "allowed_domains": "", "attribution_window_days": "30", "hold_days": "14"}  # fmt: skip


def test_setup_can_hand_friends_single_use_codes_from_a_pool(admin_client, advocate):
    response = admin_client.post(
        reverse("admin:advocacy_program_setup"), {**SETUP, "friend_coupon_source": "pool"}
    )
    assert response.status_code == 302
    rule = RewardRule.objects.get(program__name="Pool Friends", recipient="friend")
    assert rule.coupon_pool.name == "Friend codes" and not rule.stripe_promotion_codes


def test_stripe_promotion_codes_need_stripe(admin_client, settings):
    settings.STRIPE_API_KEY = ""
    response = admin_client.post(
        reverse("admin:advocacy_program_setup"), {**SETUP, "friend_coupon_source": "stripe"}
    )
    assert response.status_code == 200 and b"Stripe is not configured" in response.content
    settings.STRIPE_API_KEY = "sk_test_x"
    admin_client.post(
        reverse("admin:advocacy_program_setup"), {**SETUP, "friend_coupon_source": "stripe"}
    )
    rule = RewardRule.objects.get(program__name="Pool Friends", recipient="friend")
    assert rule.stripe_promotion_codes


def test_setup_needs_an_offer_on_at_least_one_side(admin_client):
    response = admin_client.post(
        reverse("admin:advocacy_program_setup"),
        {"name": "Empty", "currency": "EUR", "advocate_reward": "0",
         "friend_discount_percent": "0", "landing_url": "https://shop.example.com/",
         "allowed_domains": "", "attribution_window_days": "30", "hold_days": "14"},
    )  # fmt: skip
    assert response.status_code == 200
    assert not Program.objects.filter(name="Empty").exists()


def test_preview_as_advocate_opens_the_portal_as_the_manager(admin_client, admin_user, program):
    response = admin_client.get(reverse("admin:advocacy_program_preview", args=[program.pk]))
    assert response["Location"] == f"/p/{program.slug}/"
    assert program.advocates.get(user=admin_user).email == admin_user.email


def test_allowed_domains_are_edited_as_a_list(admin_client, program):
    page = admin_client.get(f"/admin/advocacy/program/{program.pk}/change/").content.decode()
    assert "example.com</textarea>" in page and '["example.com"]' not in page


@pytest.fixture
def awaiting(api, program, link):
    program.reward_rules.filter(kind="cash").update(approval_above_minor=500)
    post_conversion(api, referral_code=link.code)
    return Reward.objects.get(recipient="advocate", kind="cash")


def test_a_reward_over_the_threshold_awaits_approval_and_is_approved_from_its_page(
    admin_client, awaiting
):
    assert reward_status(awaiting) == "awaiting_approval"
    listing = admin_client.get("/admin/rewards/reward/?approval=awaiting").content.decode()
    assert "Awaiting approval" in listing and "Approve</button>" in listing
    page = admin_client.get(f"/admin/rewards/reward/{awaiting.pk}/change/").content.decode()
    assert 'id="approve-reward"' in page and 'id="reject-reward"' in page
    admin_client.post(reverse("admin:rewards_reward_approve", args=[awaiting.pk]))
    awaiting.refresh_from_db()
    assert awaiting.approved_at is not None and reward_status(awaiting) == "pending"


def test_a_rejected_reward_is_reversed_with_its_reason(admin_client, awaiting, advocate):
    url = reverse("admin:rewards_reward_void", args=[awaiting.pk]) + "?reject=1"
    admin_client.post(url, {"reason": "Fake order", "reject": "1"})
    awaiting.refresh_from_db()
    assert awaiting.status == "reversed"
    assert balances(advocate=advocate)["cash"]["EUR"]["pending"] == 0
    entry = LedgerEntry.objects.get(reward=awaiting, kind="reward_reversed")
    assert entry.memo == "Rejected: Fake order"
    assert AuditLog.objects.get(action="reward.reversed").data["reason"] == "Rejected: Fake order"


def test_voiding_needs_a_reason_and_happens_once(admin_client, api, link, advocate):
    post_conversion(api, referral_code=link.code)
    reward = Reward.objects.get(recipient="advocate", kind="cash")
    url = reverse("admin:rewards_reward_void", args=[reward.pk])
    assert admin_client.post(url, {"reason": ""}).status_code == 200
    admin_client.post(url, {"reason": "Duplicate account"})
    admin_client.post(url, {"reason": "Again"})
    assert LedgerEntry.objects.filter(reward=reward, kind="reward_reversed").count() == 1
    assert balances(advocate=advocate)["cash"]["EUR"]["pending"] == 0


def test_a_friend_reward_names_the_friend(admin_client, api, link):
    api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "bob@example.com"}},
        format="json",
    )
    listing = admin_client.get("/admin/rewards/reward/").content.decode()
    assert "Friend: bob@example.com (of alice@example.com)" in listing


def test_a_manager_moves_an_order_to_another_advocate(admin_client, admin_user, api, program,
                                                     link, advocate):  # fmt: skip
    post_conversion(api, referral_code=link.code)
    conversion = Conversion.objects.get()
    carol = enroll(program, "carol@example.com")
    page = admin_client.get(f"/admin/referrals/conversion/{conversion.pk}/change/").content
    assert b"Rewards from this order" in page and b"Change attribution" in page
    url = reverse("admin:referrals_conversion_attribution", args=[conversion.pk])
    response = admin_client.post(url, {"advocate": carol.pk, "reason": "Carol sent them"})
    assert response.status_code == 302
    conversion.refresh_from_db()
    assert (conversion.advocate, conversion.attribution_method) == (carol, "manual")
    assert balances(advocate=advocate)["cash"]["EUR"]["pending"] == 0
    assert balances(advocate=carol)["cash"]["EUR"]["pending"] == 1000
    audit = AuditLog.objects.get(action="conversion.attribution_overridden")
    assert audit.actor == admin_user
    assert audit.data == {"from_advocate": advocate.pk, "to_advocate": carol.pk,
                          "reason": "Carol sent them"}  # fmt: skip
    # Back to Alice: she is rewarded again, once.
    admin_client.post(url, {"advocate": advocate.pk, "reason": "Mistake"})
    admin_client.post(url, {"advocate": advocate.pk, "reason": "Mistake"})
    assert balances(advocate=advocate)["cash"]["EUR"]["pending"] == 1000
    assert balances(advocate=carol)["cash"]["EUR"]["pending"] == 0


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_exports_follow_the_lists_filters(admin_client, api, program, link, advocate):
    post_conversion(api, referral_code=link.code)
    post_conversion(api, order_id="o-2", customer={"email": "x@example.com"})
    rows = _csv(admin_client.get("/admin/referrals/conversion/export.csv?attributed__exact=1"))
    assert [(r["order_id"], r["amount"], r["currency"]) for r in rows] == [
        ("order-1", "49.90", "EUR")
    ]
    assert len(_csv(admin_client.get("/admin/referrals/conversion/export.csv"))) == 2
    for model in ["advocacy/advocate", "referrals/referral", "rewards/reward",
                  "rewards/ledgerentry", "rewards/payout"]:  # fmt: skip
        response = admin_client.get(f"/admin/{model}/export.csv")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    ledger = _csv(admin_client.get("/admin/rewards/ledgerentry/export.csv"))
    assert ledger[0]["amount"] == "10.00"
    assert b"Export CSV" in admin_client.get("/admin/rewards/reward/").content


def test_an_outsider_manager_cannot_export_or_act_on_another_program(client, program, api, link):
    from django.contrib.auth.models import Permission

    from advocacy.models import ProgramMembership
    from rewards.services import program_create_with_offer
    from tests.factories import UserFactory

    post_conversion(api, referral_code=link.code)
    other, _, _ = program_create_with_offer(name="Charlie's", landing_url="https://c.example/")
    charlie = UserFactory(username="charlie", is_staff=True)
    charlie.user_permissions.set(Permission.objects.filter(content_type__app_label__in=[
        "advocacy", "referrals", "rewards"]))  # fmt: skip
    ProgramMembership.objects.create(program=other, user=charlie, role="owner")
    client.force_login(charlie)
    assert _csv(client.get("/admin/referrals/conversion/export.csv")) == []
    reward = Reward.objects.get(recipient="advocate", kind="cash")
    assert client.post(reverse("admin:rewards_reward_approve", args=[reward.pk])).status_code == 404
    conversion = Conversion.objects.get()
    url = reverse("admin:referrals_conversion_attribution", args=[conversion.pk])
    assert client.get(url).status_code == 404

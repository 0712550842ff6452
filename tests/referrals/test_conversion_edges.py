"""Recording, attributing and refunding orders at their edges (referrals/services.py).

Found by mutation testing (docs/testing.md): each test pins a behaviour that a
small change of ``_attribute``, ``conversion_record``, ``_referral_for_conversion``
or ``conversion_refund`` would break while the rest of the suite stayed green.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from advocacy.models import Advocate, AuditLog
from core.errors import Conflict, Unprocessable
from referrals import services as referral_services
from referrals.models import Conversion, Referral
from referrals.services import click_record
from rewards import flows
from rewards.models import Reward
from tests.factories import enroll
from tests.helpers import post_conversion

T = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def buy(api, when=T, **body):
    with time_machine.travel(when, tick=False):
        response = post_conversion(api, **body)
    assert response.status_code in (200, 201), response.content
    return response.json()


def sign_up(link, email="bob@example.com", when=T, **extra):
    with time_machine.travel(when, tick=False):
        referral, _ = flows.referral_create(
            program=link.program, friend_email=email, referral_code=link.code, **extra
        )
    return referral


def advocate_cash():
    return list(
        Reward.objects.filter(recipient="advocate", kind="cash")
        .order_by("pk")
        .values_list("advocate__email", "amount_minor")
    )


# ------------------------------------------------------------ who gets the credit, and why


def test_each_method_names_itself_and_what_it_found(api, program, link, advocate):
    click_id = click_record(link=link)
    by_click = buy(api, order_id="c", click_id=str(click_id), customer={"email": "a@x.org"})
    by_code = buy(api, order_id="r", referral_code=link.code, customer={"email": "b@x.org"})
    by_coupon = buy(api, order_id="k", coupon_code=f"  {advocate.coupon_code.lower()} ",
                    customer={"email": "c@x.org"})  # fmt: skip
    referral = Referral.objects.get(friend_email="b@x.org")
    repeat = buy(api, order_id="r2", customer={"email": "b@x.org"})
    by_name = buy(api, order_id="n", referral_code=link.code, placement="name_lookup",
                  customer={"email": "d@x.org"})  # fmt: skip
    assert [
        (b["attribution"]["method"], b["attribution"]["reason"], b["attributed"])
        for b in (by_click, by_code, by_coupon, repeat, by_name)
    ] == [
        ("click", f"click {click_id}", True),
        ("referral_code", f"referral code {link.code}", True),
        ("coupon", f"coupon code {advocate.coupon_code}", True),
        ("referred_customer", f"customer was referred (referral {referral.pk})", True),
        ("name_lookup", f"advocate picked by name, code {link.code}", True),
    ]
    assert Conversion.objects.get(order_id="c").click_id == click_id
    assert Conversion.objects.get(order_id="r2").referral_id == referral.pk


def test_another_programs_advocate_coupon_attributes_nothing(api, program, other_program):
    from advocacy.services import advocate_enroll

    stranger, _ = advocate_enroll(program=other_program[0], email="sam@example.com", name="Sam")
    body = buy(api, coupon_code=stranger.coupon_code)
    assert body["attributed"] is False
    assert body["attribution"]["method"] == "none"


def test_the_window_of_a_friend_who_signed_up_starts_at_the_sign_up(api, program, link):
    """A code at checkout, no click: the sign-up started the way to the purchase."""
    sign_up(link, "bob@example.com")
    sign_up(link, "eve@example.com")
    at_end = buy(api, T + timedelta(days=30), order_id="b", referral_code=link.code,
                 customer={"email": "bob@example.com"})  # fmt: skip
    after = buy(api, T + timedelta(days=30, seconds=1), order_id="e", referral_code=link.code,
                customer={"email": "eve@example.com"})  # fmt: skip
    assert (at_end["attributed"], after["attributed"]) == (True, False)
    assert after["attribution"]["reason"] == (
        f"referral code {link.code}; not rewarded: outside the 30-day attribution window"
    )
    eve = Referral.objects.get(friend_email="eve@example.com")
    assert eve.status == "signed_up"  # not converted by an order it did not earn


def test_a_converted_friends_later_purchases_stay_attributed_after_the_window(api, link):
    click_id = click_record(link=link)
    buy(api, T, order_id="1", click_id=str(click_id), customer={"email": "bob@example.com"})
    later = buy(api, T + timedelta(days=400), order_id="2", referral_code=link.code,
                customer={"email": "bob@example.com"})  # fmt: skip
    assert later["attributed"] is True
    assert later["attribution"]["reason"] == f"referral code {link.code}"


def test_a_rejected_friend_is_not_rewarded_and_says_why(api, program, link):
    referral = sign_up(link, "bob@example.com")
    Referral.objects.filter(pk=referral.pk).update(status="rejected", rejection_reason="fraud")
    body = buy(api, referral_code=link.code, customer={"email": "bob@example.com"})
    assert body["attributed"] is False
    assert body["attribution"]["reason"] == (
        f"referral code {link.code}; not rewarded: referral was rejected (fraud)"
    )
    assert advocate_cash() == []


def test_a_self_referral_is_recorded_as_a_rejected_referral(api, link, advocate):
    body = buy(api, referral_code=link.code, customer={"email": "alice@example.com"})
    assert body["attributed"] is False
    referral = Referral.objects.get()
    assert (referral.status, referral.advocate_id, referral.converted_at) == (
        "rejected",
        advocate.pk,
        None,
    )
    assert "self-referral" in referral.rejection_reason
    assert Conversion.objects.get().referral_id == referral.pk


def test_a_first_purchase_creates_the_friends_referral(api, program, link):
    click_id = click_record(link=link, placement="email")
    buy(api, click_id=str(click_id),
        customer={"email": "Bob.Smith+x@Example.com", "external_id": "c-9"})  # fmt: skip
    referral = Referral.objects.get()
    assert (
        referral.advocate_id,
        referral.link_id,
        referral.click_id,
        referral.friend_email,
        referral.friend_email_normalized,
        referral.friend_external_id,
        referral.status,
        referral.converted_at,
        referral.rejection_reason,
    ) == (
        link.advocate_id,
        link.pk,
        click_id,
        "Bob.Smith+x@Example.com",
        "bob.smith@example.com",
        "c-9",
        "converted",
        T,
        "",
    )
    conversion = Conversion.objects.get()
    assert (conversion.customer_external_id, conversion.occurred_at) == ("c-9", T)


def test_an_order_without_an_external_id_keeps_it_empty(api, link):
    buy(api, referral_code=link.code, customer={"email": "bob@example.com"})
    assert Referral.objects.get().friend_external_id is None
    assert Conversion.objects.get().customer_external_id == ""


def test_a_signed_up_friend_is_converted_by_the_first_purchase(api, link):
    referral = sign_up(link, "bob@example.com")
    buy(api, T + timedelta(days=1), customer={"email": "bob@example.com"})
    referral.refresh_from_db()
    assert (referral.status, referral.converted_at) == ("converted", T + timedelta(days=1))
    assert advocate_cash() == [("alice@example.com", 1000)]


def test_the_merchant_names_the_referrer_of_an_unverified_sign_up(api, program, link):
    """A sign-up from a browser without a click claims the friend for Olga; the shop's
    order with Alice's code makes the friend Alice's (verified), and she is rewarded."""
    olga = enroll(program, "olga@example.com")
    claim = sign_up(olga.links.get(), "bob@example.com", from_browser=True)
    assert claim.verified is False
    Referral.objects.filter(pk=claim.pk).update(status="rejected", rejection_reason="x")
    body = buy(api, referral_code=link.code, customer={"email": "bob@example.com"})
    assert body["attributed"] is True
    claim.refresh_from_db()
    assert (claim.advocate_id, claim.link_id, claim.verified, claim.status) == (
        link.advocate_id,
        link.pk,
        True,
        "converted",
    )
    assert claim.rejection_reason == ""
    assert advocate_cash() == [("alice@example.com", 1000)]


def test_an_unverified_sign_up_alone_attributes_nothing(api, program, link):
    sign_up(link, "bob@example.com", from_browser=True)
    body = buy(api, customer={"email": "bob@example.com"})
    assert body["attributed"] is False
    assert advocate_cash() == []


# ------------------------------------------------------------ recording once


def test_recording_an_order_is_audited(api, link):
    buy(api, referral_code=link.code)
    row = AuditLog.objects.get(action="conversion.recorded")
    conversion = Conversion.objects.get()
    assert row.object_id == str(conversion.pk)
    assert row.data == {"attributed": True, "reason": f"referral code {link.code}"}


def _missing_once(monkeypatch, name, times=1):
    """``referral_services.<name>`` finds nothing on its first call (or first ``times``
    calls): what a request sees when another one commits the row just after it looked."""
    real = getattr(referral_services, name)
    calls = []

    def missing_once(*args, **kwargs):
        calls.append(1)
        return None if len(calls) <= times else real(*args, **kwargs)

    monkeypatch.setattr(referral_services, name, missing_once)
    return calls


ORDER = {"amount_minor": 5000, "currency": "EUR", "customer_email": "bob@example.com"}


@pytest.mark.parametrize("same_body", [True, False], ids=["same-body", "other-body"])
def test_an_order_recorded_meanwhile_by_another_request(program, link, monkeypatch, same_body):
    """The unique index decides: the loser's transaction is run again and answers with
    the winner's order (or 409)."""
    facts = {"program": program, "order_id": "o-1", "referral_code": link.code, **ORDER}
    first, created = flows.conversion_record(**facts, fingerprint="first")  # the winner
    assert created
    calls = _missing_once(monkeypatch, "_recorded_order")
    if same_body:
        conversion, created = flows.conversion_record(**facts, fingerprint="first")
        assert (created, conversion.pk, conversion.request_fingerprint) == (
            False,
            first.pk,
            "first",
        )
        # Not looked up before the first INSERT (the unique index refuses it); the run
        # again looks (and, here, misses the row once more) and its savepoint catches it.
        assert len(calls) == 1
        assert Referral.objects.count() == 1
        assert advocate_cash() == [("alice@example.com", 1000)]
    else:
        with pytest.raises(Conflict) as refused:
            flows.conversion_record(**facts, fingerprint="second")
        assert refused.value.code == "order_conflict"
    assert Conversion.objects.count() == 1


def test_an_order_recorded_meanwhile_again_is_caught_at_the_savepoint_of_the_second_run(
    program, link, monkeypatch
):
    """The run again after a lost race has savepoints: when its look for the order
    misses it too, the unique index refuses the order at a savepoint and the winner's
    order answers, where the first run, without savepoints (and without a look: its
    INSERT finds a duplicate), could only give up its transaction."""
    facts = {"program": program, "order_id": "o-1", "referral_code": link.code, **ORDER}
    first, _ = flows.conversion_record(**facts, fingerprint="first")
    calls = _missing_once(monkeypatch, "_recorded_order", times=2)
    conversion, created = flows.conversion_record(**facts, fingerprint="first")
    assert (created, conversion.pk) == (False, first.pk)
    assert len(calls) == 1  # the second run's look, missed
    assert Conversion.objects.count() == 1
    assert advocate_cash() == [("alice@example.com", 1000)]


def test_an_order_recorded_meanwhile_inside_the_callers_transaction_keeps_it(
    program, link, monkeypatch
):
    """Called inside a transaction of the caller's, the flow cannot run again: the
    duplicate is caught at a savepoint, the winner's order answers, and the caller's
    transaction goes on with what it wrote before."""
    facts = {"program": program, "order_id": "o-1", "referral_code": link.code, **ORDER}
    first, _ = flows.conversion_record(**facts, fingerprint="first")
    calls = _missing_once(monkeypatch, "_recorded_order")
    with transaction.atomic():
        enroll(program, "carol@example.com")
        conversion, created = flows.conversion_record(**facts, fingerprint="first")
        assert (created, conversion.pk) == (False, first.pk)
    assert len(calls) == 1  # not run again
    assert Advocate.objects.filter(email="carol@example.com").exists()
    assert advocate_cash() == [("alice@example.com", 1000)]


def test_an_order_again_with_an_unknown_code_answers_with_the_order(program, link):
    """Attribution fails before the INSERT that would find the order: it looks it up."""
    facts = {"program": program, "order_id": "o-1", "referral_code": link.code, **ORDER}
    first, _ = flows.conversion_record(**facts, fingerprint="first")
    facts["referral_code"] = "NOSUCHCODE"
    again, created = flows.conversion_record(**facts, fingerprint="first")
    assert (created, again.pk) == (False, first.pk)
    with pytest.raises(Conflict):
        flows.conversion_record(**facts, fingerprint="second")
    with pytest.raises(Unprocessable):
        flows.conversion_record(**{**facts, "order_id": "o-2"}, fingerprint="third")
    assert Conversion.objects.count() == 1


def test_a_friends_two_first_orders_at_once_reward_once(program, link, monkeypatch):
    """Two orders of one new friend under two order ids: the second's referral insert
    loses to the first's, and run again it is the friend's second purchase."""
    flows.conversion_record(program=program, order_id="o-1", referral_code=link.code,
                            fingerprint="a", **ORDER)  # fmt: skip
    _missing_once(monkeypatch, "_find_referral")
    second, created = flows.conversion_record(program=program, order_id="o-2",
                                              referral_code=link.code, fingerprint="b",
                                              **ORDER)  # fmt: skip
    assert created and second.attributed
    assert Referral.objects.count() == 1
    assert second.referral_id == Referral.objects.get().pk
    assert advocate_cash() == [("alice@example.com", 1000)]  # the first purchase only


# ------------------------------------------------------------ refunds


def test_a_refund_key_seen_before_returns_that_refund(api, program, link):
    buy(api, referral_code=link.code, amount="80.00")
    _, first, created = flows.conversion_refund(
        program=program, order_id="order-1", amount_minor=2000, idempotency_key="k"
    )
    conversion, again, created_again = flows.conversion_refund(
        program=program, order_id="order-1", amount_minor=2000, idempotency_key="k"
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert (conversion.refunded_minor, conversion.status) == (2000, "partially_refunded")
    assert Reward.objects.get(recipient="advocate").reversed_minor == 250


def test_refunding_a_refunded_order_in_full_again_changes_nothing(api, program, link):
    buy(api, referral_code=link.code, amount="80.00")
    flows.conversion_refund(program=program, order_id="order-1", amount_minor=3000)
    conversion, last, created = flows.conversion_refund(program=program, order_id="order-1")
    assert (created, last.amount_minor, conversion.status) == (True, 5000, "refunded")
    conversion, again, created = flows.conversion_refund(program=program, order_id="order-1")
    assert (created, again.pk, conversion.refunded_minor) == (False, last.pk, 8000)
    row = AuditLog.objects.filter(action="conversion.refunded").order_by("pk").last()
    assert (row.program_id, row.data) == (program.pk, {"amount_minor": 5000, "refund_id": last.pk})
    assert Reward.objects.get(recipient="advocate").status == "reversed"


def test_a_refund_finds_this_programs_order_by_its_id(api, program, link, other_program):
    """Another program's order of the same id, and this program's other orders, are
    left alone; an unknown order is 404 ``unknown_order`` from the service itself."""
    from rest_framework.test import APIClient

    from core.errors import NotFound, Unprocessable

    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_program[1]}")
    assert post_conversion(other, currency="USD", amount="80.00").status_code == 201
    buy(api, order_id="order-0", amount="30.00")
    buy(api, referral_code=link.code, amount="80.00")
    conversion, refund, created = flows.conversion_refund(
        program=program, order_id="order-1", amount_minor=2000
    )
    assert created is True
    assert (conversion.program_id, conversion.order_id, refund.amount_minor) == (
        program.pk,
        "order-1",
        2000,
    )
    refunded = Conversion.objects.order_by("pk").values_list("order_id", "refunded_minor")
    assert list(refunded) == [("order-1", 0), ("order-0", 0), ("order-1", 2000)]
    with pytest.raises(NotFound) as missing:
        flows.conversion_refund(program=program, order_id="order-9", amount_minor=100)
    assert (missing.value.code, missing.value.message) == (
        "unknown_order",
        "No conversion with order id 'order-9'.",
    )
    with pytest.raises(Unprocessable) as too_much:
        flows.conversion_refund(program=program, order_id="order-1", amount_minor=6001)
    assert (too_much.value.code, too_much.value.message, too_much.value.fields) == (
        "refund_exceeds_order",
        "The refund is larger than what is left of the order.",
        {"amount": ["At most 6000 minor units remain."]},
    )

"""Balances, history, the points catalog and payouts on the rewards page."""

import re
import uuid
from datetime import timedelta

import time_machine
from django.utils import timezone

from advocacy.models import Advocate
from advocacy.services import advocate_set_status
from rewards.ledger import available_points
from rewards.models import Payout, PayoutAccount, Perk, Redemption
from rewards.perks import perk_grant
from rewards.services import reward_issue, reward_mature

from .helpers import add_entry, add_perk


def rewards_page(browser, program) -> str:
    response = browser.get(f"/p/{program.slug}/rewards/")
    assert response.status_code == 200
    return response.content.decode()


def redeem(browser, program, item, key):
    return browser.post(
        f"/p/{program.slug}/rewards/redeem/",
        {"item": item.pk, "idempotency_key": str(key)},
        follow=True,
    )


def test_it_shows_balances_and_history_newest_first(alice_client, program, advocate):
    add_entry(advocate, 1000, memo="Nina's first order")
    add_entry(advocate, 300, bucket="pending", memo="Omar's first order")
    add_entry(advocate, 40, currency="PTS", memo="Welcome points")
    text = rewards_page(alice_client, program)
    assert "€10.00" in text and "€3.00" in text
    assert "<strong>40</strong> available" in text
    history = text[text.index('id="history-title"') :]
    assert history.index("Welcome points") < history.index("Omar&#x27;s first order")
    assert history.index("Omar&#x27;s first order") < history.index("Nina&#x27;s first order")
    assert "Correction by the program" in history and "40 points" in history


def test_the_history_says_what_happened_not_how_the_books_moved(alice_client, program, advocate):
    with time_machine.travel("2026-03-01 12:00Z", tick=False):
        issued = reward_issue(
            program=program, advocate=advocate, key="t:1", reason="Rule: first purchase",
            amount_minor=2000, currency="EUR", hold_days=14,
        )  # fmt: skip
        matured = reward_issue(
            program=program, advocate=advocate, key="t:2", reason="Rule: first purchase",
            amount_minor=500, currency="EUR", hold_days=0,
        )  # fmt: skip
    reward_mature(reward_id=matured.pk)
    history = rewards_page(alice_client, program)
    history = history[history.index('id="history-title"') :]
    assert "available on March 15, 2026" in history
    assert "Reward became available" not in history
    assert "pending" not in history
    assert history.count("€20.00") == 1 and history.count("€5.00") == 1
    assert issued.pk != matured.pk


def test_the_history_pages_past_a_hundred_rows(alice_client, program, advocate):
    for n in range(130):
        add_entry(advocate, 100 + n, memo=f"row {n}")
    first = rewards_page(alice_client, program)
    assert "Page 1 of 3" in first and "row 129<" in first and "row 70<" not in first
    last = alice_client.get(f"/p/{program.slug}/rewards/?page=3").content.decode()
    assert "row 0<" in last and "row 129<" not in last


def test_payouts_and_redemptions_page_each_on_their_own(alice_client, program, advocate):
    item = add_perk(program, points=1, name="Sticker")
    for n in range(55):
        Redemption.objects.create(
            program=program, advocate=advocate, item=item, points=n + 1,
            status="fulfilled", idempotency_key=f"r{n}", coupon_code=f"CODE-{n}",
        )  # fmt: skip
        Payout.objects.create(
            program=program, advocate=advocate, amount_minor=10_000 + n, currency="EUR",
            status=Payout.Status.PAID, stripe_account_id="acct_1",
        )  # fmt: skip
    first = rewards_page(alice_client, program)
    assert "CODE-54<" in first and "CODE-4<" not in first
    assert "€100.54" in first and "€100.04" not in first
    assert first.count("Page 1 of 2") == 2
    assert 'href="?redemptions=2#redemptions-title"' in first
    assert 'href="?payouts=2#payout-title"' in first
    both = alice_client.get(f"/p/{program.slug}/rewards/?redemptions=2&payouts=2").content.decode()
    assert "CODE-4<" in both and "CODE-54<" not in both
    assert "€100.04" in both and "€100.54" not in both
    # Turning one list's page keeps the other's.
    assert 'href="?redemptions=1&amp;payouts=2#redemptions-title"' in both


def test_a_double_submitted_redemption_redeems_once(alice_client, program, advocate):
    add_entry(advocate, 500, currency="PTS")
    item = add_perk(program, points=200)
    text = rewards_page(alice_client, program)
    [key] = re.findall(r'name="idempotency_key" value="([0-9a-f-]{36})"', text)
    first = redeem(alice_client, program, item, key)
    second = redeem(alice_client, program, item, key)
    assert "You redeemed Tote bag" in first.content.decode()
    assert "You redeemed Tote bag" in second.content.decode()
    assert Redemption.objects.filter(advocate=advocate).count() == 1
    assert available_points(advocate.pk) == 300
    # A new form (new key) redeems again.
    redeem(alice_client, program, item, uuid.uuid4())
    assert available_points(advocate.pk) == 100


def test_a_failed_redemption_shows_why(alice_client, program, advocate):
    add_entry(advocate, 50, currency="PTS")
    item = add_perk(program, points=200)
    text = redeem(alice_client, program, item, uuid.uuid4()).content.decode()
    assert "This costs 200 points; 50 are available." in text
    assert not Redemption.objects.exists()


def test_a_paused_advocate_cannot_redeem(alice_client, program, advocate):
    add_entry(advocate, 500, currency="PTS")
    item = add_perk(program, points=200)
    advocate_set_status(advocate=advocate, status=Advocate.Status.PAUSED)
    text = redeem(alice_client, program, item, uuid.uuid4()).content.decode()
    assert "The advocate is paused." in text
    assert not Redemption.objects.exists()


def test_another_programs_item_cannot_be_redeemed(alice_client, program, advocate, other_program):
    add_entry(advocate, 500, currency="PTS")
    foreign = add_perk(other_program[0], points=10)
    text = redeem(alice_client, program, foreign, uuid.uuid4()).content.decode()
    assert "not in the catalog" in text
    assert not Redemption.objects.exists()


def test_a_malformed_key_redeems_nothing(alice_client, program, advocate):
    add_entry(advocate, 500, currency="PTS")
    item = add_perk(program)
    redeem(alice_client, program, item, "not-a-uuid")
    assert not Redemption.objects.exists()


def test_without_stripe_payouts_are_explained_not_offered(alice_client, program, settings):
    settings.STRIPE_API_KEY = ""
    text = rewards_page(alice_client, program)
    assert "Set up payouts" not in text
    assert "not switched on for this program yet" in text


def test_it_shows_payout_setup_and_history(alice_client, program, advocate, settings):
    settings.STRIPE_API_KEY = "sk_test_x"
    text = rewards_page(alice_client, program)
    assert f'action="/payouts/{program.slug}/setup/"' in text
    assert "Set up payouts" in text
    PayoutAccount.objects.create(
        advocate=advocate, stripe_account_id="acct_1", payouts_enabled=True
    )
    Payout.objects.create(
        program=program,
        advocate=advocate,
        amount_minor=2500,
        currency="EUR",
        status=Payout.Status.PAID,
        stripe_account_id="acct_1",
    )
    text = rewards_page(alice_client, program)
    assert "Your payout account is connected" in text
    assert "€25.00" in text and "Paid" in text


def test_the_rewards_query_count_does_not_grow_with_entries(
    alice_client, program, advocate, django_assert_max_num_queries
):
    add_entry(advocate, 100)
    mug = add_perk(program, name="Mug")
    # One of each paged list, so that the baseline reads every list.
    Redemption.objects.create(
        program=program, advocate=advocate, item=mug, points=1, status="fulfilled",
        idempotency_key="first",
    )  # fmt: skip
    Payout.objects.create(
        program=program, advocate=advocate, amount_minor=100, currency="EUR",
        status=Payout.Status.PAID, stripe_account_id="acct_1",
    )  # fmt: skip
    with django_assert_max_num_queries(15) as few:
        rewards_page(alice_client, program)
    baseline = len(few.captured_queries)  # read now: each request resets the query log
    for n in range(25):
        add_entry(advocate, 100, memo=f"entry {n}")
        add_entry(advocate, 10, currency="PTS")
        add_perk(program, points=10 + n, name=f"Item {n}")
    item = add_perk(program, points=1, name="Sticker")
    for _ in range(5):
        redeem(alice_client, program, item, uuid.uuid4())
    PayoutAccount.objects.create(advocate=advocate, stripe_account_id="acct_1")
    with django_assert_max_num_queries(baseline):
        rewards_page(alice_client, program)


def test_the_portal_shows_the_perk_with_its_dates_code_and_link(alice_client, advocate):
    now = timezone.now()
    drop = Perk.objects.create(
        program=advocate.program, name="Winter drop, 48 h early",
        url="https://shop.example.com/drop?access=vip", code="EARLY48",
        starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=4),
    )  # fmt: skip
    perk_grant(advocate=advocate, perk=drop, key="gift:1")
    ended = Perk.objects.create(
        program=advocate.program, name="Summer sale preview", code="OLD",
        starts_at=timezone.now() - timedelta(days=9), ends_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    perk_grant(advocate=advocate, perk=ended, key="gift:2")
    page = alice_client.get(f"/p/{advocate.program.slug}/rewards/").content.decode()
    assert "Your perks" in page and "Winter drop, 48 h early" in page
    assert "EARLY48" in page and "https://shop.example.com/drop?access=vip" in page
    assert "Opens on" in page
    assert "Ended on" in page and "OLD</code>" not in page  # an ended perk's code is gone
    assert page.index("Winter drop") < page.index("Summer sale preview")

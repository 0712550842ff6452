"""A manager's first hour in a real browser: set a program up, copy its keys, run a
referral of that new program through the demo shop with the friend's discount, approve the
reward, move the order to another advocate, export CSV. Screenshots at 390 and 1280 px."""

import csv
import io
import re
from pathlib import Path

from django.test import Client

from advocacy.models import AuditLog, Program
from advocacy.services import advocate_enroll
from referrals.models import Conversion
from rewards.ledger import balances
from rewards.models import Reward
from tests.factories import UserFactory
from tests.helpers import browser_sign_in, wait_for_advocacy

PASSWORD = "a manager's long password"


def _log_in(page, live_server):
    maria = UserFactory(username="maria", email="maria@example.com", is_staff=True,
                        is_superuser=True, password=PASSWORD)  # fmt: skip
    browser_sign_in(page, live_server.url, maria, PASSWORD)


def test_a_managers_first_hour(page, live_server, demo, screenshot):
    _log_in(page, live_server)

    # 1. A double-sided program in one flow.
    page.goto(f"{live_server.url}/admin/advocacy/program/")
    page.click("#setup-program")
    page.wait_for_url(re.compile(r"/admin/advocacy/program/setup/$"))
    page.fill("#id_name", "Nordlys Friends")
    page.fill("#id_advocate_reward", "25.00")
    page.fill("#id_friend_discount_percent", "15")
    # While testing, the program lands on the demo shop (the manager's shop later).
    page.fill("#id_landing_url", f"{live_server.url}/demo-shop/")
    page.fill("#id_allowed_domains", "nordlys.example.com\nshop.nordlys.example.com")
    screenshot("setup")
    page.get_by_role("button", name="Create the draft program").click()
    page.locator("#program-integration").wait_for()
    program = Program.objects.get(name="Nordlys Friends")
    assert not program.open_enrollment
    assert {(r.recipient, r.kind) for r in program.reward_rules.all()} == {
        ("advocate", "cash"),
        ("friend", "coupon"),
    }
    screenshot("program_keys")

    # 2. Copy the keys: the copied secret key works against the API.
    page.click("[data-copy=key-secret]")
    page.locator("[data-copy=key-secret]", has_text="Copied").wait_for()
    secret = page.evaluate("navigator.clipboard.readText()")
    assert secret.startswith("sk_")
    answer = Client().get("/api/v1/advocates", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200 and answer.json() == {"results": [], "next": None}
    page.click("[data-copy=key-publishable]")
    publishable = page.evaluate("navigator.clipboard.readText()")
    assert publishable.startswith("pk_")
    page.click("[data-copy=embed-snippet]")
    assert f'data-key="{publishable}"' in page.evaluate("navigator.clipboard.readText()")
    program_page = page.url
    page.click("#publish-program")
    page.locator(".messagelist", has_text="is public").wait_for()
    program.refresh_from_db()
    assert program.open_enrollment

    # Cash rewards above 5.00 wait for the manager's approval (the rule's page).
    cash = program.reward_rules.get(recipient="advocate", kind="cash")
    page.goto(f"{live_server.url}/admin/rewards/rewardrule/{cash.pk}/change/")
    page.fill("#id_approval_above_minor", "5.00")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator(".messagelist").wait_for()
    cash.refresh_from_db()
    assert cash.approval_above_minor == 500

    # A customer joins as an advocate, through the API with the copied key.
    joined = Client().post(
        "/api/v1/advocates",
        {"email": "ingrid@example.com", "name": "Ingrid Berg"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert joined.status_code == 201, joined.content
    code = joined.json()["referral_code"]

    # 3. The demo shop runs on the new program with its two keys, and a friend of
    # Ingrid's buys there through her link with the friend's discount.
    page.goto(program_page)
    with page.context.expect_page() as opened:
        page.click("#try-demo-shop")
    shop = opened.value
    shop.fill("#secret_key", secret)
    shop.fill("#publishable_key", publishable)
    screenshot("demo_shop_connect", shop)
    shop.get_by_role("button", name="Connect").click()
    shop.locator("#shop-program", has_text="Nordlys Friends").wait_for()
    shop.goto(f"{live_server.url}/r/{code}")
    shop.wait_for_url(re.compile(rf"/demo-shop/\?ref={code}"))
    shop.goto(f"{live_server.url}/demo-shop/checkout/wool-beanie/")
    wait_for_advocacy(shop)
    assert shop.evaluate("() => Advocacy.referral() !== null")
    shop.fill("#email", "sofie@example.com")
    shop.get_by_role("button", name=re.compile("Pay")).click()
    shop.locator("#friend-discount", has_text="15% off").wait_for()
    # The buyer is offered the share prompt too; they close it to read their receipt.
    shop.get_by_role("dialog").get_by_role("heading").wait_for()
    shop.keyboard.press("Escape")
    shop.get_by_role("dialog").wait_for(state="hidden")
    shop.frame_locator("iframe.widget-frame").locator("#referral-url").wait_for()
    screenshot("demo_shop_discount", shop)
    conversion = Conversion.objects.get(customer_email="sofie@example.com")
    assert conversion.program == program
    assert conversion.amount_minor == 2465 and conversion.attributed
    assert conversion.advocate.email == "ingrid@example.com"
    shop.close()

    # 4. Approve the reward from the approvals queue.
    page.goto(f"{live_server.url}/admin/rewards/reward/?approval=awaiting")
    screenshot("approvals")
    reward = Reward.objects.get(conversion=conversion, recipient="advocate")
    page.goto(f"{live_server.url}/admin/rewards/reward/{reward.pk}/change/")
    screenshot("reward_awaiting")
    page.click("#approve-reward")
    page.locator(".messagelist", has_text="Approved").wait_for()
    reward.refresh_from_db()
    assert reward.approved_at is not None

    # 5. Move the order to another advocate.
    olav, _ = advocate_enroll(program=program, email="olav@example.com", name="Olav")
    page.goto(f"{live_server.url}/admin/referrals/conversion/{conversion.pk}/change/")
    screenshot("conversion")
    page.click("#override-attribution")
    page.select_option("#id_advocate", str(olav.pk))
    page.fill("#id_reason", "Olav sold it in the store")
    screenshot("attribution")
    page.get_by_role("button", name="Change attribution").click()
    page.locator(".messagelist", has_text="Attribution changed").wait_for()
    conversion.refresh_from_db()
    assert conversion.advocate == olav
    assert balances(advocate=olav)["cash"]["EUR"]["pending"] == 2500
    assert AuditLog.objects.filter(action="conversion.attribution_overridden").exists()

    # 6. Export CSV, following the list's filter.
    page.goto(f"{live_server.url}/admin/referrals/conversion/?attributed__exact=1")
    screenshot("conversions")
    with page.expect_download() as download:
        page.click(".console-export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["order_id"] for r in rows} >= {conversion.order_id}
    assert all(r["attributed"] == "True" for r in rows)
    assert next(r for r in rows if r["order_id"] == conversion.order_id)["amount"] == "24.65"

"""A manager's first hour in a real browser: set a program up, copy its keys, see a
referral through the demo shop with the friend's discount, approve the reward, move the
order to another advocate, export CSV. Screenshots at 390 and 1280 px."""

import csv
import io
import re
from pathlib import Path

from django.test import Client

from advocacy.models import Advocate, AuditLog, Program
from referrals.models import Conversion
from rewards.ledger import balances
from rewards.models import Reward
from tests.factories import UserFactory
from tests.helpers import browser_sign_in

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
    page.fill("#id_landing_url", "https://nordlys.example.com/")
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
    page.click("[data-copy=embed-snippet]")
    assert 'data-key="pk_' in page.evaluate("navigator.clipboard.readText()")
    page.click("#publish-program")
    page.locator(".messagelist", has_text="is public").wait_for()
    program.refresh_from_db()
    assert program.open_enrollment

    # 3. A referral through the demo shop (the demo program), the friend's discount applied.
    demo.reward_rules.filter(kind="cash").update(approval_above_minor=500)
    page.goto(f"{live_server.url}/r/DEMO2345")
    page.wait_for_url(re.compile(r"/demo-shop/\?ref=DEMO2345"))
    page.goto(f"{live_server.url}/demo-shop/checkout/wool-beanie/")
    page.wait_for_function("() => window.Advocacy !== undefined")
    page.fill("#email", "sofie@example.com")
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.locator("#friend-discount", has_text="10% off").wait_for()
    screenshot("demo_shop_discount")
    conversion = Conversion.objects.get(customer_email="sofie@example.com")
    assert conversion.amount_minor == 2610 and conversion.attributed

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
    olav = Advocate.objects.get(program=demo, email="olav@example.com")
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
    assert balances(advocate=olav)["cash"]["EUR"]["pending"] == 1000
    assert AuditLog.objects.filter(action="conversion.attribution_overridden").exists()

    # 6. Export CSV, following the list's filter.
    page.goto(f"{live_server.url}/admin/referrals/conversion/?attributed__exact=1")
    screenshot("conversions")
    with page.expect_download() as download:
        page.click(".console-export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["order_id"] for r in rows} >= {conversion.order_id}
    assert all(r["attributed"] == "True" for r in rows)
    assert next(r for r in rows if r["order_id"] == conversion.order_id)["amount"] == "26.10"

"""An advocate's first minute, in a real browser: sign up, verify, join, share, redeem.

Full-page screenshots of each page at phone and desktop widths go to
tests/artifacts/ (ignored by git) for review.
"""

import re
from pathlib import Path

import pytest
from django.core import mail

from rewards.models import CatalogItem, Reward
from rewards.services import program_create_with_offer, reward_issue, reward_mature
from tests.storefront.conftest import browser  # noqa: F401 - the module's Chromium

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDTHS = {"phone": 360, "desktop": 1280}


@pytest.fixture
def shop(settings, live_server):
    settings.SITE_URL = live_server.url
    program, _, _ = program_create_with_offer(
        name="Nordlys Friends",
        landing_url="https://shop.example.com/",
        advocate_reward_minor=1000,
        friend_discount_percent=10,
    )
    CatalogItem.objects.create(program=program, name="Tote bag", kind="perk", points_price=50)
    return program


def shoot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=ARTIFACTS / f"portal_{name}_{label}.png", full_page=True)


def test_a_new_advocate_signs_up_shares_switches_language_and_redeems(
    browser,  # noqa: F811
    live_server,
    shop,
):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(8000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/signup/")
        shoot(page, "signup")
        page.fill("input[name=email]", "sofie@example.com")
        page.fill("input[name=password1]", "a-long-passphrase-42")
        page.fill("input[name=password2]", "a-long-passphrase-42")
        page.click("main button[type=submit]")
        page.wait_for_url(re.compile(r"/accounts/confirm-email/"))

        # The verification email, read from the test mailbox.
        [message] = [m for m in mail.outbox if "sofie@example.com" in m.to]
        link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)
        page.goto(link.replace("http://testserver", live_server.url))
        page.click("main button[type=submit]")

        page.goto(f"{live_server.url}/join/{shop.slug}/")
        shoot(page, "join")
        page.click("main form button[type=submit]")
        shoot(page, "home")
        page.goto(f"{live_server.url}/p/{shop.slug}/")
        shoot(page, "dashboard")
        link_value = (
            page.input_value("#referral-link")
            if page.locator("#referral-link").count()
            else page.locator("input[readonly]").first.input_value()
        )
        assert link_value.startswith(f"{live_server.url}/r/")
        page.get_by_role("button", name=re.compile("Copy link")).click()
        assert page.evaluate("navigator.clipboard.readText()") == link_value

        # Points to spend, then the catalog.
        from advocacy.models import Advocate

        advocate = Advocate.objects.get(email="sofie@example.com")
        reward = reward_issue(
            program=shop, advocate=advocate, key="browser-points", reason="Welcome points",
            kind=Reward.Kind.POINTS, amount_minor=80, currency="PTS", hold_days=0,
        )  # fmt: skip
        reward_mature(reward_id=reward.pk)
        page.goto(f"{live_server.url}/p/{shop.slug}/rewards/")
        shoot(page, "rewards")
        page.get_by_role("button", name=re.compile("Redeem")).first.click()
        page.wait_for_load_state()
        assert "Tote bag" in page.content()
        assert advocate.redemptions.count() == 1

        page.goto(f"{live_server.url}/p/{shop.slug}/about/")
        shoot(page, "about")

        # Switch to Swedish from the menu at the foot of the page.
        page.select_option("#language", "sv")
        page.click("footer button[type=submit]")
        page.wait_for_load_state()
        assert 'lang="sv"' in page.content()
        assert "Belöningar" in page.content()
        page.goto(f"{live_server.url}/p/{shop.slug}/")
        shoot(page, "dashboard_sv")
        advocate.refresh_from_db()
        assert advocate.locale == "sv"
        for name, path in [("emails", "/account/emails/"), ("delete", "/account/delete/")]:
            page.goto(f"{live_server.url}{path}")
            shoot(page, f"{name}_sv")
    finally:
        context.close()

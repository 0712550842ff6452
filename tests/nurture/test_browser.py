"""The engagement journey in a real browser: an advocate joins and reaches a tier,
enters a review challenge, a manager approves it in the admin, the points and badge
show, the advocate suggests an improvement and reads the manager's reply.

Then every engagement page (and the portal pages this work changed) is shot at phone
(390 px) and desktop (1440 px) widths in the five languages, into tests/artifacts/,
after checking that nothing overflows the page sideways.
"""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.utils import timezone

from advocacy.models import Advocate, ProgramMembership
from nurture import services
from nurture.models import Challenge, Tier
from referrals.services import referral_create
from rewards.ledger import balances
from rewards.models import Perk
from rewards.perks import perk_grant
from rewards.services import program_create_with_offer
from tests.factories import UserFactory
from tests.storefront.conftest import browser  # noqa: F401 - the module's Chromium

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDTHS = {"phone": 390, "desktop": 1440}
LANGUAGES = ["en", "nb", "sv", "ro", "zh-hans"]
PASSWORD = "a-long-passphrase-42"


def shoot(page, name: str, prefix: str = "nurture") -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 800})
        # Nothing is wider than the screen (long words, codes and links wrap).
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, (name, label, overflow)
        page.screenshot(path=ARTIFACTS / f"{prefix}_{name}_{label}.png", full_page=True)


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


@pytest.fixture
def shop(settings, live_server):
    settings.SITE_URL = live_server.url
    program, _, _ = program_create_with_offer(
        name="Nordlys Friends",
        landing_url="https://shop.example.com/",
        advocate_reward_minor=1000,
        friend_discount_percent=10,
        hold_days=0,
    )
    Tier.objects.create(program=program, name="Bronze", rank=1, metric="referrals", threshold=1,
                        entry_points=100, perks="Early access to new collections")  # fmt: skip
    Tier.objects.create(program=program, name="Gold", rank=2, metric="points", threshold=150,
                        multiplier=Decimal("1.50"), entry_points=200)  # fmt: skip
    Challenge.objects.create(program=program, kind="review", title="Review us on Trustpilot",
                             points=50, target_url="https://www.trustpilot.com/")  # fmt: skip
    Challenge.objects.create(program=program, kind="survey", title="One quick question",
                             points=15, question="What made you choose us?")  # fmt: skip
    return program


def people(program):
    sofie = UserFactory(username="sofie", email="sofie@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=sofie, email=sofie.email, verified=True, primary=True)
    maria = UserFactory(username="maria", email="maria@example.com", password=PASSWORD,
                        is_staff=True)  # fmt: skip
    EmailAddress.objects.create(user=maria, email=maria.email, verified=True, primary=True)
    ProgramMembership.objects.create(program=program, user=maria, role="manager")
    maria.user_permissions.set(Permission.objects.filter(content_type__app_label="nurture"))
    return sofie, maria


def test_an_advocate_climbs_a_tier_does_a_challenge_and_hears_back(
    browser,  # noqa: F811
    live_server,
    shop,
):
    people(shop)
    base = live_server.url
    advocate_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    manager_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    for ctx in (advocate_ctx, manager_ctx):
        ctx.set_default_timeout(10000)
    page, admin = advocate_ctx.new_page(), manager_ctx.new_page()
    try:
        # 1. Sofie joins; a friend signs up with her code: she reaches Bronze.
        sign_in(page, base, "sofie@example.com")
        page.goto(f"{base}/join/{shop.slug}/")
        page.click("main form button[type=submit]")
        page.wait_for_load_state()
        advocate = Advocate.objects.get(email="sofie@example.com")
        referral_create(program=shop, friend_email="nina@example.com",
                        referral_code=advocate.coupon_code)  # fmt: skip
        page.goto(f"{base}/p/{shop.slug}/vip/")
        assert "Bronze" in page.locator(".tier-badge").inner_text()
        assert "On your way to Gold" in page.content()

        # 2. She enters the review challenge with a link to her review.
        page.goto(f"{base}/p/{shop.slug}/challenges/")
        card = page.locator("section.challenge", has_text="Review us on Trustpilot")
        card.locator("input[name=proof_url]").fill("https://www.trustpilot.com/reviews/abc123")
        card.get_by_role("button", name="Send my entry").click()
        page.wait_for_load_state()
        assert "Your entry is waiting for review." in page.content()

        # 3. Maria approves it in the admin's moderation queue.
        sign_in(admin, base, "maria@example.com")
        admin.goto(f"{base}/admin/nurture/challengesubmission/")
        row = admin.locator("#result_list tbody tr", has_text="sofie@example.com")
        assert "trustpilot.com/reviews/abc123" in row.inner_text()
        row.locator("input[name=_selected_action]").check()
        admin.select_option("select[name=action]", "approve")
        admin.click("button[name=index]")
        admin.wait_for_load_state()
        assert "Approved 1 entry" in admin.content()
        shoot(admin, "admin_queue")

        # 4. Her points and the new badge show; 100 + 50 points reach Gold.
        points = balances(advocate=advocate)["points"]
        assert points["available"] + points["pending"] == 350  # 100 + 50 + Gold's 200
        page.goto(f"{base}/p/{shop.slug}/vip/")
        assert "Gold" in page.locator(".tier-badge").inner_text()
        assert "VIP tier reached" in page.locator("ul.badges").inner_text()
        page.goto(f"{base}/p/{shop.slug}/challenges/")
        assert "50 points were added to your balance" in page.content()
        page.goto(f"{base}/p/{shop.slug}/rewards/")
        assert "Challenge done: Review us on Trustpilot" in page.content()

        # 5. She suggests an improvement; Maria replies; Sofie reads it.
        page.goto(f"{base}/p/{shop.slug}/ideas/")
        page.fill("#idea-title", "Gift wrapping for friends")
        page.click("form[action$='/ideas/new/'] button[type=submit]")
        page.wait_for_load_state()
        idea = advocate.suggestions.get()
        admin.goto(f"{base}/admin/nurture/suggestion/{idea.pk}/change/")
        admin.select_option("select[name=status]", "done")
        admin.fill("textarea[name=reply]", "Gift wrapping is now offered at checkout.")
        admin.click("input[name=_save]")
        admin.wait_for_load_state()
        page.goto(f"{base}/p/{shop.slug}/ideas/")
        said = page.locator("section", has_text="You said, we did").first.inner_text()
        assert "Gift wrapping is now offered at checkout." in said
    finally:
        advocate_ctx.close()
        manager_ctx.close()


def test_every_engagement_page_in_five_languages(browser, live_server, shop):  # noqa: F811
    sofie, _ = people(shop)
    base = live_server.url
    from advocacy.services import advocate_join

    advocate = advocate_join(user=sofie, program=shop, accepted_terms="")
    for i in range(2):
        referral_create(program=shop, friend_email=f"f{i}@example.com",
                        referral_code=advocate.coupon_code)  # fmt: skip
    review = Challenge.objects.get(kind="review")
    entry = services.challenge_submit(advocate=advocate, challenge=review,
                                      proof_url="https://example.com/r")  # fmt: skip
    services.submission_approve(submission_id=entry.pk)
    services.profile_update(advocate=advocate, leaderboard_opt_in=True, display_name="Sofie N.")
    idea = services.suggestion_create(advocate=advocate, title="Gift wrapping for friends")
    services.suggestion_answer(suggestion_id=idea.pk, status="done",
                               reply="Gift wrapping is now offered at checkout.")  # fmt: skip
    services.suggestion_create(advocate=advocate, title="A dark mode for the portal")
    t = services.testimonial_submit(
        advocate=advocate, text="Lovely quality, fast delivery.", rating=5,
        consent_to_publish=True, display_name="Sofie N.",
    )  # fmt: skip
    services.testimonial_moderate(testimonial_id=t.pk, approve=True)
    services.testimonial_feature(testimonial_id=t.pk, featured=True)
    now = timezone.now()
    perk_grant(advocate=advocate, key="shot:1", perk=Perk.objects.create(
        program=shop, name="Winter collection, 48 hours early", code="NORDLYS-EARLY-48",
        description="Shop the new collection before it opens to everyone.",
        url="https://shop.example.com/collections/winter?access=early-advocates-2026",
        starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=5),
    ))  # fmt: skip
    perk_grant(advocate=advocate, key="shot:2", perk=Perk.objects.create(
        program=shop, name="Members' sample sale", url="https://shop.example.com/sample-sale",
        ends_at=now + timedelta(days=2),
    ))  # fmt: skip

    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(10000)
    page = ctx.new_page()
    try:
        sign_in(page, base, "sofie@example.com")
        pages = {
            "vip": f"/p/{shop.slug}/vip/",
            "challenges": f"/p/{shop.slug}/challenges/",
            "ideas": f"/p/{shop.slug}/ideas/",
            "dashboard": f"/p/{shop.slug}/",
            "rewards": f"/p/{shop.slug}/rewards/",
        }
        for language in LANGUAGES:
            host = re.sub(r"^https?://", "", base).split(":")[0]
            ctx.add_cookies([{"name": "django_language", "value": language, "domain": host,
                              "path": "/"}])  # fmt: skip
            tag = language.replace("-", "_")
            for name, path in pages.items():
                page.goto(f"{base}{path}")
                content = page.content()
                assert f'lang="{language}"' in content
                if language != "en" and name == "rewards":
                    assert "Your perks" not in content and "Opens on" not in content
                # Tabs never wrap onto a second line, whatever the language.
                page.set_viewport_size({"width": 360, "height": 800})
                heights = page.eval_on_selector_all(
                    "nav.tabs a", "els => new Set(els.map(e => e.offsetTop)).size"
                )
                assert heights == 1, (language, name)
                shoot(page, f"{name}_{tag}", prefix="portal" if name in
                      ("dashboard", "rewards") else "nurture")  # fmt: skip
            page.goto(f"{base}/w/testimonials/{shop.slug}/")
            shoot(page, f"testimonials_widget_{tag}")
    finally:
        ctx.close()

"""The pages a customer reaches from recruitment emails, and the manager's screens, in
Chromium. Screenshots at phone and desktop widths go to tests/artifacts/ (not in git)."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core import mail
from playwright.sync_api import expect

from recruitment import campaigns, demo, nps
from recruitment.models import Campaign, Customer, Segment
from tests.helpers import browser_sign_in
from tests.storefront.conftest import browser  # noqa: F401 - the module's Chromium

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDTHS = {"phone": 390, "desktop": 1280}


def shoot(page, name, widths=WIDTHS):
    ARTIFACTS.mkdir(exist_ok=True)
    for label, width in widths.items():
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=ARTIFACTS / f"recruitment_{name}_{label}.png", full_page=True)


def test_a_customer_answers_nps_and_unsubscribes_and_a_manager_reviews(
    browser,  # noqa: F811
    live_server,
    settings,
    program,
    advocate,
):
    settings.SITE_URL = live_server.url
    demo.seed(program=program, customers=200)
    customer = Customer.objects.filter(marketing_consent=True).exclude(advocate=None).first()
    customer = customer or Customer.objects.filter(marketing_consent=True).first()
    Customer.objects.filter(pk=customer.pk).update(locale="sv")
    nps.nps_surveys_create(program=program, customers=Customer.objects.filter(pk=customer.pk))
    nps.nps_survey_deliver(survey_id=customer.nps_surveys.get().pk)
    links = dict(re.findall(r"^(\d+): (\S+)$", mail.outbox[-1].body, re.M))
    page = browser.new_page()
    try:
        page.goto(links["9"])
        assert "Du svarade 9 av 10." in page.content()
        shoot(page, "nps_comment")
        page.fill("textarea[name=comment]", "Snabb leverans")
        page.click("main button[type=submit]")
        assert "Tack" in page.content()
        shoot(page, "nps_thanks")
        unsubscribe = mail.outbox[-1].extra_headers["List-Unsubscribe"].strip("<>")
        page.goto(unsubscribe)
        shoot(page, "unsubscribe")
        page.click("main button[type=submit]")
        assert "Du får inte längre inbjudningar" in page.content()
        shoot(page, "unsubscribed")

        root = User.objects.create_superuser("root", "root@example.com", "x-root-pass-123")
        browser_sign_in(page, live_server.url, root, "x-root-pass-123")
        desktop = {"desktop": 1280}
        page.goto(f"{live_server.url}/admin/recruitment/customer/")
        shoot(page, "admin_customers", desktop)
        top = Customer.objects.order_by("-score").first()
        page.goto(f"{live_server.url}/admin/recruitment/customer/{top.pk}/change/")
        assert "Score and its reasons" in page.content()
        shoot(page, "admin_customer", desktop)
        segment = Segment.objects.get(slug="likely-advocates")
        page.goto(f"{live_server.url}/admin/recruitment/segment/{segment.pk}/change/")
        # A locator, not wait_for_function: a string predicate is eval'd in the page,
        # which its Content-Security-Policy forbids.
        expect(page.locator("#segment-live-count")).not_to_have_text("…")
        page.fill("input[name=score_min]", "0")
        page.wait_for_timeout(800)
        shoot(page, "admin_segment", desktop)
        campaign = Campaign.objects.get()
        page.goto(f"{live_server.url}/admin/recruitment/campaign/{campaign.pk}/change/")
        assert "Funnel" in page.content()
        shoot(page, "admin_campaign", desktop)
        assert campaigns.BATCH  # the module is importable beside the live server
    finally:
        page.close()

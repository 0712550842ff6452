"""The whole placements journey in Chromium, on a phone and a desktop.

A buyer orders at the demo shop and gets the post-purchase prompt, enrols (findable
by name) and copies their link; one friend follows the link and buys; another types
the advocate's name at checkout, picks them and buys. Both purchases are attributed
to the advocate, by click (post_purchase) and by name (name_lookup).
"""

import re
import time

import pytest
from django.core.cache import cache

from advocacy.models import Advocate
from referrals import clicks
from referrals.models import Conversion
from rewards.models import Reward
from storefront.models import PlacementEvent
from tests.helpers import wait_for_advocacy

from .conftest import ARTIFACTS

pytestmark = pytest.mark.usefixtures("demo")

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture(params=list(VIEWPORTS))
def device(request, browser, live_server):
    """New pages (one per person) at this width; ``shot(page, name)`` saves a screenshot."""
    name = request.param
    contexts = []
    cache.clear()

    def new_page():
        context = browser.new_context(
            viewport=VIEWPORTS[name],
            is_mobile=name == "phone",
            has_touch=name == "phone",
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.set_default_timeout(8000)
        contexts.append(context)
        return context.new_page()

    def shot(page, label):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"placements_{label}_{name}.png"))

    yield type("Device", (), {"name": name, "new_page": staticmethod(new_page), "shot": shot})
    for context in contexts:
        context.close()


def _buy(page, live_server, product="wool-beanie", email="", name=""):
    page.goto(f"{live_server.url}/demo-shop/checkout/{product}/")
    wait_for_advocacy(page)
    if name:
        page.fill("#name", name)
    page.fill("#email", email)


def _pay(page):
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r"/demo-shop/orders/demo-\w+/$"))
    return page.url.rstrip("/").rsplit("/", 1)[1]


def test_prompt_link_and_name_lookup_bring_two_attributed_purchases(device, live_server):
    suffix = device.name
    buyer_email = f"berit.{suffix}@example.com"

    # 1. A buyer completes an order and gets the prompt.
    buyer = device.new_page()
    _buy(buyer, live_server, email=buyer_email, name="Berit Bakke")
    _pay(buyer)
    dialog = buyer.get_by_role("dialog")
    dialog.get_by_role("heading", name="Thank you! Want to share the love?").wait_for()
    assert "10% off" in dialog.inner_text()
    # Focus is in the dialog and Tab keeps it there.
    assert buyer.evaluate("document.activeElement.hasAttribute('data-advocacy-prompt')")
    for _ in range(6):
        buyer.keyboard.press("Tab")
        assert buyer.evaluate("document.activeElement.hasAttribute('data-advocacy-prompt')")
    device.shot(buyer, "prompt_invite")

    # 2. They enrol in one click (findable by name) and copy their link.
    dialog.get_by_label(re.compile("Friends may find me by name")).check()
    dialog.get_by_role("button", name="Get my link").click()
    dialog.get_by_role("heading", name="Your link is ready to share").wait_for()
    advocate = Advocate.objects.get(email=buyer_email)
    assert (advocate.status, advocate.name, advocate.findable) == ("active", "Berit Bakke", True)
    code = advocate.links.get().code
    link = dialog.get_by_role("textbox", name="Your referral link").input_value()
    assert link == f"{live_server.url}/r/{code}?p=post_purchase"
    assert dialog.locator("[data-code]").inner_text() == code
    assert dialog.get_by_role("img", name="QR code of your referral link").locator("svg").count()
    dialog.get_by_role("button", name="Copy link").click()
    dialog.get_by_role("status").filter(has_text="Copied").wait_for()
    assert buyer.evaluate("navigator.clipboard.readText()") == link
    device.shot(buyer, "prompt_link")
    _wait_for(lambda: PlacementEvent.objects.filter(kind="share", advocate=advocate).exists())
    share = PlacementEvent.objects.get(kind="share", advocate=advocate)
    assert (share.placement, share.channel) == ("post_purchase", "copy")
    buyer.keyboard.press("Escape")
    assert dialog.count() == 0
    # Shown once: the same buyer's next order gets no prompt.
    _buy(buyer, live_server, product="ceramic-mug", email=buyer_email)
    _pay(buyer)
    buyer.wait_for_timeout(500)
    assert buyer.get_by_role("dialog").count() == 0

    # 3. A friend follows the link and buys.
    friend = device.new_page()
    friend.goto(link)
    friend.wait_for_url(re.compile(rf"/demo-shop/\?ref={code}&click="))
    friend.get_by_role("link", name=re.compile("Ceramic mug")).first.click()
    friend.get_by_role("link", name="Buy now").click()
    wait_for_advocacy(friend)
    assert friend.input_value("input[name=referral_code]") == code
    assert not friend.locator("#friend-lookup").is_visible()  # a link brought them
    friend.fill("#email", f"frida.{suffix}@example.com")
    first_order = _pay(friend)
    assert friend.inner_text("#attributed") == "Attributed"
    assert friend.inner_text("#attribution-method") == "click"
    assert friend.inner_text("#attribution-placement") == "post_purchase"
    friend.get_by_role("dialog").get_by_role("heading").wait_for()  # their own prompt
    friend.keyboard.press("Escape")  # closing it loads the widget
    friend.frame_locator("iframe.widget-frame").locator("#referral-url").wait_for()
    device.shot(friend, "friend_order")

    # 4. Another friend types the advocate's name at checkout, picks them and buys.
    other = device.new_page()
    _buy(other, live_server, product="canvas-tote", email=f"oskar.{suffix}@example.com")
    field = other.get_by_role("combobox", name="Referred by a friend?")
    field.press_sequentially("Ber", delay=40)
    option = other.get_by_role("option", name=re.compile("Berit B"))
    option.wait_for()
    assert "@" not in other.locator("#friend-lookup").inner_text()
    device.shot(other, "lookup_matches")
    option.click()
    other.locator("#friend-lookup").get_by_text("Referred by Berit B.").wait_for()
    assert other.input_value("input[name=referral_code]") == code
    assert other.input_value("input[name=referral_placement]") == "name_lookup"
    assert PlacementEvent.objects.filter(kind="impression", placement="name_lookup").exists()
    device.shot(other, "lookup_picked")
    second_order = _pay(other)
    assert other.inner_text("#attribution-method") == "name_lookup"
    assert other.inner_text("#attribution-placement") == "name_lookup"

    # 5. Both purchases are the advocate's, by the right methods and placements.
    clicks.buffer.flush()
    by_click = Conversion.objects.get(order_id=first_order)
    by_name = Conversion.objects.get(order_id=second_order)
    assert (by_click.advocate, by_click.attributed, by_click.attribution_method) == (
        advocate,
        True,
        "click",
    )
    assert (by_click.click.placement, by_click.referral.placement) == ("post_purchase",) * 2
    assert (by_name.advocate, by_name.attributed, by_name.attribution_method) == (
        advocate,
        True,
        "name_lookup",
    )
    assert by_name.referral.placement == "name_lookup"
    for conversion in (by_click, by_name):
        reward = Reward.objects.get(conversion=conversion, recipient="advocate")
        assert (reward.advocate, reward.status) == (advocate, "pending")


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)

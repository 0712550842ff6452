"""The storefront in a real browser: embed.js, the demo shop's loop, the widget."""

import importlib.util
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from advocacy.services import advocate_enroll
from referrals.models import Click, Conversion, Referral
from rewards.models import Reward
from rewards.services import program_create_with_offer
from tests.helpers import wait_for_advocacy

from .conftest import SNIPPETS

pytestmark = pytest.mark.usefixtures("demo")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _snippet_shop(live_server, key: str, mode: str = "async") -> str:
    """docs/snippets/shop.html pointed at the live server, with the script loaded per ``mode``."""
    html = (SNIPPETS / "shop.html").read_text()
    html = html.replace("https://advocacy.example.com", live_server.url)
    html = html.replace("pk_your_publishable_key", key)
    tag = re.search(r"<script src=.*?</script>", html, re.S).group(0)
    if mode == "blocking":  # runs before the body is parsed
        html = html.replace(tag, tag.replace(" async>", ">"))
    elif mode == "late":  # added after the page has loaded
        src = f"{live_server.url}/embed.js"
        loader = (
            "<script>addEventListener('load', () => { const s = document.createElement('script');"
            f" s.src = '{src}'; s.dataset.key = '{key}'; document.head.append(s); }});</script>"
        )
        html = html.replace(tag, loader)
    return html


def test_the_demo_shop_loop_from_a_referral_link_to_a_reward(page, live_server, screenshot):
    page.goto(f"{live_server.url}/r/DEMO2345")
    page.wait_for_url(re.compile(r"/demo-shop/\?ref=DEMO2345&click="))
    click_id = _query(page.url)["click"]
    assert Click.objects.filter(pk=click_id, advocate__email="jane@example.com").exists()
    page.locator("#ref-badge", has_text="DEMO2345").wait_for()
    screenshot("demo_shop_home")

    page.get_by_role("link", name=re.compile("Wool beanie")).click()
    page.get_by_role("link", name="Buy now").click()
    page.wait_for_url(re.compile(r"/demo-shop/checkout/wool-beanie/$"))
    wait_for_advocacy(page)
    # The referral survived navigation: in the cookie and in the script's answer.
    assert f"advocacy_ref=DEMO2345.{click_id}" in page.evaluate("document.cookie")
    assert page.evaluate("Advocacy.referral()") == {"code": "DEMO2345", "click": click_id}
    assert page.input_value("input[name=referral_code]") == "DEMO2345"
    assert page.input_value("input[name=referral_click]") == click_id

    page.fill("#email", "new.friend@example.com")
    screenshot("demo_shop_checkout")
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r"/demo-shop/orders/demo-\w+/$"))
    assert page.inner_text("#attributed") == "Attributed"
    assert page.locator(".reward-status").all_inner_texts() == ["pending"]
    page.get_by_role("dialog").get_by_role("heading").wait_for()  # the share prompt
    page.keyboard.press("Escape")  # closed: the widget loads
    widget = page.frame_locator("iframe.widget-frame")
    widget.locator("#referral-url").wait_for()
    screenshot("demo_shop_order")

    order_id = page.url.rstrip("/").rsplit("/", 1)[1]
    conversion = Conversion.objects.get(order_id=order_id)
    assert conversion.attributed
    assert conversion.advocate.email == "jane@example.com"
    assert str(conversion.click_id) == click_id
    reward = Reward.objects.get(conversion=conversion)
    assert (reward.recipient, reward.status, reward.amount_minor) == ("advocate", "pending", 1000)
    # The buyer became an advocate in turn, through the widget on the confirmation page.
    buyer_link = widget.locator("#referral-url").input_value()
    assert re.fullmatch(rf"{live_server.url}/r/[A-Z0-9]{{8}}\?p=widget", buyer_link)


def test_an_order_without_a_referral_is_recorded_unattributed(page, live_server):
    page.goto(f"{live_server.url}/demo-shop/checkout/ceramic-mug/")
    wait_for_advocacy(page)
    assert page.evaluate("Advocacy.referral()") is None
    assert page.input_value("input[name=referral_code]") == ""
    page.fill("#email", "walk-in@example.com")
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r"/demo-shop/orders/"))
    assert page.inner_text("#attributed") == "Not attributed"
    assert not Conversion.objects.get(customer_email="walk-in@example.com").attributed


def test_inputs_added_to_the_page_later_are_filled(page, live_server):
    page.goto(f"{live_server.url}/demo-shop/?ref=DEMO2345")
    wait_for_advocacy(page)
    page.evaluate(
        """() => {
          const form = document.createElement("form");
          form.id = "late";
          form.innerHTML = '<input name="referral_code"><input name="referral_click">';
          document.body.append(form);
        }"""
    )
    expect(page.locator("#late [name=referral_code]")).not_to_have_value("")
    assert page.input_value("#late [name=referral_code]") == "DEMO2345"
    assert page.input_value("#late [name=referral_click]") == ""  # the URL had no click


def test_a_newer_referral_replaces_the_stored_one(page, live_server, demo):
    olav = demo.advocates.get(email="olav@example.com").links.get().code
    page.goto(f"{live_server.url}/r/DEMO2345")
    wait_for_advocacy(page)
    page.goto(f"{live_server.url}/r/{olav}")
    wait_for_advocacy(page)
    page.goto(f"{live_server.url}/demo-shop/p/canvas-tote/")
    wait_for_advocacy(page)
    assert page.evaluate("Advocacy.referral().code") == olav


@pytest.mark.parametrize("mode", ["async", "blocking", "late"])
def test_the_documented_snippet_works_however_the_script_loads(
    page, live_server, merchant_site, mode
):
    """docs/snippets/shop.html on another origin; its cookie domain does not fit 127.0.0.1."""
    merchant_site.add("/shop.html", _snippet_shop(live_server, "pk_demo_unused", mode))
    page.goto(
        f"{merchant_site.url}/shop.html?ref=DEMO2345&click=1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    )
    expect(page.locator("[name=referral_click]")).not_to_have_value("")
    assert page.input_value("[name=referral_code]") == "DEMO2345"
    assert page.input_value("[name=referral_click]") == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    # The browser refused domain=example.com here, so the script fell back to a host cookie.
    page.goto(f"{merchant_site.url}/shop.html")
    expect(page.locator("[name=referral_code]")).not_to_have_value("")
    assert "advocacy_ref=DEMO2345." in page.evaluate("document.cookie")


SIGNUP = """email => Advocacy.signup({email}).then(
  answer => ({answer}), error => ({error: error.message, status: error.status || null}))"""


def test_a_referred_friend_signs_up_from_the_demo_shop(page, live_server):
    page.goto(f"{live_server.url}/r/DEMO2345")
    page.wait_for_url(re.compile(r"/demo-shop/\?ref="))
    click_id = _query(page.url)["click"]
    page.fill("#friend-email", "kari@example.com")
    page.get_by_role("button", name="Get my discount").click()
    page.locator("#friend-signup-result", has_text="Welcome").wait_for()
    assert "10% off" in page.inner_text("#friend-signup-result")
    referral = Referral.objects.get(friend_email="kari@example.com")
    assert (referral.advocate.email, str(referral.click_id)) == ("jane@example.com", click_id)


def test_signup_works_only_on_the_programs_own_domains(
    page, live_server, merchant_site, demo, caplog
):
    other, _, other_key = program_create_with_offer(
        name="Other Shop", landing_url="https://shop.example.com/", allowed_domains=["example.com"]
    )
    bob, _ = advocate_enroll(program=other, email="bob@example.com")
    bob_code = bob.links.get().code

    # The demo program allows 127.0.0.1: the merchant's page may sign a friend up.
    merchant_site.add(
        "/demo.html", _snippet_shop(live_server, "pk_demo_0000000000000000000000000000demo")
    )
    page.goto(f"{merchant_site.url}/demo.html?ref=DEMO2345")
    wait_for_advocacy(page)
    result = page.evaluate(SIGNUP, "lena@example.com")
    assert result["answer"]["accepted"] is True, result
    assert Referral.objects.filter(friend_email="lena@example.com", program=demo).exists()

    # Another program's key on the same page: the API refuses the origin.
    merchant_site.add("/other.html", _snippet_shop(live_server, other_key))
    page.goto(f"{merchant_site.url}/other.html?ref={bob_code}")
    wait_for_advocacy(page)
    result = page.evaluate(SIGNUP, "mia@example.com")
    assert "error" in result  # the browser hides the refusal's body from the page (no CORS)
    refused = [r for r in caplog.records if r.getMessage() == "Forbidden: /api/v1/referrals"]
    assert [r.status_code for r in refused] == [403]
    assert not Referral.objects.filter(program=other).exists()


def _widget_sign():
    spec = importlib.util.spec_from_file_location("widget_sign", SNIPPETS / "widget_sign.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_widget_shows_a_signed_customers_link_and_refuses_a_tampered_one(
    page, live_server, merchant_site, demo, screenshot, settings
):
    settings.DEBUG = True  # the merchant's test site is plain http on this machine
    url = _widget_sign().widget_url(
        live_server.url, "demo", demo.widget_secret, "sam@example.com", "cust-7", "Sam"
    )
    frame = '<h1>My account</h1><iframe src="{}" style="width:36rem;height:470px"></iframe>'
    merchant_site.add("/account.html", frame.format(url))
    page.goto(f"{merchant_site.url}/account.html")
    widget = page.frame_locator("iframe")
    link = widget.locator("#referral-url")
    link.wait_for()
    advocate = demo.advocates.get(email="sam@example.com")
    assert advocate.external_id == "cust-7"
    assert link.input_value() == f"{live_server.url}/r/{advocate.links.get().code}?p=widget"
    assert widget.locator(".share a").all_inner_texts() == [
        "Email",
        "WhatsApp",
        "X",
        "Facebook",
        "LinkedIn",
        "SMS",
    ]
    widget.get_by_role("button", name="Copy").click()
    widget.locator("#copied", has_text="Copied").wait_for()
    screenshot("widget")

    tampered = url.replace("sam%40example.com", "eve%40example.com")
    merchant_site.add("/tampered.html", frame.format(tampered))
    page.goto(f"{merchant_site.url}/tampered.html")
    reason = page.frame_locator("iframe").locator("#reason")
    assert "signature does not match" in reason.inner_text()
    screenshot("widget_tampered")
    assert not demo.advocates.filter(email="eve@example.com").exists()

"""Content-Security-Policy in Chromium: the main pages run with no violation.

Each page is loaded with a listener for ``securitypolicyviolation`` (in every frame)
and the console's CSP messages; any violation fails the test with what was blocked,
scripts (``script-src``) and styles alike (``style-src``: a ``<style>`` without the
nonce, a ``style=`` attribute). The scripts these pages need must run too (a blocked
script is a broken page). The test waits with locators and ``page.evaluate``, never a
polled string predicate, which the policy forbids to eval.
"""

import re
from urllib.parse import urlencode

from django.conf import settings
from django.test import Client

from advocacy.models import Advocate
from storefront.signing import widget_params
from tests.factories import UserFactory
from tests.helpers import wait_for_advocacy

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                    " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


def _watch(page):
    messages = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return messages


def _violations(page, messages) -> list[str]:
    found = list(messages)
    for frame in page.frames:
        try:
            found += frame.evaluate("window.__csp || []")
        except Exception:  # noqa: S112 - a frame gone meanwhile has nothing to say
            continue
    return found


def _sign_in(page, live_server, user):
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


def test_the_main_pages_run_without_a_csp_violation(page, live_server, demo, screenshot):
    messages = _watch(page)
    checked = []

    def visit(path, ready=None):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status < 400, (path, response.status)
        policy = response.headers.get("content-security-policy", "")
        directives = {d.strip().split(" ")[0]: d.strip() for d in policy.split(";")}
        # This site's files, and inline scripts and styles only with the nonce (when the
        # page has one): no 'unsafe-inline', no 'unsafe-eval'.
        for directive in ("script-src", "style-src"):
            source = directives[directive]
            assert re.fullmatch(rf"{directive} 'self'( 'nonce-[\w+/=]+')?", source), (path, policy)
        if ready:
            page.locator(ready).first.wait_for(state="attached")
        page.wait_for_load_state("networkidle")
        checked.append(path)
        assert _violations(page, messages) == [], path

    # The portal: signed out, signing up, and an advocate's dashboard (copy buttons).
    visit("/")
    visit("/accounts/signup/")
    visit("/accounts/login/")
    jane = Advocate.objects.get(program=demo, email="jane@example.com")
    user = UserFactory(username="jane", email="jane@example.com")
    jane.user = user
    jane.save(update_fields=["user"])
    _sign_in(page, live_server, user)
    visit(f"/p/{demo.slug}/")
    page.locator("[data-copy]").first.click()  # the nonce'd script runs
    page.locator("[data-copy]", has_text="Copied").first.wait_for()
    visit(f"/p/{demo.slug}/rewards/")
    visit(f"/p/{demo.slug}/vip/")
    page.context.clear_cookies()

    # The admin: the managers' dashboard draws its charts (vendored Chart.js).
    manager = UserFactory(username="maria", email="maria@example.com", is_staff=True,
                          is_superuser=True)  # fmt: skip
    _sign_in(page, live_server, manager)
    visit("/admin/")
    assert page.evaluate("() => document.querySelector('canvas') === null || !!window.Chart")
    screenshot("csp_admin_dashboard")
    visit("/admin/advocacy/program/")
    visit(f"/admin/advocacy/program/{demo.pk}/change/")  # the copy buttons' <style>
    visit("/admin/rewards/reward/")
    visit("/admin/storefront/placementevent/")
    visit("/admin/recruitment/segment/add/")  # its live count is a nonce'd script
    page.locator("#segment-live-error", has_text="program").wait_for()
    screenshot("csp_admin_segment")
    # Two-factor set-up (allauth's MFA pages).
    visit("/accounts/2fa/")
    visit("/accounts/2fa/totp/activate/")
    page.context.clear_cookies()

    # The widget, as a merchant's server signs it, and its copy button.
    params = widget_params(program=demo, email="nora@example.com", name="Nora Friend")
    visit(f"/widget/{demo.slug}/?{urlencode(params)}")
    page.click("#copy")
    page.locator("#copied", has_text="Copied").wait_for()
    visit(f"/w/testimonials/{demo.slug}/")

    # The demo shop through checkout to the post-purchase prompt (embed.js, embed-ui.js)
    # and the widget framed in the order page.
    visit("/r/DEMO2345")  # the shop's home: the products' colour swatches
    visit("/demo-shop/p/wool-beanie/")
    visit("/demo-shop/checkout/wool-beanie/")
    wait_for_advocacy(page)
    page.fill("#email", "sofie@example.com")
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r"/demo-shop/orders/"))
    # The widget framed in the page, or the post-purchase prompt in its shadow root.
    page.locator(".widget-frame[src], [data-advocacy-prompt]").first.wait_for(state="attached")
    page.wait_for_load_state("networkidle")
    assert _violations(page, messages) == []
    screenshot("csp_post_purchase")

    # The API's docs (Swagger UI, from the project's own static files).
    visit("/api/docs/", ready=".swagger-ui .info")
    assert len(checked) >= 16

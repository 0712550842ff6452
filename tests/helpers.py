def post_conversion(api, **overrides):
    """POST a conversion; ``HTTP_*`` keyword arguments are sent as headers."""
    extra = {k: overrides.pop(k) for k in list(overrides) if k.startswith("HTTP_")}
    body = {
        "order_id": "order-1",
        "amount": "49.90",
        "currency": "EUR",
        "customer": {"email": "friend@example.com"},
    }
    body.update(overrides)
    return api.post("/api/v1/conversions", body, format="json", **extra)


def browser_sign_in(page, base_url: str, user, password: str, next_url: str = "/admin/"):
    """Sign in through allauth's form by email, as the admin and the portal do."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    page.goto(f"{base_url}/accounts/login/?next={next_url}")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{base_url}{next_url}")


# Resolves once embed.js has run (window.Advocacy is set, "advocacy:ready" fired).
# page.evaluate, not page.wait_for_function: a string predicate is polled by eval in
# the page, which a Content-Security-Policy without 'unsafe-eval' forbids.
_ADVOCACY_READY = """() => window.Advocacy !== undefined || new Promise((resolve) =>
  document.addEventListener("advocacy:ready", () => resolve(true), { once: true }))"""


def wait_for_advocacy(page) -> None:
    """Wait until the page's embed.js is ready to answer ``Advocacy.*`` calls."""
    assert page.evaluate(_ADVOCACY_READY) is True

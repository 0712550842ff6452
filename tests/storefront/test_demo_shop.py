"""The demo shop: only in development (or with DEMO_SHOP), and a page that explains setup."""

import io

import pytest

from storefront import demo, demo_shop

PAGES = [
    "/demo-shop/",
    "/demo-shop/p/wool-beanie/",
    "/demo-shop/checkout/wool-beanie/",
    "/demo-shop/orders/demo-123/",
]


@pytest.mark.parametrize("url", PAGES)
def test_it_does_not_exist_in_production(client, settings, db, url):
    settings.DEBUG = False
    settings.DEMO_SHOP = False  # the default (config/settings.py)
    assert client.get(url).status_code == 404


def test_it_can_be_switched_on_in_production(client, settings, db):
    settings.DEBUG = False
    settings.DEMO_SHOP = True
    assert client.get("/demo-shop/").status_code != 404


def test_without_the_demo_program_it_says_how_to_create_it(client, settings, db):
    settings.DEMO_SHOP = True
    response = client.get("/demo-shop/")
    assert response.status_code == 503
    assert "manage.py seed_demo" in response.content.decode()


@pytest.fixture
def shop(settings, db):
    from django.core.management import call_command

    settings.DEMO_SHOP = True
    settings.SITE_URL = "http://localhost:8000"  # seed_demo needs a landing URL that validates
    settings.DEBUG = True  # seed_demo's published keys: a development machine
    call_command("seed_demo", stdout=io.StringIO())
    settings.DEBUG = False


@pytest.mark.parametrize("url", PAGES[:3])
def test_its_pages_load_the_embed_script_with_the_demo_key(client, shop, url):
    html = client.get(url).content.decode()
    assert 'src="/embed.js?v=' in html
    assert f'data-key="{demo.DEMO_PUBLISHABLE_KEY}"' in html


def test_the_checkout_form_has_the_hidden_referral_inputs(client, shop):
    html = client.get("/demo-shop/checkout/wool-beanie/").content.decode()
    assert '<input type="hidden" name="referral_code">' in html
    assert '<input type="hidden" name="referral_click">' in html


def test_an_unknown_product_is_not_found(client, shop):
    assert client.get("/demo-shop/p/nope/").status_code == 404


def test_another_browsers_order_is_not_shown(client, shop):
    assert client.get("/demo-shop/orders/demo-123/").status_code == 404


def test_checkout_needs_an_email(client, shop):
    response = client.post("/demo-shop/checkout/wool-beanie/", {"email": " "})
    assert response.status_code == 400


def test_an_unreachable_api_is_reported_not_raised():
    result = demo_shop.order_report(
        base_url="http://127.0.0.1:9/",
        secret_key=demo.DEMO_SECRET_KEY,
        currency="EUR",
        order_id="demo-1",
        product=demo_shop.PRODUCTS["wool-beanie"],
        email="a@example.com",
    )
    assert "could not be reached" in result["error"]
    assert result["request"]["amount"] == "29.00"


# ---------------------------------------------------------------- a manager's own program


def test_a_manager_connects_the_shop_to_their_program(client, shop, program, secret_key,
                                                      publishable_key):  # fmt: skip
    response = client.post(
        "/demo-shop/connect/", {"secret_key": f" {secret_key} ", "publishable_key": publishable_key}
    )
    assert response.status_code == 302
    html = client.get("/demo-shop/").content.decode()
    assert f'data-key="{publishable_key}"' in html
    assert demo.DEMO_PUBLISHABLE_KEY not in html
    assert program.name in html
    # Another browser still shops on the demo program.
    from django.test import Client

    assert f'data-key="{demo.DEMO_PUBLISHABLE_KEY}"' in Client().get("/demo-shop/").content.decode()


def test_its_orders_go_to_the_connected_program_in_its_currency(client, shop, other_program,
                                                                 monkeypatch):  # fmt: skip
    usd_program, secret = other_program
    from advocacy.services import api_key_create

    _, publishable = api_key_create(program=usd_program, kind="publishable")
    client.post("/demo-shop/connect/", {"secret_key": secret, "publishable_key": publishable})
    sent = []

    def fake_post(url, json, headers, timeout):
        sent.append((url, json, headers))
        raise demo_shop.requests.ConnectionError("offline")

    monkeypatch.setattr(demo_shop.requests, "post", fake_post)
    client.post("/demo-shop/checkout/ceramic-mug/", {"email": "buyer@example.com"})
    url, body, headers = sent[-1]
    assert url.endswith("/api/v1/conversions")
    assert headers["Authorization"] == f"Bearer {secret}"
    assert body["currency"] == "USD" and body["amount"] == "14.90"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"secret_key": "sk_nope", "publishable_key": "pk_nope"}, "not an active secret key"),
        ({"secret_key": "{pk}", "publishable_key": "{pk}"}, "not an active secret key"),
        ({"secret_key": "{sk}", "publishable_key": "{sk}"}, "not an active publishable key"),
        ({"secret_key": "{other}", "publishable_key": "{pk}"}, "different programs"),
    ],
)
def test_wrong_keys_are_refused_with_a_reason(client, shop, secret_key, publishable_key,
                                              other_program, fields, message):  # fmt: skip
    keys = {"sk": secret_key, "pk": publishable_key, "other": other_program[1]}
    data = {name: value.format(**keys) for name, value in fields.items()}
    response = client.post("/demo-shop/connect/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert demo_shop.SESSION_KEYS not in client.session


def test_a_revoked_key_puts_the_shop_back_on_the_demo_program(client, shop, program, secret_key,
                                                              publishable_key):  # fmt: skip
    from advocacy.models import ApiKey
    from advocacy.services import api_key_revoke

    client.post(
        "/demo-shop/connect/", {"secret_key": secret_key, "publishable_key": publishable_key}
    )
    for key in ApiKey.objects.filter(program=program, kind="secret"):
        api_key_revoke(key=key)
    html = client.get("/demo-shop/").content.decode()
    assert f'data-key="{demo.DEMO_PUBLISHABLE_KEY}"' in html


def test_disconnecting_goes_back_to_the_demo_program(client, shop, secret_key, publishable_key):
    client.post(
        "/demo-shop/connect/", {"secret_key": secret_key, "publishable_key": publishable_key}
    )
    assert client.post("/demo-shop/connect/", {"disconnect": "1"}).status_code == 302
    html = client.get("/demo-shop/").content.decode()
    assert f'data-key="{demo.DEMO_PUBLISHABLE_KEY}"' in html

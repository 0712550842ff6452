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
        order_id="demo-1",
        product=demo_shop.PRODUCTS["wool-beanie"],
        email="a@example.com",
    )
    assert "could not be reached" in result["error"]
    assert result["request"]["amount"] == "29.00"

import os

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from advocacy.models import ApiKey
from advocacy.services import advocate_enroll, api_key_create
from rewards.services import program_create_with_offer

# In CI the real services are required: a test that would be skipped for
# lack of PostgreSQL or Redis fails instead, so it can never silently not run.
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def require_postgres():
    _need(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def require_broker():
    _need(bool(settings.CELERY_BROKER_URL), "needs Redis (set CELERY_BROKER_URL)")


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "http://testserver"
    # Tests see every click and link change at once; tests/referrals/test_clicks.py
    # covers the cache and the batched writer.
    settings.LINK_CACHE_SECONDS = 0
    settings.CLICK_FLUSH_MS = 0


@pytest.fixture
def program_with_keys(db):
    program, secret, publishable = program_create_with_offer(
        name="Acme Friends",
        landing_url="https://shop.example.com/welcome",
        allowed_domains=["example.com"],
        currency="EUR",
        advocate_reward_minor=1000,
        friend_discount_percent=10,
        hold_days=14,
        attribution_window_days=30,
    )
    return program, secret, publishable


@pytest.fixture
def program(program_with_keys):
    return program_with_keys[0]


@pytest.fixture
def secret_key(program_with_keys):
    return program_with_keys[1]


@pytest.fixture
def publishable_key(program_with_keys):
    return program_with_keys[2]


@pytest.fixture
def api(secret_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    return client


@pytest.fixture
def other_program(db):
    """Charlie's program: an outsider whose keys must never reach Acme's data."""
    program, secret, _ = program_create_with_offer(
        name="Other Shop", landing_url="https://other.example.org/", currency="USD"
    )
    return program, secret


@pytest.fixture
def advocate(program):
    advocate, _ = advocate_enroll(
        program=program, email="alice@example.com", name="Alice", external_id="cust-alice"
    )
    return advocate


@pytest.fixture
def link(advocate):
    return advocate.links.get()


def make_key(program, kind=ApiKey.Kind.SECRET):
    return api_key_create(program=program, kind=kind)[1]


@pytest.fixture(autouse=True)
def _eager_tasks(request):
    """Tasks run in-process unless a test starts a real worker (``celery_worker_env``)."""
    from config.celery import app

    eager = "real_worker" not in request.fixturenames
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def fake_stripe(settings):
    """A local fake Stripe with the real SDK pointed at it."""
    from rewards import stripe_gateway
    from tests.fake_stripe import FakeStripe

    with FakeStripe() as fake:
        settings.STRIPE_API_KEY = "sk_test_fake"
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_TIMEOUT_SECONDS = 1
        yield fake
        stripe_gateway._client.cache_clear()
    assert not fake.errors, fake.errors

import os
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from advocacy.models import ApiKey
from advocacy.services import advocate_enroll, api_key_create
from referrals import clicks
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


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing(django_test_environment):
    """MD5 instead of PBKDF2 (a million iterations a hash) for every password tests hash.

    Session-wide, so users made in fixtures and behind the live server (a thread of
    this process) are covered. Subprocesses (``manage.py``, a Celery worker) keep
    ``config.settings``, as a deployment would; none of them hashes passwords.
    """
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(PASSWORD_HASHERS=fast + settings.PASSWORD_HASHERS):
        yield


@pytest.fixture(scope="session", autouse=True)
def _click_spool(django_test_environment, tmp_path_factory):
    """Each test process spools clicks in a folder of its own."""
    with override_settings(CLICK_SPOOL_DIR=tmp_path_factory.mktemp("click-spool")):
        yield


@pytest.fixture(scope="session", autouse=True)
def _test_cache(django_test_environment):
    """Rate-limit counters and allauth's limits in a cache of this test process.

    Served apps (``tests/test_serving.py``) and workers keep the configured shared
    cache, as a deployment would.
    """
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=local):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache(_test_cache):
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "http://testserver"
    # Most tests see every click and link change at once; the redirect's own tests
    # run it as production does instead (``click_path`` below).
    settings.LINK_CACHE_SECONDS = 0
    settings.CLICK_FLUSH_MS = 0
    # Every redirect counted in the test's cache at once (cleared between tests);
    # tests/core/test_rate_limits.py runs the batched counter.
    settings.RATE_LIMIT_FLUSH_MS = 0
    # Configuration (keys, rules) read fresh too; tests/core/test_config_cache.py caches it.
    settings.CONFIG_CACHE_SECONDS = 0


class DrivenClock:
    """The click writer thread's timer, run by the test rather than by time.

    It stands in for ``ClickBuffer._stop``: the thread waits in ``wait()`` until the
    test calls ``tick()`` (one round: write what the buffer holds) or ``set()``
    (``ClickBuffer.stop()``: a last round, then the thread ends). Nothing races.
    """

    def __init__(self):
        self._stopped = threading.Event()
        self._go = threading.Semaphore(0)
        self._waiting = threading.Semaphore(0)

    # The writer thread's side (``ClickBuffer._run`` and ``stop``).
    def is_set(self) -> bool:
        return self._stopped.is_set()

    def set(self) -> None:
        self._stopped.set()
        self._go.release()

    def wait(self, timeout=None) -> bool:
        self._waiting.release()
        self._go.acquire()
        return self._stopped.is_set()

    # The test's side.
    def tick(self) -> None:
        assert self._waiting.acquire(timeout=10), "no click writer thread is waiting"
        self._go.release()
        assert self._waiting.acquire(timeout=10), "the click writer did not finish its round"
        self._waiting.release()  # waiting again, for the next tick


class DrivenClickBuffer(clicks.ClickBuffer):
    """The production click buffer and writer thread, its rounds driven by ``tick()``."""

    def __init__(self):
        super().__init__()
        self._stop = DrivenClock()

    def tick(self) -> None:
        """Let the writer thread write what the buffer holds, on its own connection.

        Its connection cannot see the test's uncommitted rows: use ``transactional_db``.
        """
        self._stop.tick()


@pytest.fixture
def click_path(_site_url, settings, monkeypatch, db, tmp_path):
    """``GET /r/<code>`` as production runs it (PostgreSQL's defaults): each link
    cached in process for LINK_CACHE_SECONDS, clicks buffered for the writer thread.

    Returns the buffer, installed as ``referrals.clicks.buffer``. A test sees its
    clicks' rows once it writes them: ``flush()`` writes on the test's connection
    (inside the ``db`` transaction), ``tick()`` has the writer thread write them.
    """
    settings.LINK_CACHE_SECONDS = 5
    settings.CLICK_FLUSH_MS = 50
    settings.CLICK_SPOOL_DIR = tmp_path / "click-spool"  # this test's spool files only
    writer = DrivenClickBuffer()
    monkeypatch.setattr(clicks, "buffer", writer)
    clicks.clear_link_cache()
    yield writer
    writer._take()  # rows the test did not ask for are dropped, not written now
    writer.stop()  # the thread and its connection end before the test database does
    clicks.clear_link_cache()


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

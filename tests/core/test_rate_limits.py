"""Rate limits: the API per key and address, sign-ins per account and address."""

from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import make_key

ADMIN_PASSWORD = "correct horse battery staple"


def _post_referral(client, key, **extra):
    return client.post(
        "/api/v1/referrals",
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **extra,
    )


@pytest.fixture
def limits(settings):
    settings.API_RATE_LIMITS = {
        "secret": "3/m",
        "publishable": "2/m",
        "publishable_total": "5/m",
        "anonymous": "2/m",
        "invalid_key": "2/m",
    }
    return settings.API_RATE_LIMITS


def test_a_secret_key_past_its_rate_gets_a_json_429_with_retry_after(
    limits, api, secret_key, other_program
):
    for _ in range(3):
        assert api.get("/api/v1/advocates/999").status_code == 404
    response = api.get("/api/v1/advocates/999")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another merchant's key has its own quota.
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(other_program[0])}")
    assert other.get("/api/v1/advocates/999").status_code == 404


def test_a_publishable_key_is_limited_per_client_address_not_for_the_whole_shop(
    limits, client, publishable_key
):
    for _ in range(2):
        assert _post_referral(client, publishable_key, REMOTE_ADDR="203.0.113.7").status_code == 400
    assert _post_referral(client, publishable_key, REMOTE_ADDR="203.0.113.7").status_code == 429
    # A shopper elsewhere is unaffected by one abuser.
    assert _post_referral(client, publishable_key, REMOTE_ADDR="198.51.100.9").status_code == 400


def test_a_publishable_key_has_a_ceiling_for_the_whole_program(limits, client, publishable_key):
    answers = [
        _post_referral(client, publishable_key, REMOTE_ADDR=f"203.0.113.{n}").status_code
        for n in range(6)
    ]
    assert answers == [400] * 5 + [429]


def test_guessing_keys_from_one_address_is_cut_short(limits, client, secret_key):
    for _ in range(2):
        assert _post_referral(client, "sk_wrong", REMOTE_ADDR="203.0.113.8").status_code == 401
    response = _post_referral(client, "sk_wrong", REMOTE_ADDR="203.0.113.8")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    # The right key from that address still works: only wrong keys are counted.
    assert _post_referral(client, secret_key, REMOTE_ADDR="203.0.113.8").status_code == 400


def test_the_client_address_is_read_past_trusted_proxies_only(
    limits, settings, client, publishable_key
):
    limits["publishable_total"] = "100/m"
    # No trusted proxy: a forged X-Forwarded-For changes nothing, the socket counts.
    for forged in ("1.1.1.1", "2.2.2.2"):
        _post_referral(client, publishable_key, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forged)
    assert (
        _post_referral(
            client, publishable_key, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="3.3.3.3"
        ).status_code
        == 429
    )
    # Behind one proxy (nginx), the address it appended (the last) is the client;
    # what the client sent before it is ignored.
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(2):
        assert (
            _post_referral(
                client,
                publishable_key,
                REMOTE_ADDR="10.0.0.2",
                HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.50",
            ).status_code
            == 400
        )
    assert (
        _post_referral(
            client,
            publishable_key,
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.51",
        ).status_code
        == 400
    )


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_superuser(
        "manager", "manager@example.com", ADMIN_PASSWORD
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _admin_login(client, password, ip):
    """The admin signs in through allauth (core/staff_mfa.py)."""
    return client.post(
        "/accounts/login/?next=/admin/",
        {"login": "manager@example.com", "password": password},
        REMOTE_ADDR=ip,
    )


def test_wrong_admin_passwords_lock_that_account_from_that_address_for_a_while(
    client, staff, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _admin_login(client, "guess", "203.0.113.20").status_code == 200
    locked = _admin_login(client, "guess", "203.0.113.20")
    assert locked.status_code == 429
    # Locked out: even the right password is refused from that address...
    response = _admin_login(client, ADMIN_PASSWORD, "203.0.113.20")
    assert response.status_code == 429
    assert b"Too many sign-in attempts" in response.content
    assert int(response["Retry-After"]) == 15 * 60
    # ...but an attacker cannot lock the manager out from everywhere.
    assert _admin_login(client, ADMIN_PASSWORD, "198.51.100.20").status_code == 302
    client.logout()
    # After the cool-off the right password works again.
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert _admin_login(client, ADMIN_PASSWORD, "203.0.113.20").status_code == 302


def test_wrong_portal_passwords_lock_the_account_only_from_that_address(
    client, django_user_model, settings
):
    user = django_user_model.objects.create_user("kari", "kari@example.com", ADMIN_PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    def login(password, ip):
        return client.post(
            "/accounts/login/",
            {"login": "kari@example.com", "password": password},
            REMOTE_ADDR=ip,
        )

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login("guess", "203.0.113.30").status_code == 200
    assert login("guess", "203.0.113.30").status_code == 429
    assert login(ADMIN_PASSWORD, "203.0.113.30").status_code == 429
    assert login(ADMIN_PASSWORD, "198.51.100.30").status_code == 302


def test_with_the_cache_down_requests_are_served_without_limits(limits, settings, api):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    # Past the secret key's 3/m: no 429 (nothing counts) and, above all, no 500.
    assert [api.get("/api/v1/advocates/999").status_code for _ in range(5)] == [404] * 5


def test_the_hot_path_counter_limits_per_key_and_window(settings):
    from core.rate_limits import over_rate_limit

    with time_machine.travel("2026-01-01T00:00:05Z", tick=False):
        hits = [over_rate_limit(group="t", key="a", rate="2/m") for _ in range(3)]
        assert hits == [False, False, True]
        assert over_rate_limit(group="t", key="b", rate="2/m") is False
        assert over_rate_limit(group="t", key="a", rate="") is False  # no limit set
    with time_machine.travel("2026-01-01T00:01:05Z", tick=False):  # the next window
        assert over_rate_limit(group="t", key="a", rate="2/m") is False


def test_the_hot_path_counter_on_redis_counts_in_one_round_trip_and_expires(settings, tmp_path):
    import shutil

    from django.core.cache import caches

    from core.cache import ResilientRedisCache
    from core.rate_limits import over_rate_limit
    from tests.test_serving import OwnRedis

    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    redis = OwnRedis(tmp_path)
    redis.start()
    ResilientRedisCache._down_until = 0.0  # an earlier test's dead Redis is forgotten
    try:
        settings.CACHES = {
            "default": {"BACKEND": "core.cache.ResilientRedisCache", "LOCATION": redis.url}
        }
        assert [over_rate_limit(group="t", key="a", rate="2/m") for _ in range(3)] == [
            False,
            False,
            True,
        ]
        client = caches["default"]._cache.get_client(None, write=True)
        (key,) = client.keys("*rl:t:a:*")
        assert int(client.get(key)) == 3
        assert 0 < client.ttl(key) <= 61  # the counter goes with its window
    finally:
        redis.stop()
    # Redis gone: nobody is limited, and nothing raises.
    assert over_rate_limit(group="t", key="a", rate="1/m") is False


@pytest.fixture
def batched(settings):
    """The redirect's counter as production runs it: counted in process, added later."""
    from core import rate_limits

    settings.RATE_LIMIT_FLUSH_MS = 60_000  # the test flushes, not the thread
    rate_limits._batched = rate_limits._Batched()
    yield rate_limits._batched
    rate_limits._batched = rate_limits._Batched()


def test_batched_hits_are_judged_at_once_and_reach_the_shared_counter_at_the_flush(batched):
    from django.core.cache import cache

    from core.rate_limits import over_rate_limit

    with time_machine.travel("2026-01-01T00:00:05Z", tick=False):
        hits = [over_rate_limit(group="t", key="a", rate="2/m") for _ in range(3)]
        assert hits == [False, False, True]  # this process's own hits count at once
        (key,) = batched.pending
        assert cache.get(key) is None  # nothing written by the request path
        batched.flush()
        assert cache.get(key) == 3
        assert batched.pending == {}


def test_what_other_processes_counted_is_learned_at_the_flush(batched):
    from django.core.cache import cache

    from core.rate_limits import over_rate_limit

    with time_machine.travel("2026-01-01T00:00:05Z", tick=False):
        assert over_rate_limit(group="t", key="a", rate="5/m") is False
        (key,) = batched.pending
        cache.set(key, 4)  # four hits added by other web processes meanwhile
        batched.flush()  # ours makes five: at the limit, not past it
        assert cache.get(key) == 5
        assert over_rate_limit(group="t", key="a", rate="5/m") is True
        assert over_rate_limit(group="t", key="b", rate="5/m") is False  # another address


def test_a_batched_count_is_forgotten_after_its_window(batched):
    from core.rate_limits import over_rate_limit

    with time_machine.travel("2026-01-01T00:00:05Z", tick=False):
        assert [over_rate_limit(group="t", key="a", rate="1/m") for _ in range(2)] == [
            False,
            True,
        ]
        batched.flush()
    with time_machine.travel("2026-01-01T00:01:05Z", tick=False):  # the next window
        assert over_rate_limit(group="t", key="a", rate="1/m") is False


def test_a_cache_that_cannot_count_limits_nobody(batched, monkeypatch):
    from core import rate_limits

    def down(hits):
        raise OSError("cache down")

    monkeypatch.setattr(rate_limits, "_count_shared", down)
    with time_machine.travel("2026-01-01T00:00:05Z", tick=False):
        assert rate_limits.over_rate_limit(group="t", key="a", rate="3/m") is False
        with pytest.raises(OSError):
            batched.flush()  # the thread logs it and goes on
        assert batched.pending == {} and batched.adding == {}
        assert rate_limits.over_rate_limit(group="t", key="a", rate="3/m") is False


def test_the_flush_thread_adds_the_counts_by_itself(settings):
    import time

    from django.core.cache import cache

    from core import rate_limits

    settings.RATE_LIMIT_FLUSH_MS = 10
    rate_limits._batched = rate_limits._Batched()
    try:
        assert rate_limits.over_rate_limit(group="t", key="thread", rate="9/m") is False
        (key,) = rate_limits._batched.pending
        deadline = time.monotonic() + 5
        while cache.get(key) != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.get(key) == 1
    finally:
        rate_limits._batched = rate_limits._Batched()

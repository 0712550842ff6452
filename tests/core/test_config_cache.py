"""Configuration kept in process (core/config_cache.py): read once per period, dropped at
once by a save in the same process, never shared as a mutable object between requests."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from advocacy.models import ApiKey
from advocacy.services import api_key_authenticate, api_key_revoke
from core import config_cache
from rewards.models import RewardRule
from rewards.rules import active_rules


@pytest.fixture(autouse=True)
def cached(settings):
    settings.CONFIG_CACHE_SECONDS = 5
    config_cache.clear_all()
    yield
    config_cache.clear_all()


def test_a_key_is_read_once_per_period(secret_key):
    assert api_key_authenticate(secret_key) is not None
    with CaptureQueriesContext(connection) as ctx:
        key = api_key_authenticate(secret_key)
    assert key is not None and key.program.name == "Acme Friends"
    assert len(ctx.captured_queries) == 0


def test_a_revoked_key_stops_at_once_in_the_process_that_revoked_it(secret_key):
    key = api_key_authenticate(secret_key)
    api_key_revoke(key=ApiKey.objects.get(pk=key.pk))
    assert api_key_authenticate(secret_key) is None


def test_an_unknown_key_is_not_remembered(program):
    from advocacy.services import api_key_create

    raw = "sk_" + "x" * 40
    assert api_key_authenticate(raw) is None
    api_key_create(program=program, kind=ApiKey.Kind.SECRET, raw=raw)
    assert api_key_authenticate(raw) is not None  # created meanwhile: found at once


def test_what_a_request_sets_on_its_program_does_not_reach_the_next(secret_key):
    first = api_key_authenticate(secret_key)
    first.program._active_webhook_endpoints = ["stale"]
    first.program.name = "changed by a request"
    second = api_key_authenticate(secret_key)
    assert second.program.name == "Acme Friends"
    assert not hasattr(second.program, "_active_webhook_endpoints")


def test_a_deactivated_rule_is_dropped_at_once_in_the_saving_process(program):
    rules = active_rules(program.pk)
    assert rules
    RewardRule.objects.filter(pk=rules[0].pk).update(is_active=False)  # no signal: cached
    assert [r.pk for r in active_rules(program.pk)] == [r.pk for r in rules]
    rule = RewardRule.objects.get(pk=rules[0].pk)
    rule.save()  # as the admin saves it: the cache is emptied
    assert rules[0].pk not in [r.pk for r in active_rules(program.pk)]


def test_with_zero_seconds_nothing_is_kept(settings, secret_key):
    settings.CONFIG_CACHE_SECONDS = 0
    api_key_authenticate(secret_key)
    with CaptureQueriesContext(connection) as ctx:
        api_key_authenticate(secret_key)
    assert len(ctx.captured_queries) >= 1

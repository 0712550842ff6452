"""The SQL one ``POST /api/v1/conversions`` costs, pinned: a regression fails here.

Measured as a web process runs it: configuration cached (``CONFIG_CACHE_SECONDS``),
after a first request warmed the caches; a program with VIP tiers, engagement emails
and the default fraud signals, so every receiver of a rewarded purchase runs. The
counts include the statements after the commit (the outbox's one UPDATE) and
SAVEPOINTs; bench/README.md lists the statements.
"""

from decimal import Decimal

import pytest
from celery.app.task import Task
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import config_cache
from core.models import OutboxMessage
from nurture.followups import conversion_followups
from nurture.models import Badge, OutgoingEmail, ProgramSettings, Standing, Tier
from referrals.models import Conversion
from rewards.models import Reward
from tests.helpers import post_conversion

# A new friend's first purchase by referral code, rewarded. The same request of the demo
# program made 59-60 statements on PostgreSQL before the configuration cache, the batched
# outbox and the tier move as a task, then 30; 18 since it runs without savepoints, batches
# its audit rows, reads the two per-advocate fraud counts together and leaves badges and
# emails to a worker; 15 since a new order is not looked up before its INSERT (the unique
# index finds a recorded one), the code's link with its advocate and the friend's referral
# are one SELECT, and so are the fraud counts with the friend's earlier orders
# (bench/profile_conversion.py).
MAX_QUERIES = 15


@pytest.fixture
def broker(monkeypatch):
    """A broker that keeps what it is sent: the tasks run in a worker, not in the count."""
    sent = []
    monkeypatch.setattr(Task, "apply_async", lambda task, args=None, kwargs=None, **options:
                        sent.append((task.name, list(args or []))))  # fmt: skip
    return sent


@pytest.fixture
def busy_program(program, settings, broker):
    settings.CONFIG_CACHE_SECONDS = 5
    config_cache.clear_all()
    Tier.objects.create(program=program, name="Silver", rank=1, metric="referrals",
                        threshold=50, multiplier=Decimal("1.50"))  # fmt: skip
    ProgramSettings.objects.create(program=program, engagement_emails=True)
    yield program
    config_cache.clear_all()


def test_a_rewarded_conversion_stays_within_its_query_budget(
    api, link, busy_program, broker, django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        warm = post_conversion(api, order_id="warm", referral_code=link.code,
                               customer={"email": "first@example.com"})  # fmt: skip
    assert warm.status_code == 201
    with (
        django_assert_max_num_queries(MAX_QUERIES) as captured,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post_conversion(api, order_id="measured", referral_code=link.code,
                                   customer={"email": "second@example.com"})  # fmt: skip
    assert response.status_code == 201
    assert Reward.objects.filter(conversion__order_id="measured", recipient="advocate").exists()
    # What follows the purchase (badges, the tier, the friend-activity email) is one task,
    # sent after the commit and marked with one UPDATE; no savepoint was needed.
    conversion = Conversion.objects.get(order_id="measured")
    assert [args for name, args in broker if name == "nurture.tasks.conversion_followups"][-1] == [
        conversion.pk,
        True,
    ]
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    updates = [q["sql"] for q in captured.captured_queries if "core_outboxmessage" in q["sql"]]
    assert sum(sql.startswith("UPDATE") for sql in updates) == 1
    # One SAVEPOINT and its RELEASE: the request's transaction, which in a test runs
    # inside the test's own (BEGIN and COMMIT in production).
    assert len([q for q in captured.captured_queries if "SAVEPOINT" in q["sql"]]) == 2
    audit_inserts = [q for q in captured.captured_queries if "advocacy_auditlog" in q["sql"]]
    assert len(audit_inserts) == 1


def test_the_purchase_follow_up_task_gives_the_badge_email_and_tier(
    api, link, busy_program, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_conversion(api, order_id="o1", referral_code=link.code,
                        customer={"email": "first@example.com"})  # fmt: skip
    conversion = Conversion.objects.get(order_id="o1")
    assert not Badge.objects.filter(advocate=link.advocate).exists()  # not in the request
    with django_capture_on_commit_callbacks(execute=True):
        assert conversion_followups(conversion.pk, True) is True
        assert conversion_followups(conversion.pk, True) is True  # a redelivery: no repeat
    assert list(Badge.objects.filter(advocate=link.advocate).values_list("code", flat=True)) == [
        "first_referral"
    ]
    email = OutgoingEmail.objects.get(template="friend_activity")
    assert email.key == f"friend:{conversion.referral_id}:purchase"
    sent = [args[0] for name, args in broker if name == "nurture.tasks.send_email"]
    assert email.pk in sent
    assert sorted(sent) == sorted(OutgoingEmail.objects.values_list("pk", flat=True))  # once each
    assert Standing.objects.get(advocate=link.advocate).recomputed_at is not None


def test_the_config_cache_is_what_saves_the_queries(api, link, busy_program, settings):
    """Without the cache the same request reads the key, rules and settings again."""
    post_conversion(api, order_id="warm", referral_code=link.code)
    with CaptureQueriesContext(connection) as cached:
        post_conversion(api, order_id="a", referral_code=link.code,
                        customer={"email": "a@example.com"})  # fmt: skip
    settings.CONFIG_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as uncached:
        post_conversion(api, order_id="b", referral_code=link.code,
                        customer={"email": "b@example.com"})  # fmt: skip
    assert len(uncached.captured_queries) >= len(cached.captured_queries) + 4

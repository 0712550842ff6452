"""The ledger: append-only entries, balances as sums, proportional reversals."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from rewards import services
from rewards.ledger import balances
from rewards.models import LedgerEntry, Reward
from tests.helpers import post_conversion


def _sum(**filters) -> int:
    return sum(LedgerEntry.objects.filter(**filters).values_list("amount_minor", flat=True))


@pytest.fixture
def reward(api, link):
    assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    return Reward.objects.get()


def test_partial_refunds_reverse_the_reward_in_proportion(api, reward):
    api.post("/api/v1/conversions/order-1/refunds", {"amount": "20.00"}, format="json")
    reward.refresh_from_db()
    assert (reward.reversed_minor, reward.status) == (250, "pending")
    api.post("/api/v1/conversions/order-1/refunds", {"amount": "60.00"}, format="json")
    reward.refresh_from_db()
    assert (reward.reversed_minor, reward.status) == (1000, "reversed")
    assert _sum(bucket="pending") == 0
    response = api.post("/api/v1/conversions/order-1/refunds", {}, format="json")
    assert response.status_code == 200  # nothing left to refund: the same answer again
    assert LedgerEntry.objects.count() == 3


def test_a_partly_refunded_reward_matures_with_what_is_left(api, reward):
    api.post("/api/v1/conversions/order-1/refunds", {"amount": "40.00"}, format="json")
    later = timezone.now() + timedelta(days=15)
    assert services.reward_mature(reward_id=reward.pk, now=later) is True
    assert services.reward_mature(reward_id=reward.pk, now=later) is False
    assert balances(advocate=reward.advocate)["cash"]["EUR"] == {
        "pending": 0,
        "available": 500,
        "paid": 0,
    }


def test_a_reward_does_not_mature_before_its_hold_period(reward):
    assert services.reward_mature(reward_id=reward.pk) is False
    assert services.reward_ids_due() == []


def test_a_refund_with_the_same_idempotency_key_applies_once(api, reward):
    for _ in range(2):
        api.post(
            "/api/v1/conversions/order-1/refunds",
            {"amount": "8.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="refund-1",
        )
    reward.refresh_from_db()
    assert reward.reversed_minor == 100
    assert reward.conversion.refunds.count() == 1


def test_balances_are_sums_of_entries(reward):
    assert balances(advocate=reward.advocate) == {
        "cash": {"EUR": {"pending": 1000, "available": 0, "paid": 0}},
        "points": {"pending": 0, "available": 0},
    }
    assert _sum(advocate=reward.advocate) == 1000


def test_entries_cannot_be_changed_or_deleted_through_the_orm(reward):
    entry = LedgerEntry.objects.get()
    entry.amount_minor = 1
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()


def test_the_database_refuses_to_change_entries(require_postgres, reward):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.update(amount_minor=1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM rewards_ledgerentry")
    assert LedgerEntry.objects.get().amount_minor == 1000


def test_the_advocate_is_emailed_once_when_a_reward_becomes_available(
    reward, django_capture_on_commit_callbacks
):
    from django.core import mail

    from rewards.tasks import notify_advocate

    later = timezone.now() + timedelta(days=15)
    with django_capture_on_commit_callbacks(execute=True):
        services.reward_mature(reward_id=reward.pk, now=later)
    assert [m.subject for m in mail.outbox] == ["Your reward of 10.00 EUR is available"]
    assert notify_advocate.delay("reward_available", reward.pk).get() == "already-sent"
    assert len(mail.outbox) == 1


def test_an_smtp_failure_is_retried_and_the_email_sent_once(reward, monkeypatch):
    import smtplib

    from django.core import mail
    from django.core.mail import EmailMessage

    from advocacy.models import Notification
    from rewards.tasks import notify_advocate

    services.reward_mature(reward_id=reward.pk, now=timezone.now() + timedelta(days=15))
    real_send = EmailMessage.send
    failures = []

    def flaky_send(self, *args, **kwargs):
        if not failures:
            failures.append(self.subject)
            raise smtplib.SMTPServerDisconnected("connection lost")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", flaky_send)
    # The claim is released on failure, so the task's retry sends at once.
    assert notify_advocate.delay("reward_available", reward.pk).get() == "sent"
    assert len(failures) == 1 and len(mail.outbox) == 1
    note = Notification.objects.get(key=f"reward_available:{reward.pk}")
    assert note.sent_at is not None and note.claimed_until is None
    assert notify_advocate.delay("reward_available", reward.pk).get() == "already-sent"


def test_an_email_another_worker_is_sending_is_not_sent_again(reward):
    from django.core import mail

    from advocacy.models import Notification
    from rewards.tasks import notify_advocate

    Notification.objects.create(
        advocate=reward.advocate,
        kind="reward_available",
        key=f"reward_available:{reward.pk}",
        claimed_until=timezone.now() + timedelta(minutes=1),
    )
    assert notify_advocate.delay("reward_available", reward.pk).get() == "in-progress"
    assert mail.outbox == []

"""The ledger: append-only entries, balances as sums, proportional reversals."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from advocacy.models import AuditLog
from core.errors import ServiceError
from rewards import ledger, services
from rewards.ledger import balances, with_running_balance
from rewards.models import LedgerEntry, PayoutAccount, Reward
from tests.factories import enroll
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


def test_a_managers_adjustment_is_one_entry_on_the_available_balance(reward, other_program):
    bystander = enroll(other_program[0], "bystander@example.com")
    entry = services.ledger_adjust(
        advocate=reward.advocate,
        amount_minor=-150,
        currency="EUR",
        reason="  goodwill  ",
        actor=None,
    )
    assert (entry.kind, entry.bucket, entry.amount_minor, entry.currency, entry.memo) == (
        "adjustment",
        "available",
        -150,
        "EUR",
        "goodwill",
    )
    assert (entry.program_id, entry.advocate_id) == (reward.program_id, reward.advocate_id)
    assert entry.reward_id is None and entry.idempotency_key.startswith("adjustment:")
    second = services.ledger_adjust(
        advocate=reward.advocate, amount_minor=-150, currency="EUR", reason="again", actor=None
    )
    assert second.idempotency_key != entry.idempotency_key  # two corrections, two entries
    assert balances(advocate=reward.advocate)["cash"]["EUR"] == {
        "pending": 1000,
        "available": -300,
        "paid": 0,
    }
    assert balances(advocate=bystander) == {"cash": {}, "points": {"pending": 0, "available": 0}}
    assert list(
        AuditLog.objects.filter(action="ledger.adjusted")
        .order_by("pk")
        .values_list("data", flat=True)
    ) == [
        {"amount": -150, "currency": "EUR", "reason": "goodwill"},
        {"amount": -150, "currency": "EUR", "reason": "again"},
    ]


@pytest.mark.parametrize(
    ("amount", "reason", "code"), [(0, "why", "invalid_amount"), (5, "  ", "reason_required")]
)
def test_an_adjustment_needs_an_amount_and_a_reason(reward, amount, reason, code):
    with pytest.raises(ServiceError) as refused:
        services.ledger_adjust(
            advocate=reward.advocate, amount_minor=amount, currency="EUR", reason=reason, actor=None
        )
    assert refused.value.code == code
    assert LedgerEntry.objects.count() == 1


def test_the_running_balance_is_per_advocate_currency_and_bucket(reward, program):
    advocate = reward.advocate
    bob = enroll(program, "bob@example.com")
    services.ledger_adjust(advocate=bob, amount_minor=70, currency="EUR", reason="b", actor=None)
    for amount, currency in ((200, "EUR"), (5, "PTS"), (-50, "EUR")):
        services.ledger_adjust(
            advocate=advocate, amount_minor=amount, currency=currency, reason="t", actor=None
        )
    # Bob has only ever had an adjustment: every bucket of his is shown, the empty ones as 0.
    assert balances(advocate=bob)["cash"] == {"EUR": {"pending": 0, "available": 70, "paid": 0}}
    rows = [
        (e.advocate_id, e.currency, e.bucket, e.amount_minor, e.balance)
        for e in with_running_balance(LedgerEntry.objects.order_by("created_at", "id"))
    ]
    assert rows == [
        (advocate.pk, "EUR", "pending", 1000, 1000),
        (bob.pk, "EUR", "available", 70, 70),
        (advocate.pk, "EUR", "available", 200, 200),
        (advocate.pk, "PTS", "available", 5, 5),
        (advocate.pk, "EUR", "available", -50, 150),
    ]


def test_a_long_reason_is_cut_to_the_memos_length(reward):
    entry = services.ledger_adjust(
        advocate=reward.advocate, amount_minor=1, currency="EUR", reason="x" * 250, actor=None
    )
    entry.refresh_from_db()
    assert entry.memo == "x" * 200
    issued = LedgerEntry.objects.get(reward=reward)
    assert issued.memo == reward.reason  # the issue entry carries the reward's reason


def test_each_balance_is_one_advocates_own(program, advocate):
    """Two advocates of one program: neither balance sees the other's entries."""
    bob = enroll(program, "bob@example.com")
    for who, cash, points in ((advocate, 700, 40), (bob, 300, 25)):
        for kind, amount, currency in (("cash", cash, "EUR"), ("points", points, "PTS")):
            reward = services.reward_issue(
                program=program, advocate=who, key=f"{who.pk}-{kind}", reason="t",
                kind=kind, amount_minor=amount, currency=currency, hold_days=0,
            )  # fmt: skip
            services.reward_mature(reward_id=reward.pk)
    services.reward_issue(
        program=program, advocate=advocate, key="pending-points", reason="t",
        kind="points", amount_minor=9, currency="PTS",
    )  # fmt: skip
    assert balances(advocate=advocate) == {
        "cash": {"EUR": {"pending": 0, "available": 700, "paid": 0}},
        "points": {"pending": 9, "available": 40},
    }
    assert balances(advocate=bob)["points"] == {"pending": 0, "available": 25}
    assert (ledger.available_points(advocate.pk), ledger.available_points(bob.pk)) == (40, 25)
    assert ledger.available_cash(advocate.pk) == {"EUR": 700}
    assert ledger.available_cash(bob.pk) == {"EUR": 300}
    assert ledger.available_points(enroll(program, "carol@example.com").pk) == 0
    matured = LedgerEntry.objects.filter(kind="reward_matured")
    assert set(matured.values_list("memo", flat=True)) == {""}  # maturing says nothing new


def test_payable_totals_are_positive_available_cash_of_connected_advocates(
    program, other_program, advocate
):
    other_program = other_program[0]
    bob = enroll(program, "bob@example.com")
    carol = enroll(program, "carol@example.com")
    olga = enroll(other_program, "olga@example.com")
    for i, who in enumerate((advocate, bob, carol, olga)):
        PayoutAccount.objects.create(
            advocate=who, stripe_account_id=f"acct_{i}", payouts_enabled=who != carol
        )
    adjust = services.ledger_adjust
    adjust(advocate=advocate, amount_minor=500, currency="EUR", reason="a", actor=None)
    adjust(advocate=advocate, amount_minor=80, currency="PTS", reason="points", actor=None)
    services.reward_issue(
        program=program, advocate=advocate, key="still-pending", reason="t", amount_minor=999,
        currency="EUR",
    )  # fmt: skip
    adjust(advocate=bob, amount_minor=1, currency="EUR", reason="one cent", actor=None)
    adjust(advocate=carol, amount_minor=800, currency="EUR", reason="no account", actor=None)
    adjust(advocate=olga, amount_minor=300, currency="EUR", reason="other program", actor=None)
    adjust(advocate=olga, amount_minor=-300, currency="SEK", reason="a debt", actor=None)

    def rows(**kwargs):
        return [
            (r["advocate_id"], r["currency"], r["total"]) for r in ledger.payable_totals(**kwargs)
        ]

    assert rows() == [(advocate.pk, "EUR", 500), (bob.pk, "EUR", 1), (olga.pk, "EUR", 300)]
    assert rows(program=program) == [(advocate.pk, "EUR", 500), (bob.pk, "EUR", 1)]
    assert rows(program=other_program) == [(olga.pk, "EUR", 300)]

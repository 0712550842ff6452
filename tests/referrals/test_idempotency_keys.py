"""``Idempotency-Key`` (storefront/idempotency.py): claims, waits, abandoned claims, failures.

A second request with a key still in flight waits for the first one's answer.
The wait is made deterministic here: the module's clock and ``sleep`` are
replaced, and the "other request" acts from inside ``sleep``. No real waiting,
no threads (the PostgreSQL race is ``test_concurrency.py``).
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from core.hashing import fingerprint
from referrals.models import Conversion, IdempotencyRecord, Refund
from rewards.models import Reward
from storefront import idempotency
from tests.helpers import post_conversion

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REFUNDS = "/api/v1/conversions/order-1/refunds"


def refund(api, amount, key):
    return api.post(REFUNDS, {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def in_flight(program, key, amount, created_at):
    """The claim a refund request with ``key`` leaves while it runs (or after it died)."""
    fp = fingerprint({"method": "POST", "path": REFUNDS, "data": {"amount": Decimal(amount)}})
    return IdempotencyRecord.objects.create(
        program=program, key=key, request_fingerprint=fp, created_at=created_at
    )


class Clock:
    """Stands in for the module's ``time``: ``sleep`` advances ``monotonic`` and may act."""

    def __init__(self, on_sleep=None):
        self.now, self.slept, self.on_sleep = 1000.0, [], on_sleep

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.slept))


@pytest.fixture
def order(api, link):
    with time_machine.travel(NOW, tick=False):
        assert post_conversion(api, referral_code=link.code, amount="80.00").status_code == 201
    return Conversion.objects.get()


def refunded(order):
    order.refresh_from_db()
    return order.refunded_minor, Reward.objects.get().reversed_minor


def test_the_answer_is_kept_with_the_key(api, program, order):
    with time_machine.travel(NOW, tick=False):
        first = refund(api, "20.00", "r")
    assert first.status_code == 201
    record = IdempotencyRecord.objects.get(program=program, key="r")
    assert (record.response_status, record.response_body) == (201, first.json())


def test_a_key_is_trimmed_and_may_be_200_characters(api, order):
    key = "k" * 200
    with time_machine.travel(NOW, tick=False):
        first = refund(api, "20.00", key)
        again = refund(api, "20.00", f"  {key} ")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert refunded(order) == (2000, 250)


def test_keys_belong_to_one_program(api, program, order, other_program):
    _, other_secret = other_program
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_secret}")
    with time_machine.travel(NOW, tick=False):
        assert post_conversion(other, currency="USD", HTTP_IDEMPOTENCY_KEY="r").status_code == 201
        assert refund(api, "20.00", "r").status_code == 201
    assert refunded(order) == (2000, 250)


def test_a_claim_left_by_a_dead_request_is_retaken_after_two_minutes(api, program, order):
    in_flight(program, "r", "20.00", created_at=NOW - timedelta(minutes=2, microseconds=1))
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", "r")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert refunded(order) == (2000, 250)
    record = IdempotencyRecord.objects.get(key="r")
    assert (record.created_at, record.response_status) == (NOW, 201)


def test_a_retaken_claim_keeps_the_new_requests_body(api, program, order):
    """A dead request's key retaken with another amount: the key now means the new body."""
    in_flight(program, "r", "30.00", created_at=NOW - timedelta(minutes=5))
    with time_machine.travel(NOW, tick=False):
        assert refund(api, "20.00", "r").status_code == 201
        assert refund(api, "20.00", "r").status_code == 200
    assert refunded(order) == (2000, 250)


def test_a_claim_two_minutes_old_is_still_in_flight(api, program, order, monkeypatch):
    in_flight(program, "r", "20.00", created_at=NOW - timedelta(minutes=2))
    clock = Clock()
    monkeypatch.setattr(idempotency, "time", clock)
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", "r")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "in_flight"
    assert refunded(order) == (0, 0)
    assert not Refund.objects.exists()


def test_a_waiting_request_gives_up_after_five_seconds(api, program, order, monkeypatch):
    in_flight(program, "r", "20.00", created_at=NOW)
    clock = Clock()
    monkeypatch.setattr(idempotency, "time", clock)
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", "r")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "in_flight"
    assert "still being processed" in error["message"]
    assert 4.95 <= sum(clock.slept) <= 5.05
    assert refunded(order) == (0, 0)


def test_a_waiting_request_replays_the_answer_once_it_is_written(api, program, order, monkeypatch):
    record = in_flight(program, "r", "20.00", created_at=NOW)

    def the_first_request_answers(polls):
        if polls == 3:
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                response_status=201, response_body={"answer": "first"}
            )

    clock = Clock(the_first_request_answers)
    monkeypatch.setattr(idempotency, "time", clock)
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", "r")
    assert (response.status_code, response.json()) == (200, {"answer": "first"})
    assert response["Idempotent-Replayed"] == "true"
    assert len(clock.slept) == 3
    assert refunded(order) == (0, 0)  # the work was the first request's, not done twice


def test_a_waiting_request_whose_first_failed_says_send_it_again(api, program, order, monkeypatch):
    record = in_flight(program, "r", "20.00", created_at=NOW)
    clock = Clock(lambda polls: IdempotencyRecord.objects.filter(pk=record.pk).delete())
    monkeypatch.setattr(idempotency, "time", clock)
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", "r")
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], "send it again" in error["message"]) == ("in_flight", True)
    assert len(clock.slept) == 1
    # Sent again, it runs.
    with time_machine.travel(NOW, tick=False):
        assert refund(api, "20.00", "r").status_code == 201
    assert refunded(order) == (2000, 250)


def test_a_refused_request_frees_its_key_for_a_corrected_retry(api, order):
    with time_machine.travel(NOW, tick=False):
        too_much = refund(api, "90.00", "r")
        assert too_much.status_code == 422
        assert not IdempotencyRecord.objects.filter(key="r").exists()
        assert refund(api, "20.00", "r").status_code == 201
    assert refunded(order) == (2000, 250)


def test_a_request_with_another_body_never_waits(api, program, order, monkeypatch):
    in_flight(program, "r", "30.00", created_at=NOW)
    clock = Clock()
    monkeypatch.setattr(idempotency, "time", clock)
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", "r")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "idempotency_key_reused",
        "message": "This Idempotency-Key was used for a different request.",
    }
    assert clock.slept == []


@pytest.mark.parametrize("key", ["x" * 201, "   ", ""])
def test_a_key_too_long_or_blank_is_refused_before_any_work(api, order, key):
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "invalid_idempotency_key",
        "Idempotency-Key must be 1-200 characters.",
    )
    assert refunded(order) == (0, 0)
    assert not IdempotencyRecord.objects.exists()


def test_without_a_key_nothing_is_kept(api, order):
    with time_machine.travel(NOW, tick=False):
        assert api.post(REFUNDS, {"amount": "20.00"}, format="json").status_code == 201
    assert not IdempotencyRecord.objects.exists()
    assert refunded(order) == (2000, 250)


def test_a_key_replayed_long_after_is_never_run_again(api, program, order):
    """An answered key older than the two minutes of an abandoned claim still replays."""
    with time_machine.travel(NOW, tick=False):
        first = refund(api, "20.00", "r")
        assert api.post(REFUNDS, {"amount": "20.00"}, format="json").status_code == 201
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        again = refund(api, "20.00", "r")
    # The first answer (20.00 refunded then), not one made again today (40.00).
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.json()["refunded"] == "20.00"
    assert refunded(order) == (4000, 500)


def test_a_replay_finds_its_own_key_among_many(api, program, order, other_program):
    _, other_secret = other_program
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_secret}")
    with time_machine.travel(NOW, tick=False):
        assert post_conversion(other, currency="USD", HTTP_IDEMPOTENCY_KEY="r").status_code == 201
        refund(api, "10.00", "a")
        first = refund(api, "20.00", "r")
        again = refund(api, "20.00", "r")
    assert (again.status_code, again.json()) == (200, first.json())
    assert refunded(order) == (3000, 375)


def test_another_keys_dead_claim_is_not_this_requests_to_take(api, program, order, monkeypatch):
    in_flight(program, "dead", "30.00", created_at=NOW - timedelta(minutes=10))
    in_flight(program, "r", "20.00", created_at=NOW)
    monkeypatch.setattr(idempotency, "time", Clock())
    with time_machine.travel(NOW, tick=False):
        response = refund(api, "20.00", "r")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "in_flight")
    assert refunded(order) == (0, 0)


def test_a_refused_request_frees_only_its_own_key(api, program, order):
    other = in_flight(program, "other", "30.00", created_at=NOW)
    with time_machine.travel(NOW, tick=False):
        assert refund(api, "90.00", "r").status_code == 422
    assert IdempotencyRecord.objects.filter(pk=other.pk).exists()

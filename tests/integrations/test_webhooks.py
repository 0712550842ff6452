"""Outgoing webhooks: emitting events, signed deliveries, retries, the beat sweep."""

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from integrations import services
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.services import delivery_attempt, event_emit
from integrations.tasks import deliver_due_webhooks, deliver_webhook

from .conftest import DOCS

ROOT = DOCS.parents[1]

pytestmark = pytest.mark.django_db

ENROLLED = {
    "advocate": {"id": 7, "email": "alice@example.com", "status": "active", "referral_code": "X"}
}


def emit(program, type="advocate.enrolled", data=None):
    return event_emit(program=program, type=type, data=data or ENROLLED)


def reload(delivery) -> WebhookDelivery:
    return WebhookDelivery.objects.get(pk=delivery.pk)


def test_emit_without_endpoints_does_nothing(program, django_assert_num_queries):
    WebhookEndpoint.objects.create(program=program, url="https://x.example/", is_active=False)

    with django_assert_num_queries(1):
        assert emit(program) is None

    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_emit_rejects_an_unknown_event_type(program, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(ValueError, match=r"advocate\.deleted"):
        event_emit(program=program, type="advocate.deleted", data={})


def test_emit_reaches_only_the_endpoints_subscribed_to_the_type(
    program, other_program, receiver, django_capture_on_commit_callbacks
):
    everything = WebhookEndpoint.objects.create(program=program, url=receiver.url)
    payouts_only = WebhookEndpoint.objects.create(
        program=program, url=receiver.url + "/payouts", event_types=["payout.paid"]
    )
    WebhookEndpoint.objects.create(program=other_program[0], url=receiver.url + "/other")

    with django_capture_on_commit_callbacks(execute=True):
        event = emit(program)

    assert event.public_id.startswith("evt_")
    assert [d.endpoint for d in event.deliveries.all()] == [everything]
    assert [r.path for r in receiver.requests] == ["/hooks"]

    with django_capture_on_commit_callbacks(execute=True):
        paid = emit(program, "payout.paid", {"payout": {"id": 1}})

    assert {d.endpoint for d in paid.deliveries.all()} == {everything, payouts_only}
    assert sorted(r.path for r in receiver.requests[1:]) == ["/hooks", "/hooks/payouts"]
    assert WebhookDelivery.objects.filter(status="delivered").count() == 3


def test_an_event_is_not_sent_when_the_callers_transaction_rolls_back(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        emit(endpoint.program)
        raise RuntimeError("the enrollment failed")

    assert callbacks == []
    assert not WebhookEvent.objects.exists()
    assert receiver.requests == []


def test_a_delivery_is_signed_and_records_status_and_response(endpoint, receiver, verify):
    event = emit(endpoint.program)
    delivery = event.deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"

    delivery = reload(delivery)
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.last_response == '{"received": true}'
    assert delivery.last_error == ""
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    [attempt] = delivery.attempt_log.all()
    assert (attempt.status_code, attempt.response_excerpt) == (200, '{"received": true}')
    assert attempt.duration_ms >= 0

    [request] = receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Advocacy-Webhooks/1"
    assert request.headers["Advocacy-Event-Id"] == event.public_id
    assert json.loads(request.body) == {
        "id": event.public_id,
        "type": "advocate.enrolled",
        "created": int(event.created_at.timestamp()),
        "data": ENROLLED,
    }
    header = request.headers["Advocacy-Signature"]
    assert header.startswith("t=")
    assert verify(endpoint.secret, header, request.body)
    assert not verify(endpoint.secret, header, request.body.replace(b"7", b"8"))
    assert not verify("whsec_wrong", header, request.body)
    assert not verify(endpoint.secret, header, request.body, tolerance=-1)  # too old
    assert not verify(endpoint.secret, "t=1,v1=", request.body)


def test_decimal_amounts_are_sent_as_strings(endpoint, receiver):
    data = {"reward": {"id": 3, "amount": Decimal("10.00"), "currency": "EUR"}}
    emit(endpoint.program, "reward.issued", data)

    assert delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk) == "delivered"

    body = json.loads(receiver.requests[0].body)
    assert body["data"] == {"reward": {"id": 3, "amount": "10.00", "currency": "EUR"}}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node for the JavaScript snippet")
def test_the_javascript_snippet_verifies_a_real_delivery(endpoint, receiver):
    emit(endpoint.program)
    delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    [request] = receiver.requests
    header = request.headers["Advocacy-Signature"]

    def node(body: bytes, secret: str = endpoint.secret):
        return subprocess.run(
            ["node", str(DOCS / "verify_webhook.js"), header],
            input=body,
            env={"WEBHOOK_SECRET": secret, "PATH": str(Path(shutil.which("node")).parent)},
            capture_output=True,
            timeout=10,
            check=False,
        )

    good = node(request.body)
    assert (good.returncode, good.stdout.strip()) == (0, b"ok"), good.stderr
    assert node(request.body.replace(b"alice", b"mallory")).returncode == 1
    assert node(request.body, secret="whsec_wrong").returncode == 1


def test_a_failing_receiver_is_retried_on_an_exponential_schedule(endpoint, receiver, time_machine):
    receiver.fail_first = 2
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "pending"
    first = reload(delivery)
    wait = first.next_attempt_at - timezone.now()
    assert timedelta(seconds=58) < wait <= timedelta(seconds=60)
    assert (first.attempts, first.last_status_code, first.last_error) == (1, 500, "HTTP 500.")
    assert "try again" in first.last_response

    # Not due yet: a duplicate task sends nothing.
    assert delivery_attempt(delivery_id=delivery.pk) == "not-due"
    assert len(receiver.requests) == 1

    time_machine.move_to(first.next_attempt_at)
    assert delivery_attempt(delivery_id=delivery.pk) == "pending"
    second = reload(delivery)
    assert second.attempts == 2
    assert second.next_attempt_at - timezone.now() > timedelta(seconds=290)  # 5 minutes

    time_machine.move_to(second.next_attempt_at)
    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"

    third = reload(delivery)
    assert (third.status, third.attempts, third.last_status_code) == ("delivered", 3, 200)
    assert third.last_error == ""
    assert [a.status_code for a in third.attempt_log.all()] == [500, 500, 200]
    event_ids = {r.headers["Advocacy-Event-Id"] for r in receiver.requests}
    assert event_ids == {delivery.event.public_id}
    timestamps = [r.headers["Advocacy-Signature"].split(",")[0] for r in receiver.requests]
    assert len(set(timestamps)) == 3  # each attempt is signed at its own time


def test_the_default_schedule_retries_for_more_than_a_day():
    delays = services.retry_delays()
    assert delays == sorted(delays)
    assert sum(delays) > 24 * 3600


def test_a_delivery_fails_when_the_schedule_is_exhausted(settings, endpoint, receiver):
    settings.WEBHOOK_RETRY_DELAYS = [0, 0]
    receiver.fail_first = 100
    delivery = emit(endpoint.program).deliveries.get()

    results = [delivery_attempt(delivery_id=delivery.pk) for _ in range(4)]

    assert results == ["pending", "pending", "failed", "failed"]
    delivery = reload(delivery)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert delivery.last_error == "HTTP 500."
    assert delivery.attempt_log.count() == 3
    assert len(receiver.requests) == 3


def test_a_timeout_counts_as_a_failed_attempt(settings, endpoint, receiver):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.sleep = 3
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "pending"

    delivery = reload(delivery)
    assert delivery.attempts == 1
    assert delivery.last_status_code is None
    assert delivery.last_error == "Timed out after 1 s."
    [attempt] = delivery.attempt_log.all()
    assert attempt.error == "Timed out after 1 s."
    assert 1000 <= attempt.duration_ms < 2900


def test_a_redirect_is_not_followed(endpoint, receiver):
    receiver.redirect_to = receiver.url + "/elsewhere"
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "pending"

    delivery = reload(delivery)
    assert delivery.last_status_code == 302
    assert delivery.last_error == f"Redirect to {receiver.url}/elsewhere not followed."
    assert [r.path for r in receiver.requests] == ["/hooks"]


def test_a_delivered_delivery_is_not_sent_again(endpoint, receiver):
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert deliver_webhook.delay(delivery.pk).get() == "delivered"

    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.count() == 1
    assert deliver_webhook.delay(delivery.pk + 1000).get() == "missing"


def test_an_in_process_run_leaves_the_next_attempt_for_its_time(settings, endpoint, receiver):
    settings.WEBHOOK_RETRY_DELAYS = [60, 60, 60]
    receiver.fail_first = 100
    delivery = emit(endpoint.program).deliveries.get()

    assert deliver_webhook.delay(delivery.pk).get() == "pending"

    assert len(receiver.requests) == 1


def test_the_beat_sweep_sends_deliveries_whose_task_was_lost(endpoint, receiver, time_machine):
    delivery = emit(endpoint.program).deliveries.get()  # its on-commit task never ran
    assert deliver_due_webhooks() == 0  # not overdue yet: its task may still be coming

    time_machine.move_to(timezone.now() + timedelta(minutes=1))
    assert deliver_due_webhooks() == 1

    assert reload(delivery).status == "delivered"
    assert len(receiver.requests) == 1
    assert deliver_due_webhooks() == 0


def test_a_disabled_endpoint_stops_its_pending_deliveries(endpoint, receiver):
    delivery = emit(endpoint.program).deliveries.get()
    endpoint.is_active = False
    endpoint.save()

    assert delivery_attempt(delivery_id=delivery.pk) == "failed"

    assert reload(delivery).last_error == "The endpoint was disabled."
    assert receiver.requests == []


def test_private_addresses_are_refused_unless_allowed(settings, endpoint, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "failed"

    delivery = reload(delivery)
    assert "non-public address (127.0.0.1)" in delivery.last_error
    assert delivery.attempt_log.get().status_code is None
    assert receiver.requests == []


@pytest.mark.parametrize("allowed", [True, False])
def test_a_url_parsers_read_differently_is_never_called(settings, endpoint, receiver, allowed):
    """``http://127.0.0.1:PORT\\@example.com/``: urlsplit sees example.com, clients 127.0.0.1."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = allowed
    port = receiver.url.split(":")[2].split("/")[0]
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        url=f"http://127.0.0.1:{port}\\@example.com/hooks"  # saved before the validation
    )
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "failed"
    assert "backslash" in reload(delivery).last_error
    assert receiver.requests == []


def test_a_host_that_does_not_resolve_is_not_called_and_tried_again(
    settings, endpoint, monkeypatch
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="https://hooks.shop.invalid/in")

    def no_dns(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(services.socket, "getaddrinfo", no_dns)
    called = []
    monkeypatch.setattr(services.requests.Session, "post", lambda *a, **k: called.append(a))
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "pending"  # retried on schedule
    assert "does not resolve" in reload(delivery).last_error
    assert called == []


class _Answer:
    status_code, is_redirect, headers = 200, False, {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_content(self, chunk_size):
        return iter([b"ok"])


def test_the_request_goes_to_the_address_that_was_vetted_not_a_second_lookup(
    settings, endpoint, monkeypatch
):
    """DNS rebinding: the first answer is public, a second one would be 127.0.0.1."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="https://hooks.example.com/in")
    answers = iter(["93.184.216.34", "127.0.0.1"])
    lookups = []

    def rebinding_dns(host, port, **kwargs):
        lookups.append(host)
        return [(2, 1, 6, "", (next(answers), port))]

    sent = []

    def post(session, url, **kwargs):
        sent.append((url, kwargs["headers"]["Host"], session.get_adapter(url)))
        return _Answer()

    monkeypatch.setattr(services.socket, "getaddrinfo", rebinding_dns)
    monkeypatch.setattr(services.requests.Session, "post", post)
    delivery = emit(endpoint.program).deliveries.get()

    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert lookups == ["hooks.example.com"]
    [(url, host, adapter)] = sent
    assert (url, host) == ("https://93.184.216.34/in", "hooks.example.com")
    # TLS still names and checks the host: SNI and the certificate's name.
    assert adapter.poolmanager.connection_pool_kw["server_hostname"] == "hooks.example.com"
    assert adapter.poolmanager.connection_pool_kw["assert_hostname"] == "hooks.example.com"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8829\\@example.com/o",
        "https://user@hooks.example.com/",
        "https://a b.example.com/",
    ],
)
def test_an_endpoint_url_parsers_read_differently_is_refused(endpoint, url):
    endpoint.url = url
    with pytest.raises(ValidationError) as refused:
        services.endpoint_save(endpoint=endpoint)
    assert "url" in refused.value.message_dict


def _settings_from(env: dict) -> str:
    """What config/settings.py makes of these environment variables, read as a user would."""
    code = (
        "from django.conf import settings; "
        "print(settings.WEBHOOK_RETRY_DELAYS, settings.WEBHOOK_TIMEOUT_SECONDS)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.strip() + result.stderr


def test_the_settings_read_the_environment_once():
    defaults = {"WEBHOOK_RETRY_DELAYS": "", "WEBHOOK_TIMEOUT_SECONDS": "10"}
    assert _settings_from(defaults) == "[60, 300, 1800, 7200, 21600, 43200, 43200] 10.0"
    custom = {"WEBHOOK_RETRY_DELAYS": "1, 2,3", "WEBHOOK_TIMEOUT_SECONDS": "2.5"}
    assert _settings_from(custom) == "[1, 2, 3] 2.5"
    wrong = _settings_from({"WEBHOOK_RETRY_DELAYS": "1,soon"})
    assert "ImproperlyConfigured" in wrong and "WEBHOOK_RETRY_DELAYS" in wrong


def test_the_documentation_quotes_both_snippets_verbatim():
    page = (DOCS.parent / "webhooks.md").read_text()
    for name in ("verify_webhook.py", "verify_webhook.js"):
        assert (DOCS / name).read_text() in page, f"docs/webhooks.md is out of date with {name}"

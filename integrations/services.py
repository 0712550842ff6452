"""Outgoing webhooks: emit events, attempt deliveries on a backoff schedule, resend them.

Other apps call :func:`event_emit` inside their own transaction; deliveries are
queued only after that transaction commits, so a rolled-back change never
reaches the merchant. Each attempt is one signed POST; the delivery row is
locked for its duration so a duplicate task cannot send the same attempt twice.
"""

import dataclasses
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters
from celery import shared_task
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Program
from core import outbox
from core.config_cache import ConfigCache
from core.errors import NotFound, ServiceError
from core.url_safety import url_ambiguity

from .models import (
    EVENT_TYPES,
    RESPONSE_EXCERPT_CHARS,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_endpoint_secret,
)

logger = logging.getLogger(__name__)

USER_AGENT = "Advocacy-Webhooks/1"
SIGNATURE_HEADER = "Advocacy-Signature"
EVENT_ID_HEADER = "Advocacy-Event-Id"
# While an attempt is under way its delivery is claimed for the request's timeout
# plus this margin: a duplicate task or the sweep finds it "not-due" meanwhile. Past
# it, an attempt whose worker died is made again (by the sweep, every 15 s): a receiver
# slower than timeout + margin may get the event twice, which deliveries allow anyway
# (at least once; receivers drop repeats by Advocacy-Event-Id).
CLAIM_MARGIN = timedelta(seconds=10)
# program id -> its active endpoints (CONFIG_CACHE_SECONDS): most programs have none,
# and every event of every request would ask.
_endpoints = ConfigCache("webhook endpoints", invalidated_by=("integrations.WebhookEndpoint",))


# -- configuration (config/settings.py reads it from the environment) --


def retry_delays() -> list[int]:
    """Seconds to wait after each failed attempt; when exhausted the delivery fails."""
    return list(settings.WEBHOOK_RETRY_DELAYS)


def timeout_seconds() -> float:
    return float(settings.WEBHOOK_TIMEOUT_SECONDS)


def private_destinations_allowed() -> bool:
    """Whether endpoints may resolve to loopback or private addresses (development, tests)."""
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_URLS)


# -- the request --


def event_body(event: WebhookEvent) -> bytes:
    """The JSON body of an event; serialized once per attempt, and these bytes are signed."""
    payload = {
        "id": event.public_id,
        "type": event.type,
        "created": int(event.created_at.timestamp()),
        "data": event.data,
    }
    return json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    ).encode()


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclasses.dataclass
class _Outcome:
    started_at: datetime
    duration_ms: int = 0
    status_code: int | None = None
    response: str = ""
    error: str = ""
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _destination_refusal(url: str) -> tuple[str, bool, str | None]:
    """(why this URL may not be called now, whether for good, the vetted address).

    Managers configure endpoint URLs, and the admin shows the responses, so an
    endpoint aimed at the platform's own network would read it. The request then
    goes to the vetted address itself: resolving again could give another answer
    (DNS rebinding). ``("", False, None)``: allowed without vetting (development).
    """
    ambiguity = url_ambiguity(url)
    if ambiguity:
        return f"{ambiguity} Refused.", True, None
    if private_destinations_allowed():
        return "", False, None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        # Not vetted, not called; tried again on the retry schedule (DNS may be back).
        return f"{host} does not resolve now; not called.", False, None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if not address.is_global:
            return f"{host} resolves to a non-public address ({address}); refused.", True, None
    return "", False, str(addresses[0])


class _PinnedTLSAdapter(requests.adapters.HTTPAdapter):
    """HTTPS to a vetted address: the host name still goes in SNI and is checked
    against the certificate, so pinning the address weakens nothing."""

    def __init__(self, hostname: str):
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        pool_kwargs.update(server_hostname=self._hostname, assert_hostname=self._hostname)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def _pinned(url: str, address: str | None) -> tuple[str, dict, requests.Session]:
    """(URL to connect to, extra headers, session) for calling ``url`` at ``address``."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment may re-resolve the name
    if address is None:
        return url, {}, session
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rpartition("@")[2]
    if parts.scheme == "https":
        session.mount("https://", _PinnedTLSAdapter(parts.hostname))
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, session


def _read_excerpt(response: requests.Response) -> str:
    # Read only the start of the response: a huge or endless body must not fill memory.
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= 4 * RESPONSE_EXCERPT_CHARS:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")[:RESPONSE_EXCERPT_CHARS]


def _post(delivery: WebhookDelivery) -> _Outcome:
    event, endpoint = delivery.event, delivery.endpoint
    outcome = _Outcome(started_at=timezone.now())
    refusal, permanent, address = _destination_refusal(endpoint.url)
    if refusal:
        outcome.error, outcome.permanent = refusal, permanent
        return outcome
    body = event_body(event)
    timestamp = int(outcome.started_at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event.public_id,
        SIGNATURE_HEADER: signature_header(secret=endpoint.secret, body=body, timestamp=timestamp),
    }
    timeout = timeout_seconds()
    target, pinned_headers, session = _pinned(endpoint.url, address)
    started = time.monotonic()
    try:
        with (
            session,
            session.post(
                target,
                data=body,
                headers={**headers, **pinned_headers},
                timeout=timeout,
                allow_redirects=False,  # the signed body goes to the configured URL only
                stream=True,
            ) as response,
        ):
            outcome.status_code = response.status_code
            outcome.response = _read_excerpt(response)
            if response.is_redirect or 300 <= response.status_code < 400:
                location = response.headers.get("Location", "")
                outcome.error = f"Redirect to {location or '(no location)'} not followed."
            elif not outcome.ok:
                outcome.error = f"HTTP {response.status_code}."
    except requests.Timeout:
        outcome.error = f"Timed out after {timeout:g} s."
    except requests.RequestException as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:RESPONSE_EXCERPT_CHARS]
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


# -- services --


def event_emit(*, program: Program, type: str, data: dict) -> WebhookEvent | None:
    """Record an event and queue a delivery per subscribed endpoint; None when nobody listens."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {type!r}; expected one of {EVENT_TYPES}.")
    # One query per program object, i.e. per request or task, even when one change
    # announces several events (the common case: no endpoint at all).
    active = getattr(program, "_active_webhook_endpoints", None)
    if active is None:
        program_id = program.pk
        active = _endpoints.get(
            program_id,
            lambda: list(
                WebhookEndpoint.objects.filter(program_id=program_id, is_active=True).order_by("pk")
            ),
        )
        program._active_webhook_endpoints = active
    endpoints = [e for e in active if e.wants(type)]
    if not endpoints:
        return None
    now = timezone.now()
    with transaction.atomic():
        event = WebhookEvent.objects.create(program=program, type=type, data=data, created_at=now)
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(event=event, endpoint=e, next_attempt_at=now, created_at=now)
            for e in endpoints
        )
        for delivery in deliveries:
            # After the caller's commit (through the outbox): the worker must find
            # the rows, and a rolled-back change must not be announced.
            outbox.enqueue(deliver_webhook, delivery.pk)
    return event


def delivery_attempt(*, delivery_id: int) -> str:
    """Make one HTTP attempt if the delivery is due; returns its status after it.

    Returns "delivered", "pending" (attempted, retry scheduled) or "failed";
    "not-due" or "missing" when nothing was sent. The delivery is claimed and
    committed before the request, and the outcome recorded after it: no lock or
    transaction is held across the network call.
    """
    with transaction.atomic():
        # The row lock makes the claim atomic: of two duplicate tasks (an acks_late
        # redelivery, the beat sweep), one claims and the other finds it not due.
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("event", "endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "missing"
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery.status
        now = timezone.now()
        if delivery.next_attempt_at > now:
            return "not-due"
        if not delivery.endpoint.is_active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            delivery.last_error = "The endpoint was disabled."
            delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
            return delivery.status
        delivery.next_attempt_at = now + timedelta(seconds=timeout_seconds()) + CLAIM_MARGIN
        delivery.save(update_fields=["next_attempt_at"])

    outcome = _post(delivery)

    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        WebhookAttempt.objects.create(
            delivery=delivery,
            started_at=outcome.started_at,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            response_excerpt=outcome.response,
            error=outcome.error,
        )
        delays = retry_delays()
        delivery.attempts += 1
        delivery.last_status_code = outcome.status_code
        delivery.last_response = outcome.response
        delivery.last_error = outcome.error
        fields = ["status", "next_attempt_at", "last_error", "attempts", "last_status_code",
                  "last_response"]  # fmt: skip
        if outcome.ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
            fields.append("delivered_at")
        elif outcome.permanent or delivery.attempts > len(delays):
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delay = delays[delivery.attempts - 1]
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        delivery.save(update_fields=fields)
    log = logger.info if outcome.ok else logger.warning
    log(
        "webhook delivery %s attempt %s: %s %s",
        delivery_id,
        delivery.attempts,
        delivery.status,
        outcome.status_code or outcome.error,
    )
    return delivery.status


def _longest_countdown() -> int:
    # Redis hands an unacknowledged (countdown) message to another worker after the
    # visibility timeout, so longer waits are left to the beat sweep instead.
    return int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]) // 2


@shared_task(
    name="integrations.tasks.deliver_webhook",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
    soft_time_limit=60,
    time_limit=90,
)
def deliver_webhook(delivery_id: int) -> str:
    """Attempt one delivery if due; when it stays pending, queue the next attempt for its time.

    Only the run that made the attempt schedules the next one ("not-due" runs are
    duplicates), so a redelivered message never doubles the chain; the beat sweep
    catches what a lost message or a long wait leaves behind.
    """
    status = delivery_attempt(delivery_id=delivery_id)
    if status != WebhookDelivery.Status.PENDING:
        return status
    next_at = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if next_at is not None:
        countdown = max(0, int((next_at - timezone.now()).total_seconds()) + 1)
        if countdown <= _longest_countdown():
            deliver_webhook.apply_async((delivery_id,), countdown=countdown)
    return status


def delivery_resend(*, delivery_id: int, actor=None) -> bool:
    """Send a delivered or failed delivery again on a fresh schedule; False if still pending."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("event", "endpoint__program")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise NotFound("not_found", "No such webhook delivery.")
        if delivery.status == WebhookDelivery.Status.PENDING:
            return False
        if not delivery.endpoint.is_active:
            raise ServiceError(
                "endpoint_inactive", f"The endpoint {delivery.endpoint.url} is disabled."
            )
        previous = delivery.status
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.delivered_at = None
        delivery.last_error = ""
        delivery.save(
            update_fields=["status", "attempts", "next_attempt_at", "delivered_at", "last_error"]
        )
        audit_log(
            action=AuditAction.WEBHOOK_DELIVERY_RESENT,
            obj=delivery,
            program=delivery.endpoint.program,
            actor=actor,
            data={"event": delivery.event.public_id, "previous_status": previous},
        )
        outbox.enqueue(deliver_webhook, delivery_id)
    return True


def endpoint_save(*, endpoint: WebhookEndpoint, actor=None, changed: list[str] | None = None):
    """Create or update an endpoint from the admin, with an audit row."""
    with transaction.atomic():
        created = endpoint.pk is None
        endpoint.full_clean()
        endpoint.save()
        audit_log(
            action=AuditAction.WEBHOOK_ENDPOINT_CREATED if created else "webhook_endpoint.updated",
            obj=endpoint,
            program=endpoint.program,
            actor=actor,
            data={"url": endpoint.url, "changed": changed or []},
        )
    return endpoint


def endpoint_secret_rotate(*, endpoint_id: int, actor=None) -> WebhookEndpoint:
    """Replace an endpoint's signing secret; requests signed from now on use the new one."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.secret = new_endpoint_secret()
        endpoint.save(update_fields=["secret"])
        audit_log(
            action=AuditAction.WEBHOOK_ENDPOINT_SECRET_ROTATED,
            obj=endpoint,
            program=endpoint.program,
            actor=actor,
        )
    return endpoint

"""Outgoing webhooks (merchant endpoints, events emitted once, deliveries) and Stripe's events."""

import secrets

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Program
from core.url_safety import url_ambiguity

EVENT_TYPES = (
    "advocate.enrolled",
    "referral.created",
    "conversion.attributed",
    "reward.issued",
    "reward.reversed",
    "payout.paid",
)
EVENT_TYPE_CHOICES = [(t, t) for t in EVENT_TYPES]

RESPONSE_EXCERPT_CHARS = 1000


def new_endpoint_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


class WebhookEndpoint(models.Model):
    """A merchant URL that receives a program's events, signed with its own secret."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(
        "URL",
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Receives a signed POST for each event (redirects are not followed).",
    )
    secret = models.CharField(
        max_length=80,
        default=new_endpoint_secret,
        help_text="Signing secret: verify the Advocacy-Signature header with it.",
    )
    event_types = models.JSONField(
        default=list, blank=True, help_text="Event types sent here; none selected means all."
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"),  # noqa: S106 - a prefix, not a secret
                name="webhook_endpoint_secret_prefix",
            ),
        ]

    def __str__(self) -> str:
        return self.url

    def clean(self):
        if self.url and (ambiguity := url_ambiguity(self.url)):
            raise ValidationError({"url": ambiguity})
        if not isinstance(self.event_types, list) or not all(
            t in EVENT_TYPES for t in self.event_types
        ):
            raise ValidationError(
                {"event_types": f"A list of event types among: {', '.join(EVENT_TYPES)}."}
            )

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(models.Model):
    """Something that happened in a program, emitted once; its deliveries carry it."""

    public_id = models.CharField("event id", max_length=40, unique=True, default=new_event_id)
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=40, choices=EVENT_TYPE_CHOICES)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=EVENT_TYPES), name="webhook_event_type_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint, retried on a schedule until delivered."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Attempts in the current schedule (a resend starts a new one)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhook_delivery_unique_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]),
                name="webhook_delivery_status_known",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="webhook_delivery_delivered_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="webhook_delivery_pending_is_scheduled",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, kept so the admin shows the whole history."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error[:40]}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class StripeEvent(models.Model):
    """A webhook event, stored once under Stripe's id and processed in a task."""

    id = models.CharField(max_length=100, primary_key=True)
    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, null=True, blank=True, related_name="stripe_events"
    )
    type = models.CharField(max_length=100)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is processing it until then (or crashed)."
    )
    result = models.CharField(max_length=300, blank=True)

    class Meta:
        # Created by the rewards app; the table keeps its name.
        db_table = "rewards_stripeevent"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

"""Plumbing records: the outbox of work that leaves a transaction, and the log of emails."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A task for the broker, written in the transaction of the change that needs it.

    Published after that transaction commits; if the broker is down then, the
    relay publishes it later. Nothing a committed change asked for is lost.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(sent_at__isnull=True), name="outbox_unsent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"


class EmailLog(models.Model):
    """One row for every email the platform sent or tried to send, whoever sent it.

    Written by ``core.mail.LoggingEmailBackend`` (the ``EMAIL_BACKEND``), so nurture's
    emails, reward and payout notices, invitations and campaigns, NPS surveys,
    reports and allauth's sign-in emails all appear. Read-only in the admin.
    ``program_id`` is a plain number: plumbing knows no programs.
    """

    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        BOUNCED = "bounced", _("Bounced")

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    to = models.CharField(_("recipient"), max_length=500, db_index=True)
    kind = models.CharField(_("kind"), max_length=60, db_index=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    error = models.CharField(_("error"), max_length=300, blank=True)
    program_id = models.BigIntegerField(_("program"), null=True, blank=True, db_index=True)
    message_id = models.CharField(_("Message-ID"), max_length=300, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("email sent")
        verbose_name_plural = _("emails sent")

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"

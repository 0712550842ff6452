"""The email backend every email goes through: it delivers with the configured
backend and writes one ``EmailLog`` row per message (sent or failed).

Senders say what an email is with ``email_tag(message, kind=..., program_id=...)``;
an untagged message (e.g. from a library) is logged as kind ``other``. A bounce
reported later (a provider's webhook, a manager reading a bounce) is recorded with
``email_bounced``.
"""

import logging
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import DNS_NAME
from django.db import DatabaseError

from .models import EmailLog

logger = logging.getLogger(__name__)

KIND_ATTR = "log_kind"
PROGRAM_ATTR = "log_program_id"


def email_tag(message, *, kind: str, program_id: int | None = None):
    """Say what ``message`` is, for the email log; returns the message."""
    setattr(message, KIND_ATTR, kind[:60])
    setattr(message, PROGRAM_ATTR, program_id)
    return message


def _message_id(message) -> str:
    # Set it now (Django would at sending) so the log can find the message on a bounce.
    headers = message.extra_headers
    for name in headers:
        if name.lower() == "message-id":
            return str(headers[name])
    headers["Message-ID"] = make_msgid(domain=DNS_NAME)
    return headers["Message-ID"]


def _record(message, message_id: str, status: str, error: str = "") -> None:
    to = ", ".join([*message.to, *message.cc, *message.bcc])
    try:
        EmailLog.objects.create(
            to=to[:500],
            kind=getattr(message, KIND_ATTR, "") or "other",
            subject=str(message.subject)[:300],
            status=status,
            error=error[:300],
            program_id=getattr(message, PROGRAM_ATTR, None),
            message_id=message_id[:300],
        )
    except DatabaseError:
        # The log never stops an email: the message went (or failed) all the same.
        logger.exception("email log: could not record %s to %s", status, to)


class LoggingEmailBackend(BaseEmailBackend):
    """Delivers through ``EMAIL_DELIVERY_BACKEND`` and logs each message's outcome."""

    def __init__(self, fail_silently=False, **kwargs):
        super().__init__(fail_silently=fail_silently)
        self.inner = get_connection(
            settings.EMAIL_DELIVERY_BACKEND, fail_silently=fail_silently, **kwargs
        )

    def open(self):
        return self.inner.open()

    def close(self):
        return self.inner.close()

    def send_messages(self, email_messages):
        if not email_messages:
            return 0
        opened = self.inner.open()  # one connection for the batch, as the inner backend would
        sent = 0
        try:
            for message in email_messages:
                message_id = _message_id(message)
                try:
                    count = self.inner.send_messages([message]) or 0
                except Exception as exc:
                    _record(
                        message, message_id, EmailLog.Status.FAILED, f"{type(exc).__name__}: {exc}"
                    )
                    raise
                if count:
                    _record(message, message_id, EmailLog.Status.SENT)
                else:
                    _record(message, message_id, EmailLog.Status.FAILED, "not accepted")
                sent += count
        finally:
            if opened:
                self.inner.close()
        return sent


def email_bounced(*, message_id: str) -> int:
    """Mark the logged email with this Message-ID as bounced; returns how many rows."""
    return (
        EmailLog.objects.filter(message_id=message_id.strip())
        .exclude(status=EmailLog.Status.BOUNCED)
        .update(status=EmailLog.Status.BOUNCED)
    )

"""Sending a templated email: subject and body rendered in one language."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation

from .mail import email_tag


def templated_email_send(
    *,
    to: str,
    template: str,
    context: dict,
    language: str = "",
    headers: dict | None = None,
    kind: str = "",
    program_id: int | None = None,
) -> None:
    """Render ``<template>_subject.txt`` and ``<template>.txt`` in ``language`` and send them.

    Call it outside any transaction: SMTP is a network call.
    """
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        body = render_to_string(f"{template}.txt", context)
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to], headers=headers or {})
    # The email log names it by ``kind`` (default: the template's last part).
    email_tag(message, kind=kind or template.rsplit("/", 1)[-1], program_id=program_id)
    message.send()

"""The one way an email reaches an advocate: in their language, with one-click unsubscribe."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation

from .models import Advocate


def advocate_email_send(*, advocate: Advocate, template: str, context: dict) -> None:
    """Render ``<template>_subject.txt`` and ``<template>.txt`` and send them to the advocate."""
    from privacy.services import list_unsubscribe_headers, unsubscribe_url

    context = {**context, "advocate": advocate, "unsubscribe_url": unsubscribe_url(advocate)}
    with translation.override(advocate.locale or settings.LANGUAGE_CODE):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        body = render_to_string(f"{template}.txt", context)
    EmailMessage(
        subject,
        body,
        settings.DEFAULT_FROM_EMAIL,
        [advocate.email],
        headers=list_unsubscribe_headers(advocate),
    ).send()

"""The one way an email reaches an advocate: in their language, with one-click
unsubscribe, and only when their preferences allow it."""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.emails import templated_email_send

from .audit import AuditAction, audit_log
from .models import Advocate, EmailPreference, Notification

UNSUBSCRIBE_SALT = "privacy.unsubscribe"
ERASED_DOMAIN = "invalid"

# Which preference allows which email; invitations only stop on "unsubscribe from all".
EMAIL_KINDS = {
    "invitation": None,
    "reward_available": "rewards_and_payouts",
    "payout_sent": "rewards_and_payouts",
    "perk_granted": "rewards_and_payouts",
    "program_news": "program_news",
}


def erased_email(advocate: Advocate) -> str:
    return f"deleted-{advocate.pk}@{ERASED_DOMAIN}"


def is_erased(advocate: Advocate) -> bool:
    return advocate.email == erased_email(advocate)


def unsubscribe_token(advocate: Advocate) -> str:
    # No expiry: an unsubscribe link in a years-old email must still work.
    return signing.dumps(advocate.pk, salt=UNSUBSCRIBE_SALT)


def advocate_from_token(token: str) -> Advocate | None:
    """The advocate a token was made for, or None when it is forged or unknown."""
    try:
        advocate_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(advocate_id, int):
        return None
    return Advocate.objects.select_related("program").filter(pk=advocate_id).first()


def unsubscribe_url(advocate: Advocate) -> str:
    """The absolute one-click unsubscribe URL for emails to ``advocate``."""
    path = reverse("privacy:unsubscribe", args=[unsubscribe_token(advocate)])
    return settings.SITE_URL.rstrip("/") + path


def list_unsubscribe_headers(advocate: Advocate) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers for an email to ``advocate``."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(advocate)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def email_preference_get(advocate: Advocate) -> EmailPreference:
    """The advocate's preferences (unsaved defaults when they never changed them)."""
    return EmailPreference.objects.filter(advocate=advocate).first() or EmailPreference(
        advocate=advocate
    )


def may_email(advocate: Advocate, kind: str) -> bool:
    """Whether an email of ``kind`` may be sent to ``advocate``."""
    if kind not in EMAIL_KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    if is_erased(advocate):
        return False
    preference = email_preference_get(advocate)
    if preference.unsubscribed_all_at is not None:
        return False
    field = EMAIL_KINDS[kind]
    return field is None or getattr(preference, field)


def email_unsubscribe_all(*, advocate: Advocate, actor=None) -> bool:
    """Stop every email to ``advocate``; False when they already were unsubscribed."""
    with transaction.atomic():
        preference, _ = EmailPreference.objects.select_for_update().get_or_create(advocate=advocate)
        if preference.unsubscribed_all_at is not None:
            return False
        preference.unsubscribed_all_at = timezone.now()
        preference.save(update_fields=["unsubscribed_all_at"])
        audit_log(
            action=AuditAction.ADVOCATE_UNSUBSCRIBED,
            obj=advocate,
            program=advocate.program,
            actor=actor,
        )
    return True


def email_preferences_update(
    *,
    advocate: Advocate,
    rewards_and_payouts: bool,
    program_news: bool,
    unsubscribe_all: bool,
    actor=None,
) -> EmailPreference:
    """Set the advocate's email choices; unticking "no emails" subscribes them again."""
    with transaction.atomic():
        preference, _ = EmailPreference.objects.select_for_update().get_or_create(advocate=advocate)
        before = (
            preference.rewards_and_payouts,
            preference.program_news,
            preference.unsubscribed_all_at is not None,
        )
        if before == (rewards_and_payouts, program_news, unsubscribe_all):
            return preference
        preference.rewards_and_payouts = rewards_and_payouts
        preference.program_news = program_news
        if not unsubscribe_all:
            preference.unsubscribed_all_at = None
        elif preference.unsubscribed_all_at is None:
            preference.unsubscribed_all_at = timezone.now()
        preference.save(
            update_fields=["rewards_and_payouts", "program_news", "unsubscribed_all_at"]
        )
        audit_log(
            action=AuditAction.ADVOCATE_EMAIL_PREFERENCES,
            obj=advocate,
            program=advocate.program,
            actor=actor,
            data={
                "rewards_and_payouts": rewards_and_payouts,
                "program_news": program_news,
                "unsubscribed_all": unsubscribe_all,
            },
        )
    return preference


def advocate_email_send(
    *, advocate: Advocate, template: str, context: dict, kind: str = ""
) -> None:
    """Render ``<template>_subject.txt`` and ``<template>.txt`` and send them to the advocate.

    A network call: run it outside any transaction (claim, commit, send, record).
    """
    context = {**context, "advocate": advocate, "unsubscribe_url": unsubscribe_url(advocate)}
    templated_email_send(
        to=advocate.email,
        template=template,
        context=context,
        language=advocate.locale or settings.LANGUAGE_CODE,
        headers=list_unsubscribe_headers(advocate),
        kind=kind,
        program_id=advocate.program_id,
    )


# --- sending once: claim, send outside any transaction, record ----------------

SEND_LEASE = timedelta(minutes=5)


def _claim(*, advocate: Advocate, kind: str, key: str) -> str:
    """Take the right to send ``key``: "claimed", "already-sent" or "in-progress"."""
    with transaction.atomic():
        note, _ = Notification.objects.select_for_update().get_or_create(
            key=key, defaults={"advocate": advocate, "kind": kind}
        )
        if note.sent_at is not None:
            return "already-sent"
        now = timezone.now()
        if note.claimed_until is not None and note.claimed_until > now:
            return "in-progress"
        note.claimed_until = now + SEND_LEASE
        note.save(update_fields=["claimed_until"])
    return "claimed"


def advocate_notify(
    *, advocate: Advocate, kind: str, key: str, template: str, context: dict
) -> str:
    """Email the advocate at most once per ``key``, if their preferences allow it.

    Returns "sent", "already-sent", "opted-out" or "in-progress" (another worker
    holds the claim). The claim is committed before the SMTP call and the result
    recorded after it: a crash in between leaves the claim to expire and a retry
    sends again (at least once), never silently nothing.
    """
    if Notification.objects.filter(key=key, sent_at__isnull=False).exists():
        return "already-sent"
    if not may_email(advocate, kind):
        return "opted-out"
    claim = _claim(advocate=advocate, kind=kind, key=key)
    if claim != "claimed":
        return claim
    try:
        advocate_email_send(advocate=advocate, template=template, context=context, kind=kind)
    except Exception:
        # Let the retry (or another worker) send it at once.
        Notification.objects.filter(key=key).update(claimed_until=None)
        raise
    Notification.objects.filter(key=key).update(sent_at=timezone.now(), claimed_until=None)
    return "sent"

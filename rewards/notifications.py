"""Emails that tell an advocate their money moved: a reward became available, a payout left."""

import smtplib

from celery import shared_task
from django.conf import settings

from advocacy.emails import advocate_notify
from core.money import to_decimal_string

from .models import Payout, Reward
from .models.ledger import POINTS_CURRENCY

NOTIFICATIONS = {
    "reward_available": (Reward, "emails/reward_available"),
    "payout_sent": (Payout, "emails/payout_sent"),
    "perk_granted": (Reward, "emails/perk_granted"),
}


@shared_task(
    name="rewards.tasks.notify_advocate",
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def notify_advocate(kind: str, object_id: int) -> str:
    """Email an advocate about a reward, a perk or a payout, at most once per object."""
    model, template = NOTIFICATIONS[kind]
    related = ["advocate", "program"] + (["perk"] if kind == "perk_granted" else [])
    obj = model.objects.select_related(*related).filter(pk=object_id).first()
    if obj is None:
        return "missing"
    # A reward partly reversed before it matured makes only what is left available.
    minor = getattr(obj, "remaining_minor", obj.amount_minor)
    amount = minor if obj.currency == POINTS_CURRENCY else to_decimal_string(minor, obj.currency)
    return advocate_notify(
        advocate=obj.advocate,
        kind=kind,
        key=f"{kind}:{object_id}",
        template=template,
        context={
            "program": obj.program,
            "obj": obj,
            "amount": amount,
            "currency": obj.currency,
            "perk": getattr(obj, "perk", None),
            "portal_url": settings.SITE_URL + "/",
        },
    )

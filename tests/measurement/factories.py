"""Small builders for what other layers' APIs will receive (customers, history, NPS)."""

from datetime import datetime

from core.hashing import fingerprint
from core.normalize import normalize_email
from recruitment.models import Campaign, CampaignRecipient, Customer, NpsResponse
from referrals.models import Click, Conversion


def customer(program, external_id, email="", **fields):
    return Customer.objects.create(
        program=program,
        external_id=external_id,
        email=email,
        email_normalized=normalize_email(email),
        **fields,
    )


def backfilled_order(
    program, order_id, amount_minor, at: datetime, *, external_id="", email="", currency=None,
    refunded_minor=0,
):  # fmt: skip
    status = Conversion.Status.COMPLETED
    if refunded_minor:
        status = (
            Conversion.Status.REFUNDED
            if refunded_minor == amount_minor
            else Conversion.Status.PARTIALLY_REFUNDED
        )
    return Conversion.objects.create(
        program=program,
        order_id=order_id,
        amount_minor=amount_minor,
        refunded_minor=refunded_minor,
        status=status,
        currency=currency or program.currency,
        customer_external_id=external_id,
        customer_email=email,
        customer_email_normalized=normalize_email(email),
        backfill=True,
        request_fingerprint=fingerprint(order_id),
        occurred_at=at,
        created_at=at,
    )


def nps(program, score, at: datetime, *, external_id="", email=""):
    return NpsResponse.objects.create(
        program=program,
        customer=Customer.objects.filter(program=program, external_id=external_id).first()
        if external_id
        else None,
        customer_external_id=external_id,
        customer_email_normalized=normalize_email(email),
        score=score,
        category=NpsResponse.category_for(score),
        occurred_at=at,
        created_at=at,
    )


def click(link, at: datetime, channel=""):
    return Click.objects.create(
        program_id=link.program_id,
        link=link,
        advocate_id=link.advocate_id,
        channel=channel,
        created_at=at,
    )


def invitation(program, customer_obj, sent_at: datetime, campaign=None):
    campaign = campaign or Campaign.objects.create(program=program, name="Spring")
    return CampaignRecipient.objects.create(
        campaign=campaign,
        customer=customer_obj,
        state=CampaignRecipient.State.SENT,
        steps_sent=1,
        sent_at=sent_at,
    )

"""Report purchases and refunds to the referral platform (your server, Python + requests)."""

import os
from urllib.parse import quote

import requests

PLATFORM = os.environ.get("ADVOCACY_URL", "https://advocacy.example.com")
SECRET_KEY = os.environ.get("ADVOCACY_SECRET_KEY", "")


def report_purchase(
    order_id,
    amount,
    currency,
    email,
    referral_code=None,
    click_id=None,
    *,
    platform=PLATFORM,
    secret_key=SECRET_KEY,
):
    """Call once the payment succeeded; safe to retry (the order id makes it idempotent)."""
    body = {
        "order_id": str(order_id),
        "amount": str(amount),  # a decimal string such as "49.90", never a float
        "currency": currency,
        "customer": {"email": email},
    }
    # The hidden inputs referral_code / referral_click, when embed.js filled them.
    if referral_code:
        body["referral_code"] = referral_code
    if click_id:
        body["click_id"] = click_id
    response = requests.post(
        f"{platform}/api/v1/conversions",
        json=body,
        headers={"Authorization": f"Bearer {secret_key}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()  # {"attributed": true, "rewards": [...], "attribution": {...}, ...}


def report_refund(order_id, refund_id, amount=None, *, platform=PLATFORM, secret_key=SECRET_KEY):
    """Reverse the rewards of a refunded order; ``amount`` None refunds the whole order."""
    response = requests.post(
        f"{platform}/api/v1/conversions/{quote(str(order_id), safe='')}/refunds",
        json={} if amount is None else {"amount": str(amount)},
        # Your own refund id: a retry of this refund is not counted twice.
        headers={"Authorization": f"Bearer {secret_key}", "Idempotency-Key": f"refund-{refund_id}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()

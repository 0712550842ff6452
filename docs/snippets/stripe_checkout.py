"""Stripe Checkout: hand the referral to Stripe, the platform reads it from the webhook."""

import stripe


def create_checkout_session(price_id, success_url, cancel_url, referral_code="", referral_click=""):
    """``referral_code`` / ``referral_click`` are the hidden inputs that embed.js filled."""
    referral = {}
    if referral_code:
        referral["referral_code"] = referral_code
    if referral_click:
        referral["click_id"] = referral_click
    return stripe.checkout.Session.create(
        mode="payment",  # for "subscription", also pass subscription_data={"metadata": referral}
        line_items=[{"price": price_id, "quantity": 1}],
        success_url=success_url,
        cancel_url=cancel_url,
        # "CODE.CLICK" (or just "CODE"); metadata carries the same for your own reports.
        client_reference_id=".".join(filter(None, [referral_code, referral_click])) or None,
        metadata=referral,
    )

"""Inbound Stripe webhooks: ``POST /webhooks/stripe/<program>/``."""

import json
import logging

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from advocacy.models import Program
from rewards import stripe_gateway

from .stripe_inbound import stripe_event_store

logger = logging.getLogger(__name__)


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
@require_POST
def stripe_webhook(request, program: str):
    """``POST /webhooks/stripe/<program>/``: verify, store once, answer fast."""
    program_obj = get_object_or_404(Program, slug=program)
    secret = program_obj.stripe_webhook_secret or settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return _error("webhook_not_configured", "This program has no Stripe webhook secret.", 400)
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = stripe_gateway.webhook_event(request.body, signature, secret)
    except stripe_gateway.stripe.SignatureVerificationError:
        return _error("invalid_signature", "The Stripe signature does not verify.", 400)
    except (ValueError, json.JSONDecodeError):
        return _error("malformed_json", "The body is not a Stripe event.", 400)
    if not isinstance(event.get("id"), str) or not event["id"]:
        return _error("malformed_event", "The event has no id.", 400)
    stored, created = stripe_event_store(program=program_obj, event=event)
    return JsonResponse({"received": True, "duplicate": not created, "type": stored.type})

"""The recruitment API (``/api/v1/``): customers, order history, NPS, campaigns.

Thin views: parse, check access through the key's program (secret key only),
call a service, serialize. Bulk routes check each row on its own and answer
``{"errors": [{"index", "error": {"code", "message", "fields"?}}]}`` beside the
counts; an invalid row changes nothing.
"""

import hmac

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from advocacy.models import ApiKey
from core.api_fields import refuse_occurred_outside_window
from core.errors import ServiceError
from core.hashing import fingerprint

from . import bounces, campaigns, selectors, services
from .emails import INVITE_SALT, pk_from_token
from .models import CampaignRecipient, Customer
from .serializers import (
    BounceEventInput,
    BounceWebhookInput,
    CampaignInput,
    ConversionBulkInput,
    ConversionRowInput,
    CustomerBulkInput,
    CustomerRowInput,
    NpsInput,
    RowsInput,
)


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    items = detail if isinstance(detail, list) else [detail]
    if items and all(isinstance(i, dict) for i in items):
        out = {}
        for item in items:
            out.update(_flatten(item, prefix))
        return out
    return {(prefix.rstrip(".") or "non_field_errors"): [str(i) for i in items]}


def _rows(request, key: str, serializer_cls, result: services.BulkResult, **kwargs):
    """Validate the envelope, then each row; bad rows go to ``result.errors``."""
    envelope = RowsInput(data=request.data, key=key)
    envelope.is_valid(raise_exception=True)
    good = []
    for index, raw in enumerate(envelope.validated_data[key]):
        if not isinstance(raw, dict):
            result.error(index, "validation_error", "Each row must be a JSON object.")
            continue
        row = serializer_cls(data=raw, **kwargs)
        if row.is_valid():
            good.append((index, dict(row.validated_data)))
        else:
            result.error(
                index, "validation_error", "The row has invalid fields.", _flatten(row.errors)
            )
    return good


class CustomerBulkApi(APIView):
    @extend_schema(request=CustomerBulkInput, responses={200: OpenApiResponse()})
    def post(self, request):
        result = services.BulkResult()
        rows = _rows(request, "customers", CustomerRowInput, result)
        upserted = services.customers_upsert(program=request.program, rows=rows)
        errors = sorted(result.errors + upserted.errors, key=lambda e: e["index"])
        return Response(
            {
                "created": upserted.created,
                "updated": upserted.updated,
                "unchanged": upserted.unchanged,
                "errors": errors,
            }
        )


class CustomerDetailApi(APIView):
    @extend_schema(responses={200: OpenApiResponse()})
    def get(self, request, external_id):
        customer = selectors.customer_get(program=request.program, external_id=external_id)
        return Response(selectors.customer_profile(customer=customer))


class ConversionBulkApi(APIView):
    api_scope = ApiKey.Scope.CONVERSIONS_WRITE

    @extend_schema(request=ConversionBulkInput, responses={200: OpenApiResponse()})
    def post(self, request):
        backfill = request.data.get("backfill", False) if isinstance(request.data, dict) else False
        if not isinstance(backfill, bool):
            raise ServiceError(
                "validation_error",
                "The request has invalid fields.",
                fields={"backfill": ["true or false."]},
            )
        result = services.BulkResult()
        rows = _rows(request, "conversions", ConversionRowInput, result, backfill=backfill)
        facts = []
        for index, v in rows:
            customer = v.pop("customer", None) or {}
            # The same fingerprint as POST /api/v1/conversions for a live order, so a
            # retried order is "existing", not a conflict; history is told apart.
            fp = fingerprint(
                {**v, "customer": customer, **({"backfill": True} if backfill else {})}
            )
            facts.append(
                (
                    index,
                    {
                        **v,
                        "fingerprint": fp,
                        "customer_email": customer.get("email", ""),
                        "customer_external_id": customer.get("external_id"),
                    },
                )
            )
        recorded = services.conversions_bulk_record(
            program=request.program, rows=facts, backfill=backfill
        )
        errors = sorted(result.errors + recorded.errors, key=lambda e: e["index"])
        return Response(
            {"created": recorded.created, "existing": recorded.existing, "errors": errors}
        )


class NpsCreateApi(APIView):
    @extend_schema(request=NpsInput, responses={201: OpenApiResponse()})
    def post(self, request):
        data = NpsInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        refuse_occurred_outside_window(v.get("occurred_at"))
        response = services.nps_record(
            program=request.program,
            score=v["score"],
            customer_external_id=v["customer"].get("external_id"),
            customer_email=v["customer"].get("email", ""),
            comment=v["comment"],
            occurred_at=v.get("occurred_at"),
        )
        return Response(
            {"id": response.pk, "category": response.category, "score": response.score},
            status=status.HTTP_201_CREATED,
        )


class CampaignCreateApi(APIView):
    @extend_schema(request=CampaignInput, responses={202: OpenApiResponse()})
    def post(self, request):
        data = CampaignInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        program = request.program
        segment, customers, unknown = None, None, []
        if "segment" in v:
            segment = selectors.segment_get(program=program, slug=v["segment"])
        else:
            wanted = set(v["customers"])
            customers = Customer.objects.filter(program=program, external_id__in=wanted)
            known = set(customers.values_list("external_id", flat=True))
            unknown = sorted(wanted - known)
        campaign = campaigns.campaign_create(
            program=program,
            name=v["name"],
            customers=customers,
            segment=segment,
            send_at=v.get("send_at"),
            reminders=v["reminders"],
            reminder_after_days=v["reminder_after_days"],
        )
        campaign.refresh_from_db()
        numbers = selectors.campaign_numbers(campaign=campaign)
        body = {"id": campaign.pk, "status": campaign.status, "recipients": numbers["recipients"]}
        if unknown:
            body["unknown_customers"] = unknown[:1000]
        return Response(body, status=status.HTTP_202_ACCEPTED)


class CampaignDetailApi(APIView):
    @extend_schema(responses={200: OpenApiResponse()})
    def get(self, request, campaign_id):
        campaign = selectors.campaign_get(program=request.program, campaign_id=campaign_id)
        return Response(selectors.campaign_numbers(campaign=campaign))


class BounceWebhookApi(APIView):
    """``POST /webhooks/email/bounces``: the mail provider's bounces and complaints.

    ``Authorization: Bearer <EMAIL_WEBHOOK_SECRET>``; 404 while the secret is unset.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        request=BounceWebhookInput,
        responses={200: OpenApiResponse(description='{"marked", "ignored", "errors"}')},
        auth=[],
    )
    def post(self, request):
        secret = settings.EMAIL_WEBHOOK_SECRET
        if not secret:
            raise Http404
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
            raise ServiceError("bad_secret", "Wrong or missing webhook secret.", status=403)
        envelope = RowsInput(data=request.data, key="events")
        envelope.is_valid(raise_exception=True)
        marked = ignored = 0
        errors = []
        for index, raw in enumerate(envelope.validated_data["events"]):
            event = BounceEventInput(data=raw if isinstance(raw, dict) else {})
            if not event.is_valid():
                errors.append(
                    {
                        "index": index,
                        "error": {
                            "code": "validation_error",
                            "message": "The event has invalid fields.",
                            "fields": _flatten(event.errors),
                        },
                    }
                )
                continue
            v = event.validated_data
            if v["type"] == "bounce" and v["bounce_type"] == "soft":
                ignored += 1  # a full mailbox: the provider retries it
                continue
            customer_ids = None
            recipient_id = pk_from_token(v.get("recipient", ""), INVITE_SALT)
            if recipient_id is not None:
                customer_ids = list(
                    CampaignRecipient.objects.filter(pk=recipient_id).values_list(
                        "customer_id", flat=True
                    )
                )
            marked += bounces.email_undeliverable(
                email=v.get("email", ""),
                customer_ids=customer_ids or None,
                reason=v.get("reason") or v["type"],
                complaint=v["type"] == "complaint",
            )
        return Response({"marked": marked, "ignored": ignored, "errors": errors})

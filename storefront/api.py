"""The merchant's REST API (``/api/v1/``): thin views over the services.

Each view parses its input, checks access through the key's program, calls
one service or flow, and serializes the answer (shapes in the contract).
"""

from urllib.parse import urlsplit

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from advocacy import selectors as advocacy_selectors
from advocacy import services as advocacy_services
from advocacy.api_auth import HasAnyKey
from advocacy.models import ApiKey
from core.api_fields import refuse_occurred_outside_window
from core.errors import ServiceError
from core.hashing import fingerprint
from core.money import MoneyError, to_minor
from referrals import selectors as referral_selectors
from referrals.services import advocate_primary_link
from rewards import flows
from rewards.selectors import friend_reward

from .idempotency import idempotency_key, idempotent
from .serializers import (
    AdvocateCreateInput,
    AdvocateOutput,
    ConversionCreateInput,
    ReferralCreateInput,
    RefundCreateInput,
    advocate_detail_payload,
    advocate_payload,
    conversion_payload,
    money,
    referral_payload,
)


def _created(created: bool) -> int:
    return status.HTTP_201_CREATED if created else status.HTTP_200_OK


class AdvocateCreateApi(APIView):
    api_scope = ApiKey.Scope.ADVOCATES_WRITE

    @extend_schema(
        request=AdvocateCreateInput, responses={200: AdvocateOutput, 201: AdvocateOutput}
    )
    def post(self, request):
        data = AdvocateCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        advocate, created = advocacy_services.advocate_enroll(
            program=request.program, **data.validated_data
        )
        link = advocate_primary_link(advocate)
        return Response(
            advocate_payload(advocate, link),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AdvocateDetailApi(APIView):
    @extend_schema(responses={200: AdvocateOutput})
    def get(self, request, advocate_id):
        advocate = advocacy_selectors.advocate_get(program=request.program, advocate_id=advocate_id)
        link = advocate_primary_link(advocate)
        stats = referral_selectors.advocate_stats(advocate=advocate)
        return Response(advocate_detail_payload(advocate, link, stats))


class ReferralCreateApi(APIView):
    """A referred friend signed up (secret key, or publishable key from the browser)."""

    permission_classes = [HasAnyKey]
    api_scope = ApiKey.Scope.REFERRALS_WRITE

    @extend_schema(
        request=ReferralCreateInput,
        responses={
            201: OpenApiResponse(description="Secret key: the referral (200 when known)."),
            202: OpenApiResponse(
                description='Publishable key: always {"accepted": true, "friend_reward"?}.'
            ),
        },
    )
    def post(self, request):
        _check_browser_origin(request)
        data = ReferralCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        friend = v["friend"]
        from_browser = request.auth.kind == ApiKey.Kind.PUBLISHABLE
        referral, created = flows.referral_create(
            program=request.program,
            friend_email=friend.get("email", ""),
            friend_external_id=friend.get("external_id"),
            friend_name=friend.get("name", ""),
            referral_code=v.get("referral_code"),
            click_id=v.get("click_id"),
            placement=v.get("placement", ""),
            from_browser=from_browser,
        )
        if from_browser:
            # Anyone holds the publishable key: the answer is the same whether this
            # friend was known, referred by someone else, or converted, and shows
            # only the reward this request itself earned the friend.
            reward = friend_reward(referral=referral) if created else None
            return Response(
                {"accepted": True, **({"friend_reward": reward} if reward else {})}, status=202
            )
        body = referral_payload(referral, friend_reward(referral=referral))
        return Response(body, status=_created(created))


def _check_browser_origin(request) -> None:
    """A publishable key used from a browser works only on the program's own domains."""
    origin = request.headers.get("Origin")
    if not origin or request.auth.kind != ApiKey.Kind.PUBLISHABLE:
        return
    if not request.program.allows_host(urlsplit(origin).hostname):
        raise ServiceError(
            "origin_not_allowed",
            f"{origin} is not one of this program's domains (admin: allowed domains).",
            status=403,
        )
    request._request.cors_allowed_origin = origin


class ConversionCreateApi(APIView):
    """A purchase. The same order id again returns the first result."""

    api_scope = ApiKey.Scope.CONVERSIONS_WRITE

    @extend_schema(request=ConversionCreateInput, responses={201: OpenApiResponse()})
    def post(self, request):
        data = ConversionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        refuse_occurred_outside_window(v.get("occurred_at"))
        customer = v.pop("customer", None) or {}
        fp = fingerprint({**v, "customer": customer})

        def handle():
            conversion, created = flows.conversion_record(
                program=request.program,
                fingerprint=fp,
                customer_email=customer.get("email", ""),
                customer_external_id=customer.get("external_id"),
                **v,
            )
            return Response(conversion_payload(conversion), status=_created(created))

        return idempotent(request, {"fp": fp}, handle)


class RefundCreateApi(APIView):
    """Refund an order in whole (no amount) or in part, reversing its rewards."""

    api_scope = ApiKey.Scope.CONVERSIONS_WRITE

    @extend_schema(request=RefundCreateInput, responses={201: OpenApiResponse()})
    def post(self, request, order_id):
        data = RefundCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data.get("amount")
        key = idempotency_key(request)

        def handle():
            conversion = referral_selectors.conversion_for_order(
                program=request.program, order_id=order_id
            )
            amount_minor = None
            if amount is not None:
                try:
                    amount_minor = to_minor(amount, conversion.currency)
                except MoneyError as exc:
                    raise ServiceError(
                        "validation_error", str(exc), fields={"amount": [str(exc)]}
                    ) from exc
                if amount_minor <= 0:
                    raise ServiceError(
                        "validation_error",
                        "The refund amount must be positive.",
                        fields={"amount": ["Must be positive."]},
                    )
            conversion, refund, created = flows.conversion_refund(
                program=request.program,
                order_id=order_id,
                amount_minor=amount_minor,
                idempotency_key=key,
            )
            body = conversion_payload(conversion)
            body["refund"] = (
                {"id": refund.pk, "amount": money(refund.amount_minor, conversion.currency)}
                if refund
                else None
            )
            return Response(body, status=_created(created))

        return idempotent(request, {"amount": amount}, handle)

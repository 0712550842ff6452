"""Lists in the merchant's API: ``GET /api/v1/advocates``, ``/referrals``, ``/conversions``,
``/rewards`` (secret key).

Cursor pagination (``{"results": [...], "next": <url> | null}``, ``?limit=`` 50 by
default, at most 500) and the same filters everywhere: ``?status=``,
``?advocate_id=``, ``?created_after=``, ``?created_before=`` (ISO 8601 date or time).
Each list reads a constant number of queries, whatever its length.
"""

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Prefetch, Q
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from advocacy.api_auth import HasAnyKey, HasSecretKey
from advocacy.models import Advocate
from advocacy.selectors import advocate_get
from core.api_fields import StringField
from referrals.models import Conversion, Referral, ReferralLink
from referrals.services import referral_url
from rewards.models import Reward
from rewards.selectors import AWAITING_APPROVAL, reward_status

from .api import AdvocateCreateApi, ConversionCreateApi, ReferralCreateApi
from .serializers import money


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):
        """``?limit=``: once, a whole number from 1 (above the maximum, the maximum). DRF
        would quietly use the default for anything else; the schema says an integer."""
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        if len(values) > 1 or not values[0].isascii() or not values[0].isdigit():
            raise serializers.ValidationError({"limit": ["Give one whole number, at least 1."]})
        if int(values[0]) < 1:
            raise serializers.ValidationError({"limit": ["Give one whole number, at least 1."]})
        return min(int(values[0]), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }


MAX_ID = 2**63 - 1  # a bigint primary key


class WholeNumberField(forms.IntegerField):
    """Digits only: Django's IntegerField would also take " 5 " and "5.0"."""

    def to_python(self, value):
        text = str(value)
        if value not in self.empty_values and not (text.isascii() and text.isdigit()):
            raise forms.ValidationError("Send a whole number.", code="invalid")
        return super().to_python(value)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An id: a whole number from 1 to the largest key (a 400 for anything else).
    ``NumberFilter`` alone takes any decimal and refuses only values beyond 1e50."""

    field_class = WholeNumberField

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class UtcDateTimeField(IsoDateTimeField):
    """An RFC 3339 time, in UTC before it reaches the database: PostgreSQL takes offsets
    up to 15:59, RFC 3339 (and the schema) up to 23:59. A time that leaves the calendar
    once in UTC (9999-12-31T23:00-05:00) is a 400, not a 500."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("The time is out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class TrueOrFalseField(forms.Field):
    """``true`` or ``false``, as the schema's boolean is sent in a query string; Django's
    NullBooleanField would take anything else as "no filter"."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if value not in ("true", "false"):
            raise forms.ValidationError("Send true or false.", code="invalid")
        return value == "true"


@extend_schema_field({"type": "boolean"})
class TrueOrFalseFilter(django_filters.BooleanFilter):
    field_class = TrueOrFalseField


class CreatedFilters(django_filters.FilterSet):
    advocate_id = IdFilter(field_name="advocate_id")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")


class AdvocateFilters(CreatedFilters):
    status = django_filters.ChoiceFilter(choices=Advocate.Status.choices)
    advocate_id = IdFilter(field_name="id")

    class Meta:
        model = Advocate
        fields = ["status"]


class ReferralFilters(CreatedFilters):
    status = django_filters.ChoiceFilter(choices=Referral.Status.choices)

    class Meta:
        model = Referral
        fields = ["status"]


class ConversionFilters(CreatedFilters):
    status = django_filters.ChoiceFilter(choices=Conversion.Status.choices)
    attributed = TrueOrFalseFilter()

    class Meta:
        model = Conversion
        fields = ["status", "attributed"]


class RewardFilters(CreatedFilters):
    status = django_filters.ChoiceFilter(
        choices=[*Reward.Status.choices, (AWAITING_APPROVAL, "Awaiting approval")],
        method="filter_status",
    )
    kind = django_filters.ChoiceFilter(choices=Reward.Kind.choices)
    recipient = django_filters.ChoiceFilter(choices=Reward.Recipient.choices)

    class Meta:
        model = Reward
        fields = ["status", "kind", "recipient"]

    def filter_status(self, queryset, name, value):
        awaiting = Q(status=Reward.Status.PENDING, requires_approval=True, approved_at=None)
        if value == AWAITING_APPROVAL:
            return queryset.filter(awaiting)
        if value == Reward.Status.PENDING:
            return queryset.filter(status=value).exclude(awaiting)
        return queryset.filter(status=value)


# --------------------------------------------------------------------- payloads


def advocate_item(advocate: Advocate) -> dict:
    links = advocate.active_links  # prefetched, oldest first
    code = links[0].code if links else None
    return {
        "id": advocate.pk,
        "email": advocate.email,
        "name": advocate.name,
        "external_id": advocate.external_id,
        "status": advocate.status,
        "referral_code": code,
        "referral_url": referral_url(code) if code else None,
        "coupon_code": advocate.coupon_code,
        "created_at": advocate.created_at.isoformat(),
    }


def referral_item(referral: Referral) -> dict:
    return {
        "id": referral.pk,
        "advocate_id": referral.advocate_id,
        "status": referral.status,
        "friend": {
            "email": referral.friend_email,
            "external_id": referral.friend_external_id,
            "name": referral.friend_name,
        },
        "reason": referral.rejection_reason or None,
        "created_at": referral.created_at.isoformat(),
        "converted_at": referral.converted_at.isoformat() if referral.converted_at else None,
    }


def conversion_item(conversion: Conversion) -> dict:
    return {
        "id": conversion.pk,
        "order_id": conversion.order_id,
        "amount": money(conversion.amount_minor, conversion.currency),
        "refunded": money(conversion.refunded_minor, conversion.currency),
        "currency": conversion.currency,
        "attributed": conversion.attributed,
        "attribution": {
            "method": conversion.attribution_method,
            "reason": conversion.attribution_reason,
        },
        "advocate_id": conversion.advocate_id if conversion.attributed else None,
        "referral_id": conversion.referral_id if conversion.attributed else None,
        "status": conversion.status,
        "occurred_at": conversion.occurred_at.isoformat(),
        "created_at": conversion.created_at.isoformat(),
    }


def reward_item(reward: Reward) -> dict:
    status = reward_status(reward)
    friend = reward.referral if reward.recipient == Reward.Recipient.FRIEND else None
    return {
        "id": reward.pk,
        "advocate_id": reward.advocate_id,
        "recipient": reward.recipient,
        "friend_email": friend.friend_email if friend else None,
        "kind": reward.kind,
        "amount": money(reward.amount_minor, reward.currency) if reward.currency else "0",
        "reversed": money(reward.reversed_minor, reward.currency) if reward.currency else "0",
        "currency": reward.currency,
        "status": status,
        "reason": reward.reason,
        "order_id": reward.conversion.order_id if reward.conversion_id else None,
        "coupon_code": reward.coupon_code or None,
        # Awaiting approval: it becomes available only once approved.
        "available_at": None if status == AWAITING_APPROVAL else reward.available_at.isoformat(),
        "approved_at": reward.approved_at.isoformat() if reward.approved_at else None,
        "created_at": reward.created_at.isoformat(),
    }


def _shape(name: str, fields: dict) -> serializers.Serializer:
    return inline_serializer(name=name, fields=fields)


_TS = serializers.DateTimeField
AdvocateItem = _shape("AdvocateListItem", {
    "id": serializers.IntegerField(), "email": serializers.EmailField(),
    "name": StringField(), "external_id": StringField(allow_null=True),
    "status": serializers.ChoiceField(Advocate.Status.choices),
    "referral_code": StringField(allow_null=True),
    "referral_url": serializers.URLField(allow_null=True),
    "coupon_code": StringField(allow_null=True), "created_at": _TS(),
})  # fmt: skip
ReferralItem = _shape("ReferralListItem", {
    "id": serializers.IntegerField(), "advocate_id": serializers.IntegerField(),
    "status": serializers.ChoiceField(Referral.Status.choices),
    "friend": _shape("ReferralFriend", {
        "email": StringField(), "external_id": StringField(allow_null=True),
        "name": StringField()}),
    "reason": StringField(allow_null=True), "created_at": _TS(),
    "converted_at": _TS(allow_null=True),
})  # fmt: skip
ConversionItem = _shape("ConversionListItem", {
    "id": serializers.IntegerField(), "order_id": StringField(),
    "amount": StringField(), "refunded": StringField(),
    "currency": StringField(), "attributed": serializers.BooleanField(),
    "attribution": _shape("ConversionAttribution", {
        "method": serializers.ChoiceField(Conversion.Method.choices),
        "reason": StringField()}),
    "advocate_id": serializers.IntegerField(allow_null=True),
    "referral_id": serializers.IntegerField(allow_null=True),
    "status": serializers.ChoiceField(Conversion.Status.choices),
    "occurred_at": _TS(), "created_at": _TS(),
})  # fmt: skip
RewardItem = _shape("Reward", {
    "id": serializers.IntegerField(), "advocate_id": serializers.IntegerField(),
    "recipient": serializers.ChoiceField(Reward.Recipient.choices),
    "friend_email": StringField(allow_null=True),
    "kind": serializers.ChoiceField(Reward.Kind.choices),
    "amount": StringField(), "reversed": StringField(),
    "currency": StringField(),
    "status": serializers.ChoiceField([*Reward.Status.values, AWAITING_APPROVAL]),
    "reason": StringField(), "order_id": StringField(allow_null=True),
    "coupon_code": StringField(allow_null=True),
    "available_at": _TS(allow_null=True), "approved_at": _TS(allow_null=True),
    "created_at": _TS(),
})  # fmt: skip


# --------------------------------------------------------------------- views


class _ListMixin:
    """Rows of the key's program only; the list needs the secret key."""

    pagination_class = Cursor
    filter_backends = [DjangoFilterBackend]
    item = None

    def get_permissions(self):
        if self.request.method == "GET":
            return [HasSecretKey()]
        return super().get_permissions()

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())  # a bad filter: 400
        advocate_id = request.query_params.get("advocate_id")
        if advocate_id:  # digits only, by now
            # Another program's advocate is not found, as on GET /advocates/<id>.
            advocate_get(program=request.program, advocate_id=int(advocate_id))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([type(self).item(row) for row in page])


@extend_schema_view(get=extend_schema(responses={200: AdvocateItem}, summary="List advocates"))
class AdvocateCollectionApi(_ListMixin, ListAPIView, AdvocateCreateApi):
    """``POST`` enrolls an advocate; ``GET`` lists them."""

    queryset = Advocate.objects.none()  # the model, for the schema
    filterset_class = AdvocateFilters
    item = staticmethod(advocate_item)

    def get_queryset(self):
        links = ReferralLink.objects.filter(is_active=True).order_by("created_at", "pk")
        return Advocate.objects.filter(program=self.request.program).prefetch_related(
            Prefetch("links", queryset=links, to_attr="active_links")
        )


@extend_schema_view(get=extend_schema(responses={200: ReferralItem}, summary="List referrals"))
class ReferralCollectionApi(_ListMixin, ListAPIView, ReferralCreateApi):
    """``POST`` records a referred friend (secret or publishable key); ``GET`` lists them."""

    permission_classes = [HasAnyKey]
    queryset = Referral.objects.none()  # the model, for the schema
    filterset_class = ReferralFilters
    item = staticmethod(referral_item)

    def get_queryset(self):
        return Referral.objects.filter(program=self.request.program)


@extend_schema_view(get=extend_schema(responses={200: ConversionItem}, summary="List conversions"))
class ConversionCollectionApi(_ListMixin, ListAPIView, ConversionCreateApi):
    """``POST`` records a purchase; ``GET`` lists them."""

    queryset = Conversion.objects.none()  # the model, for the schema
    filterset_class = ConversionFilters
    item = staticmethod(conversion_item)

    def get_queryset(self):
        return Conversion.objects.filter(program=self.request.program)


@extend_schema_view(get=extend_schema(responses={200: RewardItem}, summary="List rewards"))
class RewardListApi(_ListMixin, ListAPIView):
    queryset = Reward.objects.none()  # the model, for the schema
    filterset_class = RewardFilters
    item = staticmethod(reward_item)

    def get_queryset(self):
        return Reward.objects.filter(program=self.request.program).select_related(
            "referral", "conversion"
        )

"""Inputs of the recruitment API (shapes fixed in the contract)."""

from rest_framework import serializers

from core.api_fields import (
    OCCURRED_WINDOW,
    AmountField,
    CurrencyField,
    StringField,
    amount_per_currency,
    occurred_in_window,
)
from core.api_parsers import unstorable
from core.money import MoneyError, to_minor

MAX_ROWS = 1000
MAX_CAMPAIGN_CUSTOMERS = 100_000


class CustomerRowInput(serializers.Serializer):
    external_id = StringField(max_length=120)
    email = serializers.EmailField(max_length=254)
    name = StringField(max_length=120, required=False, allow_blank=True)
    locale = StringField(max_length=10, required=False, allow_blank=True)
    marketing_consent = serializers.BooleanField(required=False)
    reviews = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    review_rating = serializers.IntegerField(
        min_value=1, max_value=5, required=False, allow_null=True
    )
    social_engagement = serializers.IntegerField(
        min_value=0, max_value=1_000_000_000, required=False
    )
    attributes = serializers.DictField(required=False)

    def validate_external_id(self, value):
        if "\x00" in value:
            raise serializers.ValidationError("No NUL characters.")
        return value

    def validate_attributes(self, value):
        if unstorable(value):
            raise serializers.ValidationError("No NUL characters.")
        return value


class RowsInput(serializers.Serializer):
    """A list of 1 to 1,000 rows, each checked on its own by the view."""

    def __init__(self, *args, key: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[key] = serializers.ListField(
            child=serializers.JSONField(allow_null=True), min_length=1, max_length=MAX_ROWS
        )


class CustomerRefInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    external_id = StringField(max_length=120, required=False, allow_null=True)


class ConversionRowInput(serializers.Serializer):
    """One order, as ``POST /api/v1/conversions`` takes it."""

    order_id = StringField(max_length=120)
    amount = AmountField()
    currency = CurrencyField()
    customer = CustomerRefInput(required=False)
    referral_code = StringField(max_length=32, required=False, allow_null=True)
    click_id = serializers.UUIDField(required=False, allow_null=True)
    coupon_code = StringField(max_length=40, required=False, allow_null=True)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)

    openapi_extra = amount_per_currency()

    def __init__(self, *args, backfill: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.backfill = backfill

    def validate_occurred_at(self, value):
        # A bad row is reported with the others (the 422 of POST /conversions is for
        # the whole request).
        if not occurred_in_window(value):
            raise serializers.ValidationError(f"The order date must be {OCCURRED_WINDOW}.")
        return value

    def validate(self, attrs):
        if self.backfill and not attrs.get("occurred_at"):
            raise serializers.ValidationError(
                {"occurred_at": ["Required for backfilled orders (history)."]}
            )
        try:
            attrs["amount_minor"] = to_minor(attrs.pop("amount"), attrs["currency"])
        except MoneyError as exc:
            raise serializers.ValidationError({"amount": [str(exc)]}) from exc
        if attrs["amount_minor"] <= 0:
            raise serializers.ValidationError({"amount": ["The amount must be positive."]})
        return attrs


class CustomerRequiredInput(CustomerRefInput):
    """A customer named by a non-empty email or an external id (not null): the schema
    says so here, ``NpsInput.validate_customer`` checks it (the error names ``customer``)."""

    openapi_extra = {
        "anyOf": [
            {"required": ["email"], "properties": {"email": {"minLength": 1}}},
            {"required": ["external_id"], "properties": {"external_id": {"type": "string"}}},
        ]
    }


class NpsInput(serializers.Serializer):
    customer = CustomerRequiredInput()
    score = serializers.IntegerField(min_value=0, max_value=10)
    comment = StringField(max_length=5000, required=False, allow_blank=True, default="")
    # Outside the window: 422 (core.api_fields.refuse_occurred_outside_window).
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_customer(self, value):
        if not value.get("email") and not value.get("external_id"):
            raise serializers.ValidationError("Give the customer's external_id or email.")
        return value


class CampaignInput(serializers.Serializer):
    name = StringField(max_length=120)
    customers = serializers.ListField(
        child=StringField(max_length=120),
        required=False,
        min_length=1,
        max_length=MAX_CAMPAIGN_CUSTOMERS,
    )
    segment = serializers.SlugField(max_length=60, required=False)
    send_at = serializers.DateTimeField(required=False, allow_null=True)
    reminders = serializers.IntegerField(min_value=0, max_value=5, required=False, default=1)
    reminder_after_days = serializers.IntegerField(
        min_value=1, max_value=60, required=False, default=3
    )

    openapi_extra = {"oneOf": [{"required": ["customers"]}, {"required": ["segment"]}]}

    def validate(self, attrs):
        if ("customers" in attrs) == ("segment" in attrs):
            raise serializers.ValidationError("Give either customers or segment.")
        return attrs


# The bulk envelopes as the OpenAPI schema shows them (rows are checked one by one).
class CustomerBulkInput(serializers.Serializer):
    customers = CustomerRowInput(many=True)


class ConversionBulkInput(serializers.Serializer):
    conversions = ConversionRowInput(many=True)
    backfill = serializers.BooleanField(required=False, default=False)


class BounceEventInput(serializers.Serializer):
    """One bounce or complaint: the address, or the ``recipient`` token of the message
    (the ``X-Recruitment-Recipient`` header of every invitation)."""

    type = serializers.ChoiceField(choices=["bounce", "complaint"])
    bounce_type = serializers.ChoiceField(choices=["hard", "soft"], default="hard")
    email = serializers.EmailField(required=False)
    recipient = StringField(required=False, max_length=500)
    reason = StringField(required=False, allow_blank=True, max_length=250)

    openapi_extra = {"anyOf": [{"required": ["email"]}, {"required": ["recipient"]}]}

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("recipient"):
            raise serializers.ValidationError({"email": ["Give the email or the recipient."]})
        return attrs


class BounceWebhookInput(serializers.Serializer):
    events = BounceEventInput(many=True)

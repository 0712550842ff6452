"""The REST API's inputs and payloads (shapes fixed in the contract)."""

from rest_framework import serializers

from core.api_fields import AmountField, CurrencyField, StringField, amount_per_currency
from core.money import MoneyError, to_decimal_string, to_minor
from referrals.services import referral_url
from rewards import ledger
from rewards.selectors import AWAITING_APPROVAL, conversion_rewards, reward_status


class FriendInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    external_id = StringField(max_length=120, required=False, allow_null=True)
    name = StringField(max_length=120, required=False, allow_blank=True, default="")

    # The schema: a non-empty email, or an external id (not null).
    openapi_extra = {
        "anyOf": [
            {"required": ["email"], "properties": {"email": {"minLength": 1}}},
            {"required": ["external_id"], "properties": {"external_id": {"type": "string"}}},
        ]
    }

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("external_id"):
            raise serializers.ValidationError("Give the friend's email or external_id.")
        return attrs


class ReferralCreateInput(serializers.Serializer):
    referral_code = StringField(max_length=32, required=False, allow_null=True)
    click_id = serializers.UUIDField(required=False, allow_null=True)
    placement = StringField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="Where the friend found the advocate when there is no click: name_lookup "
        "(picked by name at checkout) or your own; a click's placement wins.",
    )
    friend = FriendInput()

    openapi_extra = {
        "anyOf": [
            {"required": ["referral_code"], "properties": {"referral_code": {"type": "string"}}},
            {"required": ["click_id"], "properties": {"click_id": {"type": "string"}}},
        ]
    }

    def validate(self, attrs):
        if not attrs.get("referral_code") and not attrs.get("click_id"):
            raise serializers.ValidationError("Give referral_code or click_id.")
        return attrs


class CustomerInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    external_id = StringField(max_length=120, required=False, allow_null=True)


class ConversionCreateInput(serializers.Serializer):
    order_id = StringField(max_length=120)
    amount = AmountField()
    currency = CurrencyField()
    customer = CustomerInput(required=False)
    referral_code = StringField(max_length=32, required=False, allow_null=True)
    click_id = serializers.UUIDField(required=False, allow_null=True)
    coupon_code = StringField(max_length=40, required=False, allow_null=True)
    placement = StringField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="name_lookup when the buyer picked the advocate by name at checkout "
        "(Advocacy.lookup fills referral_placement); the attribution method is then "
        "name_lookup. A click's placement wins.",
    )
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)

    openapi_extra = amount_per_currency()

    def validate(self, attrs):
        try:
            attrs["amount_minor"] = to_minor(attrs.pop("amount"), attrs["currency"])
        except MoneyError as exc:
            raise serializers.ValidationError({"amount": [str(exc)]}) from exc
        if attrs["amount_minor"] <= 0:
            raise serializers.ValidationError({"amount": ["The amount must be positive."]})
        return attrs


class RefundCreateInput(serializers.Serializer):
    # Checked against the order's currency once the order is found.
    amount = AmountField(required=False, allow_null=True)


def money(amount_minor: int, currency: str) -> str:
    return to_decimal_string(amount_minor, currency)


def reward_payload(reward) -> dict:
    status = reward_status(reward)
    return {
        "id": reward.pk,
        "recipient": reward.recipient,
        "kind": reward.kind,
        "amount": money(reward.amount_minor, reward.currency),
        "reversed": money(reward.reversed_minor, reward.currency),
        "currency": reward.currency,
        "status": status,
        "reason": reward.reason,
        # Awaiting a manager's approval: no date until approved.
        "available_at": None if status == AWAITING_APPROVAL else reward.available_at.isoformat(),
    }


def conversion_payload(conversion) -> dict:
    body = {
        "id": conversion.pk,
        "order_id": conversion.order_id,
        "amount": money(conversion.amount_minor, conversion.currency),
        "refunded": money(conversion.refunded_minor, conversion.currency),
        "currency": conversion.currency,
        "attributed": conversion.attributed,
        "attribution": {
            "method": conversion.attribution_method,
            "reason": conversion.attribution_reason,
            "placement": conversion.referral.placement if conversion.referral_id else "",
        },
        "rewards": [reward_payload(r) for r in conversion_rewards(conversion=conversion)],
        "status": conversion.status,
    }
    if conversion.attributed:
        body["advocate_id"] = conversion.advocate_id
        body["referral_id"] = conversion.referral_id
    return body


def referral_payload(referral, friend_reward: dict | None) -> dict:
    body = {
        "id": referral.pk,
        "status": referral.status,
        "advocate_id": referral.advocate_id,
    }
    if referral.rejection_reason:
        body["reason"] = referral.rejection_reason
    if friend_reward:
        body["friend_reward"] = friend_reward
    return body


class AdvocateCreateInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = StringField(max_length=120, required=False, allow_blank=True, default="")
    external_id = StringField(max_length=120, required=False, allow_null=True)
    locale = StringField(max_length=10, required=False, allow_blank=True, default="")


class AdvocateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = StringField()
    external_id = StringField(allow_null=True)
    status = StringField()
    referral_code = StringField()
    referral_url = serializers.URLField()
    coupon_code = StringField(allow_null=True)


def advocate_payload(advocate, link) -> dict:
    return {
        "id": advocate.pk,
        "email": advocate.email,
        "name": advocate.name,
        "external_id": advocate.external_id,
        "status": advocate.status,
        "referral_code": link.code,
        "referral_url": referral_url(link.code),
        "coupon_code": advocate.coupon_code,
    }


def advocate_detail_payload(advocate, link, stats: dict) -> dict:
    raw = ledger.balances(advocate=advocate)
    return {
        **advocate_payload(advocate, link),
        "stats": stats,
        "balances": {
            "cash": {
                cur: {bucket: to_decimal_string(v, cur) for bucket, v in buckets.items()}
                for cur, buckets in raw["cash"].items()
            },
            "points": raw["points"],
        },
    }

from rest_framework import serializers

from advocacy.money import to_decimal_string
from rewards.selectors import balances

from .models import Advocate


class AdvocateCreateInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=120, required=False, allow_null=True)
    locale = serializers.CharField(max_length=10, required=False, allow_blank=True, default="")


class AdvocateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    referral_code = serializers.CharField()
    referral_url = serializers.URLField()
    coupon_code = serializers.CharField(allow_null=True)


def advocate_payload(advocate: Advocate, link) -> dict:
    from .services import referral_url

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


def advocate_detail_payload(advocate: Advocate, link, stats: dict) -> dict:
    raw = balances(advocate=advocate)
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

"""A manager's actions through the API (secret key): approve or void a reward, and set who
referred an order. Each is safe to repeat."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_fields import StringField
from core.errors import Conflict, NotFound
from referrals import selectors as referral_selectors
from rewards import flows, services
from rewards.models import Reward
from rewards.selectors import AWAITING_APPROVAL, reward_status

from .api_lists import RewardItem, reward_item
from .serializers import conversion_payload

ERROR = OpenApiResponse(description='`{"error": {"code", "message", "fields"?}}`')


def _reward(request, reward_id) -> Reward:
    """The reward with this id in the key's program; another program's is not found."""
    reward = (
        Reward.objects.filter(program=request.program, pk=reward_id)
        .select_related("referral", "conversion")
        .first()
    )
    if reward is None:
        raise NotFound("reward_not_found", "No reward with this id in this program.")
    return reward


class ReasonInput(serializers.Serializer):
    reason = StringField(max_length=200)


class AttributionInput(serializers.Serializer):
    advocate_id = serializers.IntegerField(required=False, min_value=1)
    referral_code = StringField(max_length=32, required=False)
    reason = StringField(max_length=200)

    openapi_extra = {"oneOf": [{"required": ["advocate_id"]}, {"required": ["referral_code"]}]}

    def validate(self, attrs):
        if bool(attrs.get("advocate_id")) == bool(attrs.get("referral_code")):
            raise serializers.ValidationError("Give advocate_id or referral_code (one of them).")
        return attrs


class RewardApproveApi(APIView):
    """Approve a reward awaiting approval; it matures after its hold period."""

    @extend_schema(request=None, responses={200: RewardItem, 404: ERROR, 409: ERROR})
    def post(self, request, reward_id: int):
        reward = _reward(request, reward_id)
        if reward_status(reward) != AWAITING_APPROVAL and reward.approved_at is None:
            raise Conflict("not_awaiting_approval", f"Reward {reward.pk} is {reward.status}.")
        services.reward_approve(reward_id=reward.pk)
        reward.refresh_from_db()
        return Response(reward_item(reward))


class RewardVoidApi(APIView):
    """Void a reward with a reason: what is left of it is reversed through the ledger (a paid
    reward is clawed back from the advocate's future rewards)."""

    @extend_schema(request=ReasonInput, responses={200: RewardItem, 400: ERROR, 404: ERROR})
    def post(self, request, reward_id: int):
        reward = _reward(request, reward_id)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.reward_void(reward_id=reward.pk, reason=data.validated_data["reason"])
        reward.refresh_from_db()
        return Response(reward_item(reward))


class ConversionAttributionApi(APIView):
    """A manager's override: the order counts as referred by this advocate. Its rewards
    are reversed and the rules run again as if it had been attributed so (audited)."""

    @extend_schema(
        request=AttributionInput,
        responses={200: OpenApiResponse(description="The conversion, as POST /conversions "
                                        "answers it, with its rewards."),
                   400: ERROR, 404: ERROR, 422: ERROR},
    )  # fmt: skip
    def post(self, request, order_id: str):
        data = AttributionInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        conversion = referral_selectors.conversion_for_order(
            program=request.program, order_id=order_id
        )
        conversion, _ = flows.conversion_reattribute(
            program=request.program,
            order_id=conversion.order_id,
            advocate_id=v.get("advocate_id"),
            referral_code=v.get("referral_code"),
            reason=v["reason"],
        )
        return Response(conversion_payload(conversion))

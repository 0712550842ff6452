"""``POST /api/v1/placement-events``: an impression or a share at a placement.

Called by the widget's and the prompt's share buttons with the event token the
page was rendered with (no key: a simple, beacon-able request), or by a
merchant's own buttons with the publishable key and a placement of their own.
"""

import hashlib

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from advocacy.api_auth import ApiKeyAuthentication
from advocacy.models import Program
from core.api_fields import StringField
from core.api_parsers import SafeJSONParser
from core.errors import ServiceError

from . import services
from .api import _check_browser_origin
from .models import PlacementEvent
from .ratelimit import RateLimited, client_ip, rate_limit_hit, rate_limited_response
from .signing import event_token_read, viewer_for_visitor

EVENTS_PER_MINUTE = 60  # per viewer (or browser address) and program


class TextJSONParser(SafeJSONParser):
    """JSON sent as text/plain: what navigator.sendBeacon and no-preflight fetches send."""

    media_type = "text/plain"


class PlacementEventInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PlacementEvent.Kind.values)
    placement = StringField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="With a key: where it happened (a known placement or your own). "
        "With a token: ignored, the token's placement counts.",
    )
    channel = StringField(
        max_length=30, required=False, allow_blank=True, help_text="A share's channel."
    )
    token = StringField(
        max_length=2000, required=False, help_text="The event token of the widget or prompt."
    )
    visitor = StringField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="With a key: the browser's own random id, so unique impressions count people.",
    )


class PlacementEventApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [AllowAny]
    parser_classes = [SafeJSONParser, TextJSONParser]

    @extend_schema(
        request=PlacementEventInput,
        responses={
            204: OpenApiResponse(description="Recorded (or dropped: unusable placement)."),
            429: OpenApiResponse(description="Too many events; see Retry-After."),
        },
        description="Record an impression or a share at a placement. Authenticated by the "
        "event token the widget or prompt was rendered with, or by a publishable key.",
    )
    def post(self, request):
        data = PlacementEventInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v.get("token"):
            payload = event_token_read(v["token"])
            program = payload and Program.objects.filter(pk=payload["p"]).first()
            if not program:
                raise ServiceError("invalid_token", "The event token is not valid.", status=403)
            placement, viewer, advocate_id = payload["pl"], payload["v"], payload["a"]
        elif request.auth is not None:
            _check_browser_origin(request)
            program, advocate_id = request.program, None
            placement = v.get("placement", "")
            visitor = (
                v.get("visitor")
                or hashlib.sha256(
                    f"{client_ip(request)}|{request.headers.get('User-Agent', '')}".encode()
                ).hexdigest()
            )
            viewer = viewer_for_visitor(program=program, visitor=visitor)
        else:
            raise ServiceError(
                "missing_api_key", "Send an event token or a publishable key.", status=401
            )
        try:
            rate_limit_hit(
                scope="event", key=f"{program.pk}:{viewer}", limit=EVENTS_PER_MINUTE,
                window_seconds=60,
            )  # fmt: skip
        except RateLimited as exc:
            return rate_limited_response(exc)
        services.placement_event_record(
            program=program,
            kind=v["kind"],
            placement=placement,
            viewer=viewer,
            advocate_id=advocate_id,
            channel=v.get("channel", ""),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

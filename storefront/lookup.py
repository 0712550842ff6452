"""``POST /api/v1/advocate-lookup``: "Referred by a friend?" at checkout (``Advocacy.lookup``).

The friend types at least three characters of an advocate's name (or their whole
email) and gets privacy-safe matches among this program's advocates who agreed to
be findable: first name, last initial, a city if they allow it, and the code the
checkout's ``referral_code`` input takes. No email is ever returned. Rate-limited
per browser address and program; a 429 carries ``Retry-After``.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from advocacy.api_auth import HasAnyKey
from core.api_fields import StringField

from . import selectors
from .api import _check_browser_origin
from .ratelimit import RateLimited, client_ip, rate_limit_hit, rate_limited_response

LOOKUPS_PER_MINUTE = 20


class LookupInput(serializers.Serializer):
    q = StringField(min_length=selectors.LOOKUP_MIN_CHARS, max_length=100)


LookupOutput = inline_serializer(
    "AdvocateLookup",
    {
        "results": inline_serializer(
            "AdvocateLookupMatch",
            {
                "name": StringField(help_text="First name and last initial."),
                "city": StringField(help_text="Empty unless the advocate allows it."),
                "referral_code": StringField(),
            },
            many=True,
        )
    },
)


class AdvocateLookupApi(APIView):
    permission_classes = [HasAnyKey]

    @extend_schema(
        request=LookupInput,
        responses={
            200: LookupOutput,
            429: OpenApiResponse(description="Too many lookups; see Retry-After."),
        },
        description="Findable advocates of this program matching a name (≥ 3 characters) "
        "or an exact email. Publishable key; never returns an email.",
    )
    def post(self, request):
        _check_browser_origin(request)
        try:
            rate_limit_hit(
                scope="lookup",
                key=f"{request.program.pk}:{client_ip(request)}",
                limit=LOOKUPS_PER_MINUTE,
                window_seconds=60,
            )
        except RateLimited as exc:
            return rate_limited_response(exc)
        data = LookupInput(data=request.data)
        data.is_valid(raise_exception=True)
        results = selectors.lookup_matches(program=request.program, query=data.validated_data["q"])
        response = Response({"results": results})
        response["Cache-Control"] = "no-store"
        return response

"""The public testimonials API: what the merchant's site may show (publishable key)."""

from urllib.parse import urlsplit

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from advocacy.api_auth import HasAnyKey
from advocacy.models import ApiKey
from core.api_fields import StringField
from core.errors import ServiceError

from . import selectors

MAX_LIMIT = 50


class TestimonialOutput(serializers.Serializer):
    id = serializers.IntegerField()
    text = StringField()
    rating = serializers.IntegerField()
    author = StringField()
    featured = serializers.BooleanField()
    photo_url = StringField(allow_null=True)
    created_at = serializers.DateTimeField()


def testimonial_payload(request, t) -> dict:
    photo = (
        request.build_absolute_uri(reverse("nurture:testimonial-photo", args=[t.pk]))
        if t.photo_id
        else None
    )
    return {
        "id": t.pk,
        "text": t.text,
        "rating": t.rating,
        "author": selectors.testimonial_author(t),
        "featured": t.featured,
        "photo_url": photo,
        "created_at": t.created_at.isoformat(),
    }


FEATURED = {"1": True, "true": True, "0": False, "false": False}


class TestimonialListApi(APIView):
    """Approved testimonials whose authors agreed to publishing, featured first."""

    permission_classes = [HasAnyKey]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "featured", str, enum=list(FEATURED), description="Only featured ones (1 or true)."
            ),
            OpenApiParameter("limit", int, description=f"At most {MAX_LIMIT} (default 20)."),
        ],
        responses={
            200: inline_serializer("TestimonialList", {"results": TestimonialOutput(many=True)})
        },
    )
    def get(self, request):
        _check_browser_origin(request)
        try:
            (raw,) = request.query_params.getlist("limit") or ["20"]  # once, if at all
            limit = max(1, min(MAX_LIMIT, int(raw)))
        except ValueError:
            raise ServiceError("bad_limit", "limit must be a number.") from None
        try:
            featured = FEATURED[request.query_params.get("featured", "false")]
        except KeyError:
            raise ServiceError("bad_featured", "featured must be 1, 0, true or false.") from None
        rows = selectors.public_testimonials(
            program=request.program, featured_only=featured, limit=limit
        )
        response = Response({"results": [testimonial_payload(request, t) for t in rows]})
        origin = getattr(request._request, "cors_allowed_origin", None)
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            response["Vary"] = "Origin"
        return response


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

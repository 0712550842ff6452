"""The post-purchase share prompt's API: ``Advocacy.postPurchase({token})`` calls these.

``POST /api/v1/post-purchase`` decides whether to show the prompt to the buyer the
merchant's server signed (at most once per buyer per ``prompt_every_days``) and
answers with its HTML; ``POST /api/v1/post-purchase/enrol`` enrols them in one click
and answers with their link, code, QR code and share buttons. Publishable key.
"""

from django.template.loader import render_to_string
from django.utils import translation
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from advocacy.api_auth import HasAnyKey
from core.api_fields import StringField
from core.errors import ServiceError
from referrals.placements import POST_PURCHASE

from . import selectors, services
from .api import _check_browser_origin
from .signing import WidgetSignatureError, event_token


class PromptInput(serializers.Serializer):
    token = StringField(
        max_length=4000,
        help_text="The buyer's identity signed by your server: the widget URL's query "
        "string (email, external_id, name, expires, sig).",
    )
    language = StringField(max_length=20, required=False, allow_blank=True)


class PromptEnrolInput(PromptInput):
    accepted_terms = StringField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text="The program's terms version the buyer accepted (required when it has terms).",
    )
    findable = serializers.BooleanField(
        required=False, default=False, help_text="Friends may find them by name at checkout."
    )


PromptOutput = inline_serializer(
    "PostPurchasePrompt",
    {
        "show": serializers.BooleanField(),
        "html": StringField(required=False),
        "referral_url": serializers.URLField(required=False),
        "referral_code": StringField(required=False),
    },
)


def _language(request, asked: str) -> str:
    try:
        return translation.get_supported_language_variant(asked.replace("_", "-").lower())
    except LookupError:
        return getattr(request, "LANGUAGE_CODE", "en")


def _signed(call):
    try:
        return call()
    except WidgetSignatureError as exc:
        raise ServiceError("invalid_signature", str(exc), status=403) from None


def _body(request, *, program, advocate, viewer: str, language: str) -> dict:
    token = event_token(
        program=program,
        placement=POST_PURCHASE,
        viewer=viewer,
        advocate_id=advocate.pk if advocate else None,
    )
    context = selectors.prompt_context(program=program, advocate=advocate, event_token=token)
    with translation.override(language):
        html = render_to_string("storefront/prompt.html", context)
    body = {"show": True, "html": html}
    if "code" in context:
        body.update(referral_url=context["referral_url"], referral_code=context["code"])
    return body


class PromptOpenApi(APIView):
    permission_classes = [HasAnyKey]

    @extend_schema(
        request=PromptInput,
        responses={200: PromptOutput, 403: OpenApiResponse(description="Bad signature.")},
        description="Whether to show the post-purchase prompt to this buyer now, and its HTML.",
    )
    def post(self, request):
        _check_browser_origin(request)
        data = PromptInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        opening = _signed(lambda: services.prompt_open(program=request.program, token=v["token"]))
        if not opening.show:
            return Response({"show": False})
        return Response(
            _body(
                request,
                program=request.program,
                advocate=opening.advocate,
                viewer=opening.viewer,
                language=_language(request, v.get("language", "")),
            )
        )


class PromptEnrolApi(APIView):
    permission_classes = [HasAnyKey]

    @extend_schema(
        request=PromptEnrolInput,
        responses={200: PromptOutput, 403: OpenApiResponse(description="Bad signature.")},
        description="Enrol the signed buyer with the program's terms; their link to share.",
    )
    def post(self, request):
        _check_browser_origin(request)
        data = PromptEnrolInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        program = request.program
        advocate = _signed(
            lambda: services.prompt_enrol(
                program=program,
                token=v["token"],
                accepted_terms=v["accepted_terms"],
                findable=v["findable"],
            )
        )
        viewer = services.viewer_for_email(program=program, email=advocate.email)
        return Response(
            _body(
                request,
                program=program,
                advocate=advocate,
                viewer=viewer,
                language=_language(request, v.get("language", "")),
            )
        )

"""One error shape for the whole API: ``{"error": {"code", "message", "fields"?}}``."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ServiceError

DRF_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.NotAuthenticated: "missing_api_key",
    exceptions.AuthenticationFailed: "invalid_api_key",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ValidationError: "validation_error",
}


def error_response(code: str, message: str, status_code: int, fields=None) -> Response:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=status_code)


def _flatten(detail) -> dict:
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{key}.{sub}"] = msgs
            else:
                out[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    return {
        "non_field_errors": [str(d) for d in (detail if isinstance(detail, list) else [detail])]
    }


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return error_response(exc.code, exc.message, exc.status_code, exc.fields)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            "payload_too_large", f"The body is larger than {limit} bytes: send less at once.", 413
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "api_code", None) or next(
        (c for t, c in DRF_CODES.items() if isinstance(exc, t)), "error"
    )
    if isinstance(exc, exceptions.ValidationError):
        return error_response(code, "The request has invalid fields.", 400, _flatten(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return error_response(code, f"The body is not valid JSON: {exc.detail}", 400)
    message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    resp = error_response(code, message, response.status_code)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            resp[header] = response[header]
    return resp


@csrf_exempt  # an API client sends no CSRF token: a POST here is a JSON 404, not a 403 page
def api_not_found(request, *args, **kwargs):
    """JSON 404 for any unknown path under /api/v1/."""
    return JsonResponse(
        {"error": {"code": "not_found", "message": f"No API route {request.path!r}."}},
        status=404,
    )

"""CORS for the browser-callable API routes (``POST`` with ``pk_…``: referrals, placement
events, the post-purchase prompt, the advocate lookup).

Preflights are answered for any origin; the real request is allowed only from
the program's own domains (checked in the view, which marks the request), so
only those pages can read the answer.
"""

from django.http import HttpResponse

CORS_PATHS = (
    "/api/v1/referrals",
    "/api/v1/placement-events",
    "/api/v1/post-purchase",
    "/api/v1/post-purchase/enrol",
    "/api/v1/advocate-lookup",
)


class BrowserApiCorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        origin = request.headers.get("Origin")
        if origin and request.path in CORS_PATHS and request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = "POST"
            response["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, Idempotency-Key"
            )
            response["Access-Control-Max-Age"] = "600"
            response["Vary"] = "Origin"
            return response
        response = self.get_response(request)
        if origin and getattr(request, "cors_allowed_origin", None) == origin:
            response["Access-Control-Allow-Origin"] = origin
            response["Vary"] = "Origin"
        return response

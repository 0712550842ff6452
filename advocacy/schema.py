"""OpenAPI description of the API key authentication (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "advocacy.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A program's secret key (sk_…); POST /api/v1/referrals, "
            "/placement-events, /post-purchase(/enrol) and /advocate-lookup also accept the "
            "publishable key (pk_…). A secret key may be limited to scopes (read, "
            "advocates:write, referrals:write, conversions:write, actions; full by default): "
            "a call outside them is 403 scope_missing.",
        }

"""API key authentication: ``Authorization: Bearer sk_…`` (or ``pk_…`` where allowed)."""

from rest_framework import authentication, exceptions, permissions

from .models import ApiKey
from .services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <key>'.")
        key = api_key_authenticate(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        request.program = key.program
        return (None, key)

    def authenticate_header(self, request):
        return self.keyword


class SecretKeyRequired(exceptions.PermissionDenied):
    default_detail = "This endpoint needs a secret key (sk_…); publishable keys are for browsers."
    api_code = "secret_key_required"


class HasSecretKey(permissions.BasePermission):
    def has_permission(self, request, view):
        key = request.auth
        if key is None:
            raise exceptions.NotAuthenticated("Missing API key: send 'Authorization: Bearer sk_…'.")
        if key.kind != ApiKey.Kind.SECRET:
            raise SecretKeyRequired()
        return True


class HasAnyKey(permissions.BasePermission):
    def has_permission(self, request, view):
        if request.auth is None:
            raise exceptions.NotAuthenticated("Missing API key: send 'Authorization: Bearer …'.")
        return True

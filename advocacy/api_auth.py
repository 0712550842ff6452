"""API key authentication: ``Authorization: Bearer sk_…`` (or ``pk_…`` where allowed)."""

from django.conf import settings
from rest_framework import authentication, exceptions, permissions, throttling

from core.rate_limits import client_ip, rate_limit_hit

from .models import ApiKey
from .services import api_key_authenticate


class RateLimited(exceptions.Throttled):
    default_detail = "Too many requests: slow down and retry after the given seconds."
    api_code = "rate_limited"


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
            # Guessing keys from one address is cut short (a key has 32 random bytes,
            # so this bounds the database work of a flood, not the odds of a guess).
            usage = rate_limit_hit(
                request,
                group="api-bad-key",
                key=client_ip(request),
                rate=settings.API_RATE_LIMITS["invalid_key"],
            )
            if usage.limited:
                raise RateLimited(wait=usage.retry_after)
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        request.program = key.program
        return (None, key)

    def authenticate_header(self, request):
        return self.keyword


class SecretKeyRequired(exceptions.PermissionDenied):
    default_detail = "This endpoint needs a secret key (sk_…); publishable keys are for browsers."
    api_code = "secret_key_required"


class ScopeMissing(exceptions.PermissionDenied):
    api_code = "scope_missing"


def required_scope(request, view) -> str:
    """The scope a request needs: ``read`` for GET/HEAD/OPTIONS; else the view's
    ``api_scope`` (e.g. ``conversions:write``), ``actions`` when it names none."""
    if request.method in permissions.SAFE_METHODS:
        return ApiKey.Scope.READ.value
    return str(getattr(view, "api_scope", ApiKey.Scope.ACTIONS.value))


def _check_scope(request, view) -> None:
    key = request.auth
    scope = str(required_scope(request, view))
    if not key.allows(scope):
        raise ScopeMissing(
            f"This key's scopes ({', '.join(key.scopes)}) do not include '{scope}', which "
            "this request needs. A manager can widen them in the admin (API keys)."
        )


class HasSecretKey(permissions.BasePermission):
    def has_permission(self, request, view):
        key = request.auth
        if key is None:
            raise exceptions.NotAuthenticated("Missing API key: send 'Authorization: Bearer sk_…'.")
        if key.kind != ApiKey.Kind.SECRET:
            raise SecretKeyRequired()
        _check_scope(request, view)
        return True


class HasAnyKey(permissions.BasePermission):
    def has_permission(self, request, view):
        if request.auth is None:
            raise exceptions.NotAuthenticated("Missing API key: send 'Authorization: Bearer …'.")
        _check_scope(request, view)  # publishable keys pass: their endpoints are built for them
        return True


class ApiKeyRateThrottle(throttling.BaseThrottle):
    """Requests per API key: a secret key (one merchant's servers) as a whole; a
    publishable key per client address (it is public, so one abuser must not use
    up the shop's quota) and under a ceiling for the program; no key per address.
    Rates: ``API_RATE_LIMITS``."""

    def allow_request(self, request, view):
        key = request.auth
        ip = client_ip(request)
        if key is None:
            scope, ident = "anonymous", ip
        elif key.kind == ApiKey.Kind.SECRET:
            scope, ident = "secret", str(key.pk)
        else:
            scope, ident = "publishable", f"{key.pk}:{ip}"
            # Also a ceiling for the whole program, which many addresses share.
            total = rate_limit_hit(
                request,
                group="api-publishable-total",
                key=str(key.pk),
                rate=settings.API_RATE_LIMITS["publishable_total"],
            )
            if total.limited:
                self._wait = total.retry_after
                return False
        usage = rate_limit_hit(
            request, group=f"api-{scope}", key=ident, rate=settings.API_RATE_LIMITS[scope]
        )
        self._wait = usage.retry_after
        return not usage.limited

    def wait(self):
        return self._wait

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from advocacy import api as advocacy_api
from advocacy.api_errors import api_not_found
from advocacy.views import healthz, set_language
from referrals import api as referrals_api
from referrals.views import referral_redirect
from rewards.views import stripe_webhook

api_v1 = [
    path("advocates", advocacy_api.AdvocateCreateApi.as_view(), name="advocate-create"),
    path(
        "advocates/<str:advocate_id>",
        advocacy_api.AdvocateDetailApi.as_view(),
        name="advocate-detail",
    ),
    path("referrals", referrals_api.ReferralCreateApi.as_view(), name="referral-create"),
    path("conversions", referrals_api.ConversionCreateApi.as_view(), name="conversion-create"),
    path(
        "conversions/<path:order_id>/refunds",
        referrals_api.RefundCreateApi.as_view(),
        name="refund-create",
    ),
    re_path(r"^.*$", api_not_found),
]

urlpatterns = [
    path("r/<str:code>", referral_redirect, name="referral-redirect"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("webhooks/stripe/<slug:program>/", stripe_webhook, name="stripe-webhook"),
    path("healthz", healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("", include("storefront.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("privacy.urls")),
    path("", include("advocacy.urls")),
]

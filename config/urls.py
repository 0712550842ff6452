from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.api_errors import api_not_found
from core.views import healthz
from integrations.views import stripe_webhook
from measurement.views import admin_index
from portal.views import set_language
from referrals.views import referral_redirect
from storefront import api, api_actions, api_lists

api_v1 = [
    path("advocates", api_lists.AdvocateCollectionApi.as_view(), name="advocate-create"),
    path(
        "advocates/<str:advocate_id>",
        api.AdvocateDetailApi.as_view(),
        name="advocate-detail",
    ),
    path("referrals", api_lists.ReferralCollectionApi.as_view(), name="referral-create"),
    path("conversions", api_lists.ConversionCollectionApi.as_view(), name="conversion-create"),
    path(
        "conversions/<path:order_id>/attribution",
        api_actions.ConversionAttributionApi.as_view(),
        name="conversion-attribution",
    ),
    path("rewards", api_lists.RewardListApi.as_view(), name="reward-list"),
    path(
        "rewards/<int:reward_id>/approve",
        api_actions.RewardApproveApi.as_view(),
        name="reward-approve",
    ),
    path("rewards/<int:reward_id>/void", api_actions.RewardVoidApi.as_view(), name="reward-void"),
    path(
        "conversions/<path:order_id>/refunds",
        api.RefundCreateApi.as_view(),
        name="refund-create",
    ),
    path("", include("storefront.placement_urls")),
    path("", include("recruitment.api_urls")),
    path("", include("nurture.api_urls")),
    path("", include("measurement.api_urls")),
    re_path(r"^.*$", api_not_found),
]

# The admin signs in through allauth: one sign-in page, its limits and its second
# factor (core/staff_mfa.py) for managers too.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("r/<str:code>", referral_redirect, name="referral-redirect"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's setup as a script file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("webhooks/stripe/<slug:program>/", stripe_webhook, name="stripe-webhook"),
    path("healthz", healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    # The admin's front page is the manager's dashboard (measurement); the rest is stock.
    path("admin/", admin.site.admin_view(admin_index), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("", include("storefront.urls")),
    path("", include("recruitment.urls")),
    path("", include("nurture.urls")),
    path("", include("measurement.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("privacy.urls")),
    path("", include("portal.urls")),
]

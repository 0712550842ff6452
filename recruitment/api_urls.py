"""JSON API routes of this app, mounted under /api/v1/ by config.urls."""

from django.urls import path

from . import api

urlpatterns: list = [
    path("customers/bulk", api.CustomerBulkApi.as_view(), name="customer-bulk"),
    path("customers/<str:external_id>", api.CustomerDetailApi.as_view(), name="customer-detail"),
    path("conversions/bulk", api.ConversionBulkApi.as_view(), name="conversion-bulk"),
    path("nps", api.NpsCreateApi.as_view(), name="nps-create"),
    path("campaigns", api.CampaignCreateApi.as_view(), name="campaign-create"),
    path("campaigns/<int:campaign_id>", api.CampaignDetailApi.as_view(), name="campaign-detail"),
]

"""Page routes of this app, mounted at / by config.urls."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns: list = [
    path(
        "measurement/dashboard/<str:table>.csv",
        admin.site.admin_view(views.dashboard_csv),
        name="measurement-dashboard-csv",
    ),
    path(
        "measurement/dashboard/segment/<str:kind>",
        admin.site.admin_view(views.risk_segment),
        name="measurement-risk-segment",
    ),
    path(
        "measurement/reports/opt-out/<str:token>",
        views.report_opt_out,
        name="measurement-report-opt-out",
    ),
]

"""The manager's dashboard (the admin's front page) and its CSV downloads."""

import csv

from django.contrib import admin
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from core.errors import ServiceError

from . import daily, dashboard, reports


def _choose(request):
    try:
        return dashboard.choose(request.user, request.GET), None
    except ServiceError as exc:
        # A bad date in the address: show the default period and say why.
        params = request.GET.copy()
        params.pop("from", None)
        params.pop("to", None)
        return dashboard.choose(request.user, params), exc.message


def admin_index(request, extra_context=None):
    with daily.memoized():
        return _admin_index(request, extra_context)


def _admin_index(request, extra_context=None):
    """``/admin/``: the stock admin's app list under the program's dashboard."""
    (programs, program, period, segment), error = _choose(request)
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "subtitle": None,
        "app_list": admin.site.get_app_list(request),
        "programs": programs,
        "program": program,
        "period": period,
        "segment": segment,
        "period_error": error,
        **(extra_context or {}),
    }
    if program is not None:
        data = dashboard.tables(program, period, segment)
        context.update(data)
        context["segments"] = program.segments.all()
        context["chart_data"] = {
            "funnel": data["funnel"],
            "daily": data["daily"],
            "cohorts": data["cohorts"],
            "nps": data["nps_trend"],
            "advocates": data["advocates"],
            "channels": data["channels"],
        }
        context["csv_tables"] = dashboard.CSV_TABLES
        context["query"] = request.GET.urlencode()
    request.current_app = admin.site.name
    return TemplateResponse(request, "measurement/admin_index.html", context)


def dashboard_csv(request, table):
    """One table of the dashboard as CSV, for the same program, period and segment."""
    if table not in dashboard.CSV_TABLES:
        raise Http404
    (_programs, program, period, segment), _error = _choose(request)
    if program is None:
        raise Http404
    with daily.memoized():
        header, rows = dashboard.csv_rows(table, dashboard.tables(program, period, segment))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{program.slug}-{table}-{period.date_from}-{period.date_to}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return response


def report_opt_out(request, token):
    """One click from the weekly report: no more reports of this program to this manager."""
    subscription = reports.report_opt_out(token=token)
    if subscription is None:
        raise Http404
    message = _("You will no longer receive the weekly report of %(program)s.") % {
        "program": subscription.program.name
    }
    return HttpResponse(message, content_type="text/plain; charset=utf-8")

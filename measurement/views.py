"""The manager's dashboard (the admin's front page) and its CSV downloads."""

import csv

from django.contrib import admin, messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from advocacy.admin_scope import managed_programs
from core.errors import ServiceError

from . import daily, dashboard, reports, services


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
        "list_rows": dashboard.LIST_ROWS,
        "programs": programs,
        "program": program,
        "period": period,
        "segment": segment,
        "period_error": error,
        **(extra_context or {}),
    }
    if program is not None:
        data = dashboard.tables(program, period, segment, list_rows=dashboard.LIST_ROWS)
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


@require_POST
def risk_segment(request, kind):
    """Save today's at-risk customers or fading advocates as a recruitment segment."""
    if kind not in services.RISK_LISTS:
        raise Http404
    program = get_object_or_404(
        managed_programs(request.user, "manager"), slug=request.POST.get("program", "")
    )
    segment, matched, left_out = services.risk_segment_save(
        program=program, kind=kind, today=dashboard.today()
    )
    text = _("Segment “%(name)s” saved with %(n)s customers.") % {
        "name": segment.name,
        "n": matched,
    }
    if left_out:
        text += " " + _("%(n)s on the list have no customer profile and were left out.") % {
            "n": left_out
        }
    messages.success(request, text)
    return redirect(reverse("admin:recruitment_segment_change", args=[segment.pk]))


def report_opt_out(request, token):
    """One click from the weekly report: no more reports of this program to this manager."""
    subscription = reports.report_opt_out(token=token)
    if subscription is None:
        raise Http404
    message = _("You will no longer receive the weekly report of %(program)s.") % {
        "program": subscription.program.name
    }
    return HttpResponse(message, content_type="text/plain; charset=utf-8")

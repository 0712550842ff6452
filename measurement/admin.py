"""Goals and report subscriptions in the admin, scoped to the manager's programs."""

from datetime import UTC

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from advocacy.admin_scope import ProgramScopedAdmin, managed_programs
from recruitment.models import Segment

from . import selectors
from .models import Goal, ReportSubscription
from .segments import segment_keys


@admin.register(Goal)
class GoalAdmin(ProgramScopedAdmin):
    list_display = ["name", "program", "metric", "segment", "target", "deadline", "progress"]
    list_filter = ["program", "metric"]
    search_fields = ["name"]
    fields = ["program", "name", "segment", "metric", "target", "starts_on", "deadline"]
    readonly_fields = ["progress"]

    def get_fields(self, request, obj=None):
        return [*self.fields, "progress"] if obj else self.fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "segment":
            kwargs["queryset"] = Segment.objects.filter(
                program__in=managed_programs(request.user, self.write_role)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("Progress"))
    def progress(self, goal):
        if goal.pk is None:
            return "-"
        keys = segment_keys(goal.segment) if goal.segment else None
        p = selectors.goal_progress(
            goal, today=timezone.now().astimezone(UTC).date(), segment_keys=keys
        )
        value = "-" if p.value is None else p.value
        percent = p.percent or 0
        return format_html(
            '<progress max="100" value="{}"></progress> {} / {} ({})',
            f"{percent:.1f}",
            value,
            goal.target,
            p.status,
        )


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(ProgramScopedAdmin):
    list_display = ["program", "user", "weekly_report", "last_sent_week"]
    list_filter = ["program", "weekly_report"]
    fields = ["program", "user", "weekly_report"]
    write_role = "viewer"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = type(request.user).objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

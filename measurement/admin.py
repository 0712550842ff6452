"""Goals and report subscriptions in the admin, scoped to the manager's programs."""

from datetime import UTC

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from advocacy.admin_scope import ProgramScopedAdmin, managed_programs
from recruitment.models import Segment

from . import experiments, selectors
from .models import Experiment, Goal, ReportSubscription, Variant
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
    list_display = ["program", "user", "weekly_report", "language", "last_sent_week"]
    list_filter = ["program", "weekly_report"]
    fields = ["program", "user", "weekly_report", "language"]
    write_role = "viewer"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 2
    fields = ["key", "name", "weight", "config"]


@admin.register(Experiment)
class ExperimentAdmin(ProgramScopedAdmin):
    list_display = ["name", "program", "kind", "subject", "holdout_percent", "status", "winner"]
    list_filter = ["program", "kind", "status"]
    fields = ["program", "name", "kind", "subject", "holdout_percent", "status", "results"]
    readonly_fields = ["results"]
    inlines = [VariantInline]
    actions = ["promote_leader"]

    @admin.display(description=_("Results"))
    def results(self, experiment):
        if experiment.pk is None:
            return "-"
        r = experiments.experiment_results(experiment)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} %</td>"
            "<td>{} - {} %</td><td>{} %</td></tr>",
            (
                (a.name, a.subjects, a.converted, a.rate if a.rate is not None else "-",
                 a.interval[0], a.interval[1], a.p_best)
                for a in r["arms"]
            ),
        )  # fmt: skip
        inc = r["incrementality"]
        verdict = _("Stop: the leader is clear.") if r["stop"] else _("Keep running.")
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>"
            "<p>{} {}: {} % / {} {} %. <strong>{}</strong></p>",
            _("Variant"), _("Subjects"), _("Converted"), _("Rate"), _("Credible interval"),
            _("Probability to be best"), rows, _("Bought themselves"), _("with the program"),
            inc["treated_purchase_rate"], _("holdout"), inc["holdout_purchase_rate"], verdict,
        )  # fmt: skip

    @admin.action(description=_("Promote the leader and stop"), permissions=["act"])
    def promote_leader(self, request, queryset):
        def act(experiment):
            leader = experiments.experiment_results(experiment)["leader"]
            variant = experiment.variants.filter(key=leader).first()
            if variant is None:
                return False
            experiments.experiment_promote(
                experiment=experiment, variant=variant, actor=request.user
            )
            return True

        self.act_on_each(request, queryset, act, _("{} experiments stopped with a winner."))

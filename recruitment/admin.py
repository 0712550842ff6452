"""Recruitment in the admin: customers with their score, segments with a live count,
campaigns with progress and funnel, the NPS follow-up queue, per-program settings.

Every admin is scoped to the manager's programs (``advocacy.admin_scope``).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import slugify

from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin, managed_programs
from advocacy.models import Program
from core.errors import ServiceError
from core.money import to_decimal_string

from . import campaigns, imports, learned, nps, scoring, selectors, services
from .models import (
    AdvocateModel,
    Campaign,
    CampaignRecipient,
    Customer,
    DetractorFollowUp,
    ImportJob,
    InvitationText,
    NpsResponse,
    RecruitmentSettings,
    Segment,
)

YES_NO_ANY = [("", "Any"), ("yes", "Yes"), ("no", "No")]


def _score_bar(score) -> str:
    if score is None:
        return "-"
    return format_html(
        '<span title="{0}/100"><progress value="{0}" max="100" style="width:5em"></progress> '
        "{0}</span>",
        score,
    )


def nps_chart(rows: list[dict]) -> str:
    """NPS per month as a small inline SVG bar chart (no script, no CDN) and a table."""
    width, height, bar = 24 * len(rows), 120, 18
    mid = height / 2
    bars = []
    for i, r in enumerate(rows):
        if r["nps"] is None:
            continue
        h = abs(r["nps"]) * (mid - 4) / 100
        y = mid - h if r["nps"] >= 0 else mid
        color = "#2e7d32" if r["nps"] >= 0 else "#c62828"
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                "<title>{}: NPS {} ({} answers)</title></rect>",
                i * 24 + 3,
                f"{y:.1f}",
                bar,
                f"{max(h, 1):.1f}",
                color,
                r["month"].strftime("%Y-%m"),
                r["nps"],
                r["responses"],
            )
        )
    svg = format_html(
        '<svg class="nps-chart" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="NPS per month"><line x1="0" y1="{}" x2="{}" y2="{}" stroke="#888"/>{}</svg>',
        width, height, width, height, mid, width, mid,
        format_html_join("", "{}", ((b,) for b in bars)),
    )  # fmt: skip
    table = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                r["month"].strftime("%Y-%m"),
                "-" if r["nps"] is None else r["nps"],
                r["responses"],
                r["promoters"],
                r["passives"],
                r["detractors"],
            )
            for r in rows
        ),
    )
    return format_html(
        "<div>{}</div><table><tr><th>Month</th><th>NPS</th><th>Answers</th><th>Promoters</th>"
        "<th>Passives</th><th>Detractors</th></tr>{}</table>",
        svg,
        table,
    )


@admin.register(Customer)
class CustomerAdmin(ProgramScopedAdmin):
    list_display = [
        "external_id",
        "email",
        "name",
        "score_column",
        "order_count",
        "revenue",
        "last_order_at",
        "nps_category",
        "marketing_consent",
        "advocate",
        "program",
    ]
    list_filter = [
        "program",
        "marketing_consent",
        "nps_category",
        ("advocate", admin.EmptyFieldListFilter),
    ]
    search_fields = ["external_id", "email", "name"]
    list_select_related = ["program", "advocate"]
    ordering = ["-score", "pk"]
    raw_id_fields = ["advocate"]
    actions = ["rescore", "send_nps_survey", "invite_to_campaign"]
    readonly_fields = [
        "score_explained",
        "order_count",
        "revenue",
        "first_order_at",
        "last_order_at",
        "nps_score",
        "nps_category",
        "email_normalized",
        "unsubscribed_at",
        "scored_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["program", "external_id", "email", "name", "locale", "advocate"]}),
        ("Advocate score", {"fields": ["score_explained", "scored_at"]}),
        (
            "Signals",
            {
                "fields": [
                    "marketing_consent",
                    "unsubscribed_at",
                    "reviews",
                    "review_rating",
                    "social_engagement",
                    "attributes",
                    "order_count",
                    "revenue",
                    "first_order_at",
                    "last_order_at",
                    "nps_score",
                    "nps_category",
                ]
            },
        ),
        ("Record", {"fields": ["email_normalized", "created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        extra = ["program", "external_id"] if obj else []
        return [*self.readonly_fields, *extra]

    @admin.display(description="Score", ordering="score")
    def score_column(self, obj):
        return _score_bar(obj.score)

    @admin.display(description="Revenue", ordering="revenue_minor")
    def revenue(self, obj):
        return (
            f"{to_decimal_string(obj.revenue_minor, obj.program.currency)} {obj.program.currency}"
        )

    @admin.display(description="Score and its reasons")
    def score_explained(self, obj):
        if obj.score is None:
            return "Not scored yet."
        reasons = format_html_join("", "<tr><td>{}</td></tr>", ((r,) for r in obj.score_reasons))
        return format_html(
            "<div>{} <small>({})</small></div><table>{}</table>",
            _score_bar(obj.score),
            obj.score_model,
            reasons,
        )

    def save_model(self, request, obj, form, change):
        row = {f: getattr(obj, f) for f in services.CUSTOMER_FIELDS}
        row["external_id"] = obj.external_id
        services.customers_upsert(program=obj.program, rows=[(0, row)])
        saved = Customer.objects.get(program=obj.program, external_id=obj.external_id)
        obj.pk = saved.pk
        obj._state.adding = False

    @admin.action(description="Rescore now", permissions=["change"])
    def rescore(self, request, queryset):
        queryset = self.writable(request, queryset)
        done = 0
        for program in Program.objects.filter(pk__in=queryset.values("program_id")):
            ids = list(queryset.filter(program=program).values_list("pk", flat=True))
            for start in range(0, len(ids), 1000):
                done += scoring.customers_rescore(
                    program=program, customer_ids=ids[start : start + 1000]
                )
        self.message_user(request, f"Rescored {done} customer(s).")

    @admin.action(description="Send the NPS survey", permissions=["change"])
    def send_nps_survey(self, request, queryset):
        queryset = self.writable(request, queryset)
        sent = 0
        for program in Program.objects.filter(pk__in=queryset.values("program_id")):
            sent += nps.nps_surveys_create(
                program=program, customers=queryset.filter(program=program)
            )
        self.message_user(
            request, f"NPS survey queued for {sent} customer(s) (consent given, not unsubscribed)."
        )

    @admin.action(description="Invite to a new campaign", permissions=["change"])
    def invite_to_campaign(self, request, queryset):
        queryset = self.writable(request, queryset)
        for program in Program.objects.filter(pk__in=queryset.values("program_id")):
            campaign = campaigns.campaign_create(
                program=program,
                name=f"Invitation of {queryset.filter(program=program).count()} selected customers",
                customers=queryset.filter(program=program),
                actor=request.user,
            )
            url = reverse("admin:recruitment_campaign_change", args=[campaign.pk])
            self.message_user(
                request, format_html('Campaign <a href="{}">{}</a> created.', url, campaign)
            )


# --- segments -----------------------------------------------------------------------


class SegmentForm(forms.ModelForm):
    """The segment's filters as form fields (stored as the JSON ``filters``)."""

    score_min = forms.IntegerField(min_value=0, max_value=100, required=False)
    score_max = forms.IntegerField(min_value=0, max_value=100, required=False)
    nps = forms.MultipleChoiceField(
        label="NPS category",
        choices=[
            ("promoter", "Promoter"),
            ("passive", "Passive"),
            ("detractor", "Detractor"),
            ("none", "No answer"),
        ],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    orders_min = forms.IntegerField(min_value=0, required=False)
    orders_max = forms.IntegerField(min_value=0, required=False)
    revenue_min = forms.DecimalField(
        min_value=0, decimal_places=2, required=False, help_text="In the program's currency."
    )
    revenue_max = forms.DecimalField(min_value=0, decimal_places=2, required=False)
    last_order_within_days = forms.IntegerField(
        min_value=0, required=False, help_text="Ordered in the last N days."
    )
    last_order_before_days = forms.IntegerField(
        min_value=0, required=False, help_text="No order in the last N days (lapsed)."
    )
    marketing_consent = forms.ChoiceField(choices=YES_NO_ANY, required=False)
    advocate = forms.ChoiceField(label="Already an advocate", choices=YES_NO_ANY, required=False)
    locale = forms.CharField(
        required=False, help_text="Language codes, comma-separated (en, nb, sv, ro, zh-hans)."
    )
    email_domain = forms.CharField(required=False)

    FILTER_FIELDS = [
        "score_min", "score_max", "nps", "orders_min", "orders_max", "revenue_min", "revenue_max",
        "last_order_within_days", "last_order_before_days", "marketing_consent", "advocate",
        "locale", "email_domain",
    ]  # fmt: skip

    class Meta:
        model = Segment
        fields = ["program", "name", "slug"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        f = self.instance.filters or {}
        for key in self.FILTER_FIELDS:
            value = f.get(key)
            if key in ("marketing_consent", "advocate") and value is not None:
                value = "yes" if value else "no"
            elif key == "locale" and value:
                value = ", ".join(value)
            self.fields[key].initial = value

    def clean(self):
        data = super().clean()
        filters = {}
        for key in self.FILTER_FIELDS:
            value = data.get(key)
            if value in (None, "", []):
                continue
            if key in ("marketing_consent", "advocate"):
                value = value == "yes"
            elif key in ("revenue_min", "revenue_max"):
                value = f"{value:.2f}"
            elif key == "locale":
                value = [v.strip() for v in value.split(",") if v.strip()]
            filters[key] = value
        try:
            self.instance.filters = selectors.segment_filters_clean(filters)
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from exc
        if not data.get("slug") and data.get("name"):
            data["slug"] = slugify(data["name"])[:60]
        return data


class _CountForm(SegmentForm):
    """The segment form checking only the filters (for the live count)."""

    def validate_unique(self):
        pass


@admin.register(Segment)
class SegmentAdmin(ProgramScopedAdmin):
    form = SegmentForm
    list_display = ["name", "slug", "program", "customers_now", "created_at"]
    list_filter = ["program"]
    search_fields = ["name", "slug"]
    readonly_fields = ["customers_now", "filters", "nps_trend"]
    change_form_template = "admin/recruitment/segment/change_form.html"

    def get_fieldsets(self, request, obj=None):
        sets = [
            (None, {"fields": ["program", "name", "slug"]}),
            ("Who is in it (all conditions hold)", {"fields": SegmentForm.FILTER_FIELDS}),
            ("Now", {"fields": ["customers_now", "filters"]}),
        ]
        if obj is not None:
            sets.append(("NPS over time", {"fields": ["nps_trend"]}))
        return sets

    @admin.display(description="NPS per month (last 12, customers in the segment now)")
    def nps_trend(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return nps_chart(selectors.nps_over_time(program=obj.program, segment=obj))

    @admin.display(description="Customers now (as saved)")
    def customers_now(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html(
            '<span id="segment-count">{}</span>', selectors.segment_customers(obj).count()
        )

    def save_model(self, request, obj, form, change):
        services.segment_save(segment=obj, actor=request.user)

    def get_urls(self):
        return [
            path(
                "count/",
                self.admin_site.admin_view(self.count_view),
                name="recruitment_segment_count",
            ),
            *super().get_urls(),
        ]

    def count_view(self, request):
        """The live count as the form changes: ``?program=<id>&<filter fields>``."""
        program = managed_programs(request.user).filter(pk=request.GET.get("program") or 0).first()
        if program is None:
            return JsonResponse({"count": None, "error": "Choose a program."})
        data = {**request.GET.dict(), "name": "count", "slug": "", "program": program.pk}
        form = _CountForm(data={**data, "nps": request.GET.getlist("nps")})
        form.fields["program"].queryset = managed_programs(request.user)
        if not form.is_valid():
            return JsonResponse(
                {"count": None, "error": "; ".join(m for e in form.errors.values() for m in e)}
            )
        count = selectors.customers_filter(program=program, filters=form.instance.filters).count()
        return JsonResponse({"count": count})


# --- campaigns --------------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["program", "name", "segment", "send_at", "reminders", "reminder_after_days"]

    def clean(self):
        data = super().clean()
        segment, program = data.get("segment"), data.get("program")
        if segment is None:
            raise forms.ValidationError(
                "Choose a segment (or select customers in the customer list and use "
                "'Invite to a new campaign')."
            )
        if program and segment.program_id != program.pk:
            raise forms.ValidationError("The segment belongs to another program.")
        return data


@admin.register(Campaign)
class CampaignAdmin(ProgramScopedAdmin):
    form = CampaignForm
    list_display = ["name", "program", "status", "step", "progress", "send_at", "created_at"]
    list_filter = ["status", "program"]
    search_fields = ["name"]
    list_select_related = ["program", "segment"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["program", "name", "segment", "send_at", "reminders", "reminder_after_days"]
        return [
            "program", "name", "segment", "status", "step", "progress", "funnel",
            "send_at", "reminders", "reminder_after_days", "step_started_at",
            "step_finished_at", "created_by", "created_at",
        ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return self.get_fields(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "segment":
            kwargs["queryset"] = Segment.objects.filter(
                program__in=managed_programs(request.user, self.write_role)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Progress")
    def progress(self, obj):
        n = selectors.campaign_numbers(campaign=obj)
        done = n["recipients"] - n["queued"]
        return format_html(
            '<progress value="{}" max="{}" style="width:8em"></progress> {} / {}',
            done, max(1, n["recipients"]), done, n["recipients"],
        )  # fmt: skip

    @admin.display(description="Funnel")
    def funnel(self, obj):
        n = selectors.campaign_numbers(campaign=obj)
        rows = [
            ("Recipients", n["recipients"]),
            ("Sent", n["sent"]),
            ("Opened", n["opened"]),
            ("Clicked", n["clicked"]),
            ("Joined", n["joined"]),
            ("Skipped: no consent", n["skipped_no_consent"]),
            ("Unsubscribed", n["unsubscribed"]),
            ("Failed", n["failed"]),
            ("Bounced", n["bounced"]),
            ("Waiting", n["queued"]),
        ]
        base = max(1, n["sent"])
        recipients_url = (
            reverse("admin:recruitment_campaignrecipient_changelist")
            + f"?campaign__id__exact={obj.pk}"
        )
        body = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (
                    label,
                    value,
                    f"{100 * value / base:.1f}% of sent"
                    if label in ("Opened", "Clicked", "Joined")
                    else "",
                )
                for label, value in rows
            ),
        )
        return format_html(
            '<table>{}</table><p><a href="{}">Recipients one by one</a></p>', body, recipients_url
        )

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = campaigns.campaign_create(
            program=obj.program,
            name=obj.name,
            segment=obj.segment,
            send_at=obj.send_at,
            reminders=obj.reminders,
            reminder_after_days=obj.reminder_after_days,
            actor=request.user,
        )
        obj.pk = created.pk
        obj._state.adding = False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # A campaign that sent anything is the program's history.
        return (obj is None or obj.step == 0) and super().has_delete_permission(request, obj)


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdmin):
    program_path = "campaign__program"
    list_display = [
        "customer",
        "campaign",
        "state",
        "steps_sent",
        "sent_at",
        "opened_at",
        "clicked_at",
        "joined_at",
        "last_error",
    ]
    list_filter = ["state", "steps_sent"]
    search_fields = ["customer__email", "customer__external_id", "campaign__name"]
    list_select_related = ["customer", "campaign"]
    raw_id_fields = ["customer", "campaign"]


# --- NPS ------------------------------------------------------------------------------------


@admin.register(NpsResponse)
class NpsResponseAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "score", "category", "customer", "comment", "program"]
    list_filter = ["category", "program"]
    search_fields = ["customer_external_id", "customer_email_normalized", "comment"]
    list_select_related = ["customer", "program"]
    date_hierarchy = "occurred_at"


class FollowUpForm(forms.ModelForm):
    class Meta:
        model = DetractorFollowUp
        fields = ["followup_status", "followup_owner", "followup_note"]


@admin.register(DetractorFollowUp)
class DetractorFollowUpAdmin(ProgramScopedAdmin):
    """The detractors' follow-up queue: who calls them back, and how it went."""

    form = FollowUpForm
    list_display = [
        "occurred_at",
        "score",
        "customer",
        "comment",
        "followup_status",
        "followup_owner",
    ]
    list_editable = ["followup_status", "followup_owner"]
    list_filter = ["followup_status", "program"]
    search_fields = ["customer_external_id", "customer_email_normalized", "comment"]
    list_select_related = ["customer", "followup_owner"]
    readonly_fields = ["program", "customer", "score", "comment", "occurred_at"]
    fields = [
        "program",
        "customer",
        "score",
        "comment",
        "occurred_at",
        "followup_status",
        "followup_owner",
        "followup_note",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(category=NpsResponse.Category.DETRACTOR)
            .exclude(followup_status=NpsResponse.FollowUp.NONE)
        )

    def has_add_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "followup_owner":
            programs = managed_programs(request.user)
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(
                    Q(is_superuser=True, is_active=True)
                    | Q(program_memberships__program__in=programs)
                )
                .distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        services.nps_followup_update(
            response=obj,
            status=obj.followup_status,
            owner=obj.followup_owner,
            note=obj.followup_note,
        )


# --- settings ------------------------------------------------------------------------------


@admin.register(RecruitmentSettings)
class RecruitmentSettingsAdmin(ProgramScopedAdmin):
    list_display = ["program", "ranking", "ranking_now", "send_rate_per_minute"]
    readonly_fields = ["ranking_now", "nps_trend"]
    actions = ["train_model"]
    fieldsets = [
        (None, {"fields": ["program"]}),
        ("Ranking", {"fields": ["ranking", "ranking_now"]}),
        (
            "Advocate score weights (relative; 0 leaves a signal out)",
            {
                "fields": [
                    "weight_recency",
                    "weight_frequency",
                    "weight_monetary",
                    "weight_nps",
                    "weight_reviews",
                    "weight_social",
                    "weight_referrals",
                    "frequency_target",
                    "monetary_target_minor",
                ]
            },
        ),
        ("Emails", {"fields": ["send_rate_per_minute", "auto_invite_promoters"]}),
        ("NPS over time", {"fields": ["nps_trend"]}),
    ]

    @admin.display(description="NPS per month (last 12, the whole program)")
    def nps_trend(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return nps_chart(selectors.nps_over_time(program=obj.program))

    @admin.display(description="What ranks now")
    def ranking_now(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return learned.ranking_status(obj.program)

    @admin.action(description="Train the learned model (in the background)", permissions=["change"])
    def train_model(self, request, queryset):
        for obj in self.writable(request, queryset).select_related("program"):
            model = learned.advocate_model_request(program=obj.program, actor=request.user)
            url = reverse("admin:recruitment_advocatemodel_change", args=[model.pk])
            self.message_user(
                request, format_html('Training <a href="{}">{}</a> queued.', url, model)
            )

    def save_model(self, request, obj, form, change):
        services.recruitment_settings_save(obj=obj, changed=form.changed_data, actor=request.user)
        if {f for f in form.changed_data if f.startswith(("weight_", "frequency", "monetary"))}:
            messages.info(
                request,
                "New weights apply at the next rescoring (nightly, or 'Rescore now' on customers).",
            )


@admin.register(AdvocateModel)
class AdvocateModelAdmin(ReadOnlyAdmin):
    """Learned models: holdout AUC against the default score's, calibration, features."""

    list_display = [
        "__str__", "status", "auc_column", "default_auc_column", "verdict", "customers",
        "positives", "trained_at",
    ]  # fmt: skip
    list_filter = ["status", "program"]
    fields = [
        "program", "status", "error", "verdict", "auc_column", "default_auc_column", "customers",
        "positives",
        "holdout", "calibration_table", "features_table", "created_by", "created_at", "trained_at",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Holdout AUC", ordering="auc")
    def auc_column(self, obj):
        return f"{obj.auc:.3f}" if obj.auc is not None else "-"

    @admin.display(description="Default score's AUC (same holdout)")
    def default_auc_column(self, obj):
        return f"{obj.default_auc:.3f}" if obj.default_auc is not None else "-"

    @admin.display(description="Verdict")
    def verdict(self, obj):
        if obj.status != AdvocateModel.Status.READY:
            return obj.get_status_display()
        if obj.beats_default:
            return "Beats the default score: may rank (when chosen in the settings)"
        return "Does not beat the default score: never ranks"

    @admin.display(description="Calibration (holdout)")
    def calibration_table(self, obj):
        if not obj.calibration:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{b['predicted']:.1%}", f"{b['observed']:.1%}", b.get("n", ""))
                for b in obj.calibration
            ),
        )
        return format_html(
            "<table><tr><th>Predicted</th><th>Observed</th><th>Customers</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="Features by weight (standardised)")
    def features_table(self, obj):
        if not obj.top_features:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((f["feature"], f"{f['weight']:+.3f}") for f in obj.top_features),
        )
        return format_html("<table><tr><th>Feature</th><th>Weight</th></tr>{}</table>", rows)


@admin.register(InvitationText)
class InvitationTextAdmin(ProgramScopedAdmin):
    list_display = ["program", "language", "subject"]
    list_filter = ["program", "language"]


# --- imports ------------------------------------------------------------------------------------


class ImportUploadForm(forms.ModelForm):
    file = forms.FileField(
        help_text="CSV (UTF-8) or XLSX with a header row; see the column list below."
    )

    class Meta:
        model = ImportJob
        fields = ["program", "kind"]


COLUMNS_HELP = format_html(
    "<p><b>Customers</b>: {} (attr_&lt;name&gt; columns become attributes).</p>"
    "<p><b>Order history</b>: {} (occurred_at as ISO 8601, e.g. 2025-03-01T10:00:00Z).</p>"
    "<p>The file is checked first (dry run): nothing is imported until every row is valid, "
    "and then all rows are imported together or none.</p>",
    ", ".join(imports.CUSTOMER_COLUMNS),
    ", ".join(imports.ORDER_COLUMNS),
)


@admin.register(ImportJob)
class ImportJobAdmin(ProgramScopedAdmin):
    list_display = ["filename", "kind", "program", "status", "progress", "total", "created_at"]
    list_filter = ["status", "kind", "program"]
    change_form_template = "admin/recruitment/importjob/change_form.html"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ImportUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["program", "kind", "file", "columns"]
        return [
            "program",
            "kind",
            "filename",
            "status",
            "progress",
            "total",
            "created",
            "updated",
            "row_errors",
            "preview_table",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return ["columns"] if obj is None else self.get_fields(request, obj)

    @admin.display(description="Columns")
    def columns(self, obj=None):
        return COLUMNS_HELP

    @admin.display(description="Progress")
    def progress(self, obj):
        return format_html(
            '<progress value="{}" max="{}" style="width:10em"></progress> {} / {}',
            obj.processed,
            max(1, obj.total),
            obj.processed,
            obj.total,
        )

    @admin.display(description="Errors per row")
    def row_errors(self, obj):
        if not obj.errors:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((e.get("line"), e.get("fields") or e.get("error")) for e in obj.errors),
        )
        return format_html("<table><tr><th>Line</th><th>Problem</th></tr>{}</table>", rows)

    @admin.display(description="First rows")
    def preview_table(self, obj):
        if not obj.preview:
            return "-"
        head = list(obj.preview[0])
        header = format_html_join("", "<th>{}</th>", ((h,) for h in head))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((row.get(h, ""),) for h in head)),)
                for row in obj.preview
            ),
        )
        return format_html("<table><tr>{}</tr>{}</table>", header, body)

    def save_model(self, request, obj, form, change):
        upload = form.cleaned_data["file"]
        try:
            job = imports.import_check(
                program=obj.program,
                kind=obj.kind,
                filename=upload.name,
                data=upload.read(),
                actor=request.user,
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
            job = ImportJob.objects.create(
                program=obj.program,
                kind=obj.kind,
                filename=upload.name[:200],
                data=b"",
                status=ImportJob.Status.INVALID,
                errors=[{"line": 0, "error": exc.message}],
            )
        obj.pk = job.pk
        obj._state.adding = False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def get_urls(self):
        return [
            path(
                "<int:pk>/start/",
                self.admin_site.admin_view(self.start_view),
                name="recruitment_importjob_start",
            ),
            path(
                "<int:pk>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="recruitment_importjob_retry",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_queryset(request).filter(pk=object_id).first()
        extra_context = {
            **(extra_context or {}),
            "interrupted": job is not None and imports.import_interrupted(job),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def retry_view(self, request, pk):
        job = self.get_queryset(request).filter(pk=pk).first()
        if request.method != "POST" or job is None or not self.may_write(request, job):
            return redirect("admin:recruitment_importjob_changelist")
        try:
            job = imports.import_retry(job=job, actor=request.user)
            messages.info(
                request, f"{job.get_status_display()}: {job.processed} of {job.total} rows."
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("admin:recruitment_importjob_change", job.pk)

    def start_view(self, request, pk):
        job = self.get_queryset(request).filter(pk=pk).first()
        if request.method != "POST" or job is None or not self.may_write(request, job):
            return redirect("admin:recruitment_importjob_changelist")
        try:
            job = imports.import_start(job=job, actor=request.user)
            messages.info(
                request, f"{job.get_status_display()}: {job.processed} of {job.total} rows."
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        return redirect("admin:recruitment_importjob_change", job.pk)

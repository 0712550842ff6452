"""Nurture in the admin, scoped to the manager's programs: tiers, challenges and their
moderation queue, testimonials, feedback, welcome emails, news and every email sent."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin, has_role
from core.errors import ServiceError

from . import services
from .models import (
    Badge,
    Challenge,
    ChallengeSubmission,
    Moderation,
    OutgoingEmail,
    ProgramSettings,
    Standing,
    Suggestion,
    Testimonial,
    Tier,
    TierChange,
    Upload,
    WelcomeStep,
)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The advocate reads this."),
    )


class NewsForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=150)
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 10}))


def _upload_link(upload_id, label=None):
    if not upload_id:
        return "-"
    label = label or _("View")
    return format_html(
        '<a href="{}" target="_blank" rel="noopener">{}</a>',
        reverse("admin:nurture_upload_view", args=[upload_id]),
        label,
    )


class ModerationAdmin(ProgramScopedAdmin):
    """A queue: pending first; approve in bulk, reject one by one with a reason."""

    reject_service = None

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<int:pk>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name=f"{opts.app_label}_{opts.model_name}_reject",
            ),
            *super().get_urls(),
        ]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="")
    def reject_link(self, obj):
        if obj.status != Moderation.PENDING:
            return ""
        opts = self.model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_reject", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Reject…"))

    def reject_view(self, request, pk):
        obj = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.may_write(request, obj):
            messages.error(request, _("Your role in this program can't moderate."))
            return redirect(f"admin:nurture_{self.model._meta.model_name}_changelist")
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                done = type(self).reject_service(obj, form.cleaned_data["reason"], request.user)
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                if done:
                    messages.success(request, _("Rejected; the advocate sees your reason."))
                else:
                    messages.warning(request, _("Already moderated: nothing changed."))
                return redirect(f"admin:nurture_{self.model._meta.model_name}_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "object": obj,
            "title": _("Reject: %(object)s") % {"object": obj},
            "opts": self.model._meta,
        }
        return render(request, "admin/nurture/reject.html", context)


@admin.register(ChallengeSubmission)
class ChallengeSubmissionAdmin(ModerationAdmin):
    program_path = "challenge__program"
    list_display = ["created_at", "challenge", "advocate", "status", "proof", "screenshot_link",
                    "answer_short", "reject_link"]  # fmt: skip
    list_filter = ["status", "challenge__kind"]
    search_fields = ["advocate__email", "challenge__title", "proof_url"]
    list_select_related = ["challenge", "advocate"]
    ordering = ["status", "-created_at"]
    readonly_fields = ["challenge", "advocate", "status", "proof_url", "answer", "screenshot",
                       "rejection_reason", "reviewed_at", "reviewed_by", "reward",
                       "created_at"]  # fmt: skip
    actions = ["approve"]

    @staticmethod
    def reject_service(obj, reason, actor):
        return services.submission_reject(submission_id=obj.pk, reason=reason, actor=actor)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Proof"))
    def proof(self, obj):
        if not obj.proof_url:
            return "-"
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', obj.proof_url)

    @admin.display(description=_("Screenshot"))
    def screenshot_link(self, obj):
        return _upload_link(obj.screenshot_id)

    @admin.display(description=_("Answer"))
    def answer_short(self, obj):
        return (obj.answer[:80] + "…") if len(obj.answer) > 80 else obj.answer

    @admin.action(
        description=_("Approve selected entries (award their points)"), permissions=["act"]
    )
    def approve(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda s: services.submission_approve(submission_id=s.pk, actor=request.user),
            _("Approved {} entry(ies); their points are on the advocates' balances."),
        )

    def get_urls(self):
        return [
            path(
                "upload/<int:pk>/",
                self.admin_site.admin_view(self.upload_view),
                name="nurture_upload_view",
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request, pk):
        """An image an advocate sent, to managers of their program only."""
        upload = get_object_or_404(Upload.objects.select_related("advocate__program"), pk=pk)
        if not has_role(request.user, upload.advocate.program, "viewer"):
            return HttpResponse(status=404)
        response = HttpResponse(bytes(upload.data), content_type=upload.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
        return response


@admin.register(Testimonial)
class TestimonialAdmin(ModerationAdmin):
    list_display = ["created_at", "advocate", "rating", "excerpt", "consent_to_publish", "status",
                    "featured", "photo_link", "reject_link"]  # fmt: skip
    list_filter = ["status", "featured", "consent_to_publish", "rating", "program"]
    search_fields = ["advocate__email", "text", "display_name"]
    list_select_related = ["advocate", "program"]
    ordering = ["status", "-created_at"]
    actions = ["approve", "feature", "unfeature"]

    @staticmethod
    def reject_service(obj, reason, actor):
        return services.testimonial_moderate(
            testimonial_id=obj.pk, approve=False, reason=reason, actor=actor
        )

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Text"))
    def excerpt(self, obj):
        return (obj.text[:100] + "…") if len(obj.text) > 100 else obj.text

    @admin.display(description=_("Photo"))
    def photo_link(self, obj):
        return _upload_link(obj.photo_id)

    @admin.action(description=_("Approve selected testimonials"), permissions=["act"])
    def approve(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda t: services.testimonial_moderate(
                testimonial_id=t.pk, approve=True, actor=request.user
            ),
            _("Approved {} testimonial(s)."),
        )

    @admin.action(description=_("Feature selected (approved, with consent)"), permissions=["act"])
    def feature(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda t: services.testimonial_feature(
                testimonial_id=t.pk, featured=True, actor=request.user
            ),
            _("Featured {} testimonial(s)."),
        )

    @admin.action(description=_("Stop featuring selected"), permissions=["act"])
    def unfeature(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda t: services.testimonial_feature(
                testimonial_id=t.pk, featured=False, actor=request.user
            ),
            _("{} testimonial(s) no longer featured."),
        )


@admin.register(Tier)
class TierAdmin(ProgramScopedAdmin):
    list_display = ["name", "program", "rank", "metric", "threshold", "window_days", "multiplier",
                    "entry_points"]  # fmt: skip
    list_filter = ["program", "metric"]
    ordering = ["program", "rank"]


@admin.register(Challenge)
class ChallengeAdmin(ProgramScopedAdmin):
    list_display = ["title", "program", "kind", "points", "deadline", "is_active", "pending"]
    list_filter = ["program", "kind", "is_active"]
    search_fields = ["title"]

    @admin.display(description=_("Waiting for review"))
    def pending(self, obj):
        return obj.submissions.filter(status=Moderation.PENDING).count()

    def has_delete_permission(self, request, obj=None):
        return False  # entries and ledger rows point at it: deactivate instead


@admin.register(Suggestion)
class SuggestionAdmin(ProgramScopedAdmin):
    list_display = ["created_at", "title", "advocate", "votes_count", "status", "replied_at"]
    list_filter = ["status", "program"]
    search_fields = ["title", "body"]
    fields = ["program", "advocate", "title", "body", "status", "reply", "replied_at"]
    readonly_fields = ["program", "advocate", "title", "body", "replied_at"]

    @admin.display(description=_("Votes"))
    def votes_count(self, obj):
        return obj.votes.count()

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.suggestion_answer(
            suggestion_id=obj.pk, status=obj.status, reply=obj.reply, actor=request.user
        )


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(ProgramScopedAdmin):
    list_display = ["program", "leaderboard_enabled", "review_request_days",
                    "reengage_after_days", "advocate_of_the_month", "news_link"]  # fmt: skip
    raw_id_fields = ["advocate_of_the_month"]

    def get_urls(self):
        return [
            path(
                "<int:pk>/news/",
                self.admin_site.admin_view(self.news_view),
                name="nurture_programsettings_news",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="")
    def news_link(self, obj):
        url = reverse("admin:nurture_programsettings_news", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Send program news…"))

    def news_view(self, request, pk):
        row = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.may_write(request, row):
            return redirect("admin:nurture_programsettings_changelist")
        form = NewsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                count = services.news_broadcast(
                    program=row.program, actor=request.user, **form.cleaned_data
                )
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    _("Queued to %(count)s advocate(s) who want program news.") % {"count": count},
                )
                return redirect("admin:nurture_outgoingemail_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "object": row,
            "title": _("Program news for %(program)s") % {"program": row.program},
            "opts": self.model._meta,
        }
        return render(request, "admin/nurture/news.html", context)


@admin.register(WelcomeStep)
class WelcomeStepAdmin(ProgramScopedAdmin):
    list_display = ["program", "day", "subject", "is_active"]
    list_filter = ["program", "is_active"]
    ordering = ["program", "day"]


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "template", "to", "subject", "status", "sent_at"]
    list_filter = ["status", "template", "program"]
    search_fields = ["to", "subject", "advocate__email"]
    readonly_fields = ["program", "advocate", "template", "to", "subject", "status", "error",
                       "created_at", "sent_at", "text", "preview"]  # fmt: skip
    fields = readonly_fields

    @admin.display(description=_("HTML"))
    def preview(self, obj):
        if not obj.html:
            return "-"
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:100%;max-width:640px;height:520px;'
            'border:1px solid #ccc"></iframe>',
            obj.html,
        )


@admin.register(Badge)
class BadgeAdmin(ReadOnlyAdmin):
    program_path = "advocate__program"
    list_display = ["awarded_at", "advocate", "code"]
    list_filter = ["code"]
    search_fields = ["advocate__email"]


@admin.register(Standing)
class StandingAdmin(ReadOnlyAdmin):
    program_path = "advocate__program"
    list_display = ["advocate", "tier", "multiplier", "tier_since", "leaderboard_opt_in",
                    "display_name"]  # fmt: skip
    list_filter = ["leaderboard_opt_in"]
    search_fields = ["advocate__email", "display_name"]


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    program_path = "advocate__program"
    list_display = ["created_at", "advocate", "from_tier", "to_tier"]

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from advocacy import services
from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin, Role, has_role, managed_programs
from advocacy.models import (
    Advocate,
    ApiKey,
    AuditLog,
    Program,
    ProgramFAQ,
    ProgramMembership,
    ShareMessage,
)
from core.errors import ServiceError
from referrals.invitations import advocate_invite

from . import setup
from .exports import CsvExportMixin
from .money import DomainListField, MoneyFormMixin
from .rewards import adjustment_view


class MembershipInline(admin.TabularInline):
    model = ProgramMembership
    extra = 0
    autocomplete_fields = ["user"]


class FAQInline(admin.StackedInline):
    model = ProgramFAQ
    extra = 0


class ShareMessageInline(admin.TabularInline):
    model = ShareMessage
    extra = 0


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ["kind", "name", "prefix", "scopes", "created_at", "last_used_at", "expires_at",
              "revoked_at"]  # fmt: skip
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class ProgramForm(MoneyFormMixin, forms.ModelForm):
    """Amounts in the program's currency ("20.00"), domains one per line."""

    money_fields = ("monthly_budget_minor", "min_payout_minor", "payout_approval_above_minor")
    allowed_domains = DomainListField(
        required=False,
        label="Allowed domains",
        help_text="Your shop's domains, one per line (e.g. shop.example.com). Links may send "
        "friends there, and the embed script works there (subdomains included). The landing "
        "URL's domain is always allowed.",
    )

    landing_url = forms.URLField(
        label="Landing URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
        help_text="Where a shared link takes the friend, e.g. your shop's home page.",
    )
    logo_url = forms.URLField(
        label="Logo URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
        help_text="The program's logo, shown in the portal.",
    )

    class Meta:
        model = Program
        fields = "__all__"  # noqa: DJ007 - the admin names the fields
        labels = {
            "monthly_budget_minor": "Monthly budget",
            "min_payout_minor": "Minimum payout",
            "payout_approval_above_minor": "Approve payouts above",
            "attribution_window_days": "Attribution window (days)",
            "hold_days": "Hold period (days)",
            "open_enrollment": "Public (open enrollment)",
        }
        help_texts = {
            "attribution_window_days": "How long after clicking a link a friend's first "
            "purchase still counts as referred.",
            "hold_days": "How long a reward waits before the advocate can cash it out (covers "
            "your return period).",
            "monthly_budget_minor": "The most cash rewards given per calendar month; empty for "
            "no limit.",
            "min_payout_minor": "Advocates are paid once they have at least this much.",
            "payout_approval_above_minor": "Payouts larger than this wait for your approval; "
            "empty: never.",
        }

    def money_currency(self, data=None):
        return (data or {}).get("currency") or self.instance.currency or "EUR"


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    form = ProgramForm
    list_display = ["name", "slug", "status", "public", "currency", "hold_days",
                    "attribution_window_days"]  # fmt: skip
    list_filter = ["status", "currency", "open_enrollment"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [MembershipInline, ApiKeyInline, FAQInline, ShareMessageInline]
    change_form_template = "admin/console/program/change_form.html"
    change_list_template = "admin/console/program/change_list.html"
    fieldsets = [
        (None, {"fields": ["name", "slug", "status", "open_enrollment", "invitation_only",
                           "vip"]}),
        ("Where links lead", {"fields": ["landing_url", "allowed_domains"]}),
        ("Money and timing", {"fields": ["currency", "attribution_window_days", "hold_days",
                                         "monthly_budget_minor", "min_payout_minor",
                                         "payout_approval_above_minor", "churn_after_days"]}),
        ("Branding and terms", {"fields": ["logo_url", "brand_color", "terms", "terms_version"]}),
        ("Secrets", {"classes": ["collapse"],
                     "fields": ["widget_secret", "stripe_webhook_secret"]}),
    ]  # fmt: skip

    def get_queryset(self, request):
        return managed_programs(request.user)

    @admin.display(description="Public", boolean=True, ordering="open_enrollment")
    def public(self, obj):
        return obj.open_enrollment and obj.is_active

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("setup/", view(self.setup_view), name="advocacy_program_setup"),
            path("<int:pk>/publish/", view(self.publish_view), name="advocacy_program_publish"),
            path("<int:pk>/preview/", view(self.preview_view), name="advocacy_program_preview"),
            *super().get_urls(),
        ]

    def get_changeform_initial_data(self, request):
        # A new program is a draft: customers cannot join until it is published.
        return {"open_enrollment": False, **super().get_changeform_initial_data(request)}

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        if "_addanother" in request.POST or "_popup" in request.POST:
            return response
        # Its keys are shown once, on its page: go there rather than to the list.
        return redirect("admin:advocacy_program_change", obj.pk)

    def setup_view(self, request):
        return setup.setup_view(self, request)

    def publish_view(self, request, pk):
        program = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST" and self.has_change_permission(request, program):
            setup.program_publish(program=program, actor=request.user)
            messages.success(request, f"{program} is public: customers can join.")
        return redirect("admin:advocacy_program_change", pk)

    def preview_view(self, request, pk):
        program = get_object_or_404(self.get_queryset(request), pk=pk)
        return setup.preview_as_advocate(request, program)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        program = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if program is not None:
            extra.update(setup.program_page_context(request, program))
        return super().change_view(request, object_id, form_url, extra)

    # A program's settings, managers and keys are its owners' to change.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and has_role(
            request.user, obj, Role.OWNER
        )

    def has_delete_permission(self, request, obj=None):
        return False  # a program with advocates keeps its books: archive it instead

    def save_model(self, request, obj, form, change):
        if change:
            services.program_save(program=obj, actor=request.user, changed=form.changed_data)
            return
        # Created here rather than on the setup page: it gets its two keys all the same.
        setup.program_create_with_keys(request, program=obj, changed=form.changed_data)

    def save_formset(self, request, form, formset, change):
        for obj in formset.save(commit=False):
            services.program_part_save(obj=obj, actor=request.user)
        for obj in formset.deleted_objects:
            services.program_part_delete(obj=obj, actor=request.user)
        formset.save_m2m()


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.FULL],
        widget=forms.CheckboxSelectMultiple,
        help_text="What a secret key may do: give each system only what it needs (an order "
        "feed: 'Record orders and refunds'). Publishable keys ignore this.",
    )

    class Meta:
        model = ApiKey
        fields = ["program", "kind", "name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(ProgramScopedAdmin):
    form = ApiKeyForm
    list_display = ["prefix", "program", "kind", "name", "scope_list", "created_at",
                    "last_used_at", "expires_at", "revoked_at"]  # fmt: skip
    list_filter = ["kind", "program"]
    search_fields = ["prefix", "name"]
    fields = ["program", "kind", "name", "scopes"]
    actions = ["rotate", "revoke"]
    write_role = Role.OWNER

    @admin.display(description="Scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes or ())

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return ["program", "kind", "prefix", "created_at", "last_used_at", "expires_at",
                    "replaced_by", "revoked_at"]  # fmt: skip
        return []

    def get_fields(self, request, obj=None):
        if obj:
            return ["program", "kind", "name", "scopes", "prefix", "created_at", "last_used_at",
                    "expires_at", "replaced_by", "revoked_at"]  # fmt: skip
        return self.fields

    def save_model(self, request, obj, form, change):
        if change:
            if "name" in form.changed_data:
                services.api_key_rename(key=obj, actor=request.user)
            if "scopes" in form.changed_data:
                services.api_key_set_scopes(
                    key=obj, scopes=form.cleaned_data["scopes"], actor=request.user
                )
            return
        key, raw = services.api_key_create(
            program=obj.program,
            kind=obj.kind,
            name=obj.name,
            scopes=form.cleaned_data["scopes"],
            actor=request.user,
        )
        obj.pk = key.pk
        obj._state.adding = False
        messages.warning(
            request,
            format_html("New key: <code>{}</code> — copy it now, it is not shown again.", raw),
        )

    @admin.action(description="Rotate selected keys (the old ones keep working for a while)",
                  permissions=["change"])  # fmt: skip
    def rotate(self, request, queryset):
        for key in self.writable(request, queryset):
            try:
                _, raw = services.api_key_rotate(key=key, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, f"{key}: {exc.message}", messages.ERROR)
                continue
            messages.warning(
                request,
                format_html(
                    "{} rotated: the new key is <code>{}</code> — copy it now, it is not shown "
                    "again. The old key works until {} UTC, then stops.",
                    key.prefix,
                    raw,
                    key.expires_at.strftime("%Y-%m-%d %H:%M"),
                ),
            )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        queryset = self.writable(request, queryset)
        for key in queryset:
            services.api_key_revoke(key=key, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Advocate)
class AdvocateAdmin(CsvExportMixin, ProgramScopedAdmin):
    list_display = ["email", "name", "program", "status", "coupon_code", "created_at", "links"]
    csv_fields = ["id", "program__slug", "email", "name", "external_id", "status", "coupon_code",
                  "created_at"]  # fmt: skip
    list_filter = ["status", "program"]
    search_fields = ["email", "name", "external_id", "coupon_code"]
    readonly_fields = ["email_normalized", "invitation_sent_at", "created_at"]
    raw_id_fields = ["user"]
    actions = ["send_invitation", "pause", "activate", "ban"]
    change_form_template = "admin/console/advocate/change_form.html"

    @admin.display(description="")
    def links(self, obj):
        return format_html(
            '<a href="{}">Referrals</a> · <a href="{}">Rewards</a> · <a href="{}">Ledger</a>',
            f"{reverse('admin:referrals_referral_changelist')}?advocate__id__exact={obj.pk}",
            f"{reverse('admin:rewards_reward_changelist')}?advocate__id__exact={obj.pk}",
            f"{reverse('admin:rewards_ledgerentry_changelist')}?advocate__id__exact={obj.pk}",
        )

    def get_readonly_fields(self, request, obj=None):
        # Moving an advocate to another program would mix two programs' books.
        return [*self.readonly_fields, "program"] if obj else self.readonly_fields

    def get_urls(self):
        return [
            path(
                "<int:pk>/adjust/",
                self.admin_site.admin_view(lambda request, pk: adjustment_view(self, request, pk)),
                name="advocacy_advocate_adjust",
            ),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        if change:
            services.advocate_update(advocate=obj, changed=form.changed_data, actor=request.user)
            return
        advocate, _ = services.advocate_enroll(
            program=obj.program,
            email=obj.email,
            name=obj.name,
            external_id=obj.external_id,
            locale=obj.locale,
            status=obj.status,
            user=obj.user,
            actor=request.user,
        )
        obj.pk = advocate.pk
        obj._state.adding = False

    @admin.action(description="Send invitation email", permissions=["change"])
    def send_invitation(self, request, queryset):
        queryset = self.writable(request, queryset)
        for advocate in queryset:
            advocate_invite(program=advocate.program, email=advocate.email)
        self.message_user(request, f"Invitations queued for {queryset.count()} advocate(s).")

    def _set_status(self, request, queryset, status):
        queryset = self.writable(request, queryset)
        for advocate in queryset:
            services.advocate_set_status(advocate=advocate, status=status, actor=request.user)
        self.message_user(request, f"{queryset.count()} advocate(s) now {status}.")

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request, queryset):
        self._set_status(request, queryset, Advocate.Status.PAUSED)

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        self._set_status(request, queryset, Advocate.Status.ACTIVE)

    @admin.action(description="Ban", permissions=["change"])
    def ban(self, request, queryset):
        self._set_status(request, queryset, Advocate.Status.BANNED)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "object_type", "object_id", "program", "actor"]
    list_filter = ["action", "program"]
    search_fields = ["object_id", "action"]


admin.site.site_header = "Advocacy: program managers"
admin.site.site_title = "Advocacy admin"
admin.site.index_title = "Programs, advocates, referrals and rewards"

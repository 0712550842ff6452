from django.contrib import admin, messages
from django.db import models
from django.urls import path
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
from referrals.invitations import advocate_invite

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
    fields = ["kind", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "currency", "hold_days", "attribution_window_days"]
    list_filter = ["status", "currency", "open_enrollment"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [MembershipInline, ApiKeyInline, FAQInline, ShareMessageInline]

    def get_queryset(self, request):
        return managed_programs(request.user)

    # A program's settings, managers and keys are its owners' to change.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and has_role(
            request.user, obj, Role.OWNER
        )

    def has_delete_permission(self, request, obj=None):
        return False  # a program with advocates keeps its books: archive it instead

    def save_model(self, request, obj, form, change):
        services.program_save(program=obj, actor=request.user, changed=form.changed_data)

    def save_formset(self, request, form, formset, change):
        for obj in formset.save(commit=False):
            services.program_part_save(obj=obj, actor=request.user)
        for obj in formset.deleted_objects:
            services.program_part_delete(obj=obj, actor=request.user)
        formset.save_m2m()


@admin.register(ApiKey)
class ApiKeyAdmin(ProgramScopedAdmin):
    list_display = ["prefix", "program", "kind", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["kind", "program"]
    search_fields = ["prefix", "name"]
    fields = ["program", "kind", "name"]
    actions = ["revoke"]
    write_role = Role.OWNER

    def get_readonly_fields(self, request, obj=None):
        return (
            ["program", "kind", "prefix", "created_at", "last_used_at", "revoked_at"] if obj else []
        )

    def get_fields(self, request, obj=None):
        if obj:
            return ["program", "kind", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        return self.fields

    def save_model(self, request, obj, form, change):
        if change:
            services.api_key_rename(key=obj, actor=request.user)
            return
        key, raw = services.api_key_create(
            program=obj.program, kind=obj.kind, name=obj.name, actor=request.user
        )
        obj.pk = key.pk
        obj._state.adding = False
        messages.warning(
            request,
            format_html("New key: <code>{}</code> — copy it now, it is not shown again.", raw),
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
class AdvocateAdmin(ProgramScopedAdmin):
    list_display = ["email", "name", "program", "status", "coupon_code", "created_at"]
    list_filter = ["status", "program"]
    search_fields = ["email", "name", "external_id", "coupon_code"]
    readonly_fields = ["email_normalized", "invitation_sent_at", "created_at"]
    raw_id_fields = ["user"]
    actions = ["send_invitation", "pause", "activate", "ban"]

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

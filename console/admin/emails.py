"""Every email the platform sent, read-only: who, what, when, and whether it went."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from advocacy.admin_scope import Role, managed_programs
from advocacy.models import Program
from core.mail import email_bounced
from core.models import EmailLog


class EmailProgramFilter(admin.SimpleListFilter):
    title = _("program")
    parameter_name = "program"

    def lookups(self, request, model_admin):
        return [(p.pk, str(p)) for p in managed_programs(request.user)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(program_id=self.value())
        return queryset


@admin.register(EmailLog)
class EmailLogAdmin(admin.ModelAdmin):
    """Managers see their programs' emails; emails of no program (sign-in, password
    reset) only superusers."""

    list_display = ["created_at", "to", "kind", "subject", "status", "program_name"]
    list_filter = ["status", "kind", EmailProgramFilter, "created_at"]
    search_fields = ["to", "subject", "kind", "message_id"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "to", "kind", "subject", "status", "error",
                       "program_name", "message_id"]  # fmt: skip
    fields = readonly_fields
    actions = ["mark_bounced"]
    list_per_page = 100

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(program_id__in=managed_programs(request.user))

    def changelist_view(self, request, extra_context=None):
        # One query for the names of the programs on the page, not one per row.
        self._names = dict(Program.objects.values_list("pk", "name"))
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("program"))
    def program_name(self, obj):
        if obj.program_id is None:
            return "-"
        names = getattr(self, "_names", None)
        if names is None:
            names = dict(Program.objects.filter(pk=obj.program_id).values_list("pk", "name"))
        return names.get(obj.program_id, obj.program_id)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_bounce_permission(self, request):
        return request.user.is_superuser or managed_programs(request.user, Role.MANAGER).exists()

    @admin.action(description=_("Mark as bounced"), permissions=["bounce"])
    def mark_bounced(self, request, queryset):
        if not request.user.is_superuser:
            queryset = queryset.filter(program_id__in=managed_programs(request.user, Role.MANAGER))
        done = sum(
            email_bounced(message_id=m) for m in queryset.values_list("message_id", flat=True) if m
        )
        self.message_user(request, _("%(count)s email(s) marked as bounced.") % {"count": done})

"""Admin access helper: a manager sees only the programs they belong to."""

from django.contrib import admin

from .models import Program


def managed_programs(user):
    if user.is_superuser:
        return Program.objects.all()
    return Program.objects.filter(memberships__user=user)


class ProgramScopedAdmin(admin.ModelAdmin):
    """Filters rows, and program choices, to the manager's programs."""

    program_path = "program"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.program_path}__in": managed_programs(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "program":
            kwargs["queryset"] = managed_programs(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(ProgramScopedAdmin):
    """For append-only records: viewable, never edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

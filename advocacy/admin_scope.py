"""Admin access helper: a manager sees only the programs they belong to."""

from django.contrib import admin

from .models import Advocate, Program


def managed_programs(user):
    if user.is_superuser:
        return Program.objects.all()
    return Program.objects.filter(memberships__user=user)


class ManagedProgramFilter(admin.RelatedFieldListFilter):
    """The program sidebar filter, naming only the manager's own programs."""

    def field_choices(self, field, request, model_admin):
        return [(p.pk, str(p)) for p in managed_programs(request.user)]


class ProgramScopedAdmin(admin.ModelAdmin):
    """Filters rows, program filters and program or advocate choices to the manager's programs."""

    program_path = "program"

    def get_list_filter(self, request):
        return [
            ("program", ManagedProgramFilter) if f == "program" else f
            for f in super().get_list_filter(request)
        ]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.program_path}__in": managed_programs(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "program":
            kwargs["queryset"] = managed_programs(request.user)
        elif db_field.name == "advocate":
            kwargs["queryset"] = Advocate.objects.filter(program__in=managed_programs(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(ProgramScopedAdmin):
    """For append-only records: viewable, never edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

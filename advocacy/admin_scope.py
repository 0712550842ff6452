"""Admin access: a manager sees only the programs they belong to, and acts per their role.

Roles (``ProgramMembership.Role``), each including the ones below it:

* **viewer**: sees the program's records in the admin, changes nothing;
* **manager**: runs the program day to day: advocates, reward rules, coupon
  pools, the catalog, links, webhook endpoints, approvals, payouts and
  balance adjustments;
* **owner**: also the program's own settings, its managers and its API keys.

Django's model permissions still apply on top: a role never grants more than
the user's permissions allow. Superusers may do everything everywhere.
"""

from functools import reduce

from django.contrib import admin
from django.db.models import QuerySet

from .models import Advocate, Program, ProgramMembership

Role = ProgramMembership.Role
RANK = {Role.VIEWER: 1, Role.MANAGER: 2, Role.OWNER: 3}


def managed_programs(user, role: str = Role.VIEWER) -> QuerySet:
    """The programs in which ``user`` holds ``role`` or a higher one."""
    if user.is_superuser:
        return Program.objects.all()
    roles = [r for r, rank in RANK.items() if rank >= RANK[role]]
    return Program.objects.filter(memberships__user=user, memberships__role__in=roles)


def has_role(user, program: Program | None, role: str) -> bool:
    """Whether ``user`` holds ``role`` in ``program`` (in any program, when None)."""
    if user.is_superuser:
        return True
    programs = managed_programs(user, role)
    return programs.filter(pk=program.pk).exists() if program else programs.exists()


class ManagedProgramFilter(admin.RelatedFieldListFilter):
    """The program sidebar filter, naming only the manager's own programs."""

    def field_choices(self, field, request, model_admin):
        return [(p.pk, str(p)) for p in managed_programs(request.user)]


class ProgramScopedAdmin(admin.ModelAdmin):
    """Rows, filters and choices limited to the manager's programs; writes need ``write_role``."""

    program_path = "program"
    write_role = Role.MANAGER

    def program_of(self, obj) -> Program | None:
        """The program an object belongs to, following ``program_path``."""
        return reduce(
            lambda o, attr: getattr(o, attr, None) if o is not None else None,
            self.program_path.split("__"),
            obj,
        )

    def may_write(self, request, obj=None) -> bool:
        return has_role(request.user, self.program_of(obj) if obj else None, self.write_role)

    def writable(self, request, queryset: QuerySet) -> QuerySet:
        """The part of ``queryset`` the user may act on (for admin actions)."""
        if request.user.is_superuser:
            return queryset
        programs = managed_programs(request.user, self.write_role)
        return queryset.filter(**{f"{self.program_path}__in": programs})

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request) and self.may_write(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.may_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.may_write(request, obj)

    def act_on_each(self, request, queryset, act, message: str) -> None:
        """Run ``act(obj)`` (a service call returning whether it did something) on each
        selected object the user may act on, and say how many: ``message.format(n)``."""
        done = sum(bool(act(obj)) for obj in self.writable(request, queryset))
        self.message_user(request, message.format(done))

    def has_act_permission(self, request):
        """For actions that write (approve, fulfil, retry, ...): declared with ``["act"]``."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}") and (
            self.may_write(request)
        )

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
        # Choices offer only programs where the user may write, and their objects:
        # another program's advocate, or coupon pool, is never offered.
        programs = managed_programs(request.user, self.write_role)
        if db_field.name == "program":
            kwargs["queryset"] = programs
        elif db_field.name == "advocate":
            kwargs["queryset"] = Advocate.objects.filter(program__in=programs)
        elif db_field.name == "coupon_pool":
            kwargs["queryset"] = db_field.related_model.objects.filter(program__in=programs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(ProgramScopedAdmin):
    """For append-only records: viewable, never edited or deleted here (actions may act)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

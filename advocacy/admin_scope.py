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

from functools import cache, reduce

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q, QuerySet

from .models import Program, ProgramMembership

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


@cache
def program_path(model) -> str | None:
    """The lookup from ``model`` to the program it belongs to ("program",
    "advocate__program", "experiment__program", ...), the shortest over foreign keys,
    at most three hops; "" for Program itself, None for a model of no program."""
    if model is Program:
        return ""
    level = [(model, "")]
    for _ in range(3):
        deeper = []
        for current, prefix in level:
            for field in current._meta.concrete_fields:
                if field.many_to_one or field.one_to_one:
                    if field.related_model is Program:
                        return prefix + field.name
                    deeper.append((field.related_model, f"{prefix}{field.name}__"))
        level = deeper
    return None


def scoped_choices(queryset: QuerySet, programs: QuerySet) -> QuerySet:
    """``queryset`` limited to rows of ``programs``; a user to their staff and advocates.
    Rows of no program (a permission, a site) are left as they are."""
    model = queryset.model
    if model is get_user_model():  # staff of those programs, or their advocates' accounts
        return queryset.filter(
            Q(program_memberships__program__in=programs) | Q(advocates__program__in=programs)
        ).distinct()
    path = program_path(model)
    if path is None:
        return queryset
    return queryset.filter(**{f"{path}__in" if path else "pk__in": programs})


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

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")  # a scheme-less URL is https
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Every choice is of a program where the user may write: another program's
        # advocate, coupon pool, segment, perk or tier is never offered, nor accepted
        # when posted (the form checks a choice against the same queryset).
        kwargs["queryset"] = self._scoped(db_field, request, kwargs.get("queryset"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs["queryset"] = self._scoped(db_field, request, kwargs.get("queryset"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _scoped(self, db_field, request, queryset: QuerySet | None) -> QuerySet:
        if queryset is None:  # as Django would choose it: the related admin's ordering
            queryset = self.get_field_queryset(None, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.all()
        if request.user.is_superuser:
            return queryset
        return scoped_choices(queryset, managed_programs(request.user, self.write_role))


class ReadOnlyAdmin(ProgramScopedAdmin):
    """For append-only records: viewable, never edited or deleted here (actions may act)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

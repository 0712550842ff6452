"""Placement events in the admin: every impression and share, read-only, per program."""

from django.contrib import admin

from advocacy.admin_scope import ReadOnlyAdmin

from .models import PlacementEvent


class PlacementFilter(admin.SimpleListFilter):
    """The placements of the manager's own programs (a merchant's custom names included)."""

    title = "placement"
    parameter_name = "placement"

    def lookups(self, request, model_admin):
        names = (
            model_admin.get_queryset(request)
            .order_by("placement")
            .values_list("placement", flat=True)
            .distinct()
        )
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(placement=self.value())
        return queryset


@admin.register(PlacementEvent)
class PlacementEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "program", "kind", "placement", "channel", "advocate"]
    list_filter = ["program", PlacementFilter, "kind", "created_at"]
    search_fields = ["placement", "channel", "advocate__email"]
    date_hierarchy = "created_at"
    list_select_related = ["program", "advocate"]
    raw_id_fields = ["advocate"]
    readonly_fields = ["created_at", "program", "kind", "placement", "channel", "advocate",
                       "viewer"]  # fmt: skip
    fields = readonly_fields
    list_per_page = 100

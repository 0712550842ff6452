from django.contrib import admin

from advocacy.admin_scope import ReadOnlyAdmin

from .models import LedgerEntry, Reward


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["created_at", "kind", "bucket", "amount_minor", "currency", "memo"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "advocate",
        "program",
        "amount_minor",
        "reversed_minor",
        "currency",
        "status",
        "available_at",
    ]
    list_filter = ["status", "kind", "program"]
    search_fields = ["advocate__email", "reason", "conversion__order_id"]
    list_select_related = ["advocate", "program"]
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "advocate", "kind", "bucket", "amount_minor", "currency", "memo"]
    list_filter = ["kind", "bucket", "currency", "program"]
    search_fields = ["advocate__email", "idempotency_key", "memo"]
    list_select_related = ["advocate"]

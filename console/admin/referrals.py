from django.contrib import admin

from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin
from referrals.models import Click, Conversion, Referral, ReferralLink, Refund
from referrals.services import referral_link_save


@admin.register(ReferralLink)
class ReferralLinkAdmin(ProgramScopedAdmin):
    list_display = ["code", "advocate", "program", "channel", "is_active", "created_at"]
    list_filter = ["is_active", "program", "channel"]
    search_fields = ["code", "advocate__email"]
    raw_id_fields = ["advocate"]
    fields = ["advocate", "code", "channel", "is_active"]

    def save_model(self, request, obj, form, change):
        referral_link_save(link=obj, actor=request.user, changed=form.changed_data)

    def has_delete_permission(self, request, obj=None):
        return False  # clicks and referrals point at it: deactivate it instead


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    list_display = ["id", "link", "advocate", "channel", "created_at"]
    list_filter = ["program", "channel"]
    search_fields = ["id", "link__code", "advocate__email"]
    list_select_related = ["link", "advocate"]


class ConversionInline(admin.TabularInline):
    model = Conversion
    fields = ["order_id", "amount_minor", "currency", "status", "attributed", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "advocate", "program", "status", "rejection_reason", "created_at"]
    list_filter = ["status", "program"]
    search_fields = ["friend_email", "friend_external_id", "advocate__email"]
    list_select_related = ["advocate", "program"]
    inlines = [ConversionInline]


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ["amount_minor", "idempotency_key", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdmin):
    list_display = [
        "order_id",
        "program",
        "amount_minor",
        "currency",
        "attributed",
        "attribution_method",
        "advocate",
        "status",
        "occurred_at",
    ]
    list_filter = ["attributed", "attribution_method", "status", "program"]
    search_fields = ["order_id", "customer_email", "advocate__email"]
    list_select_related = ["program", "advocate"]
    inlines = [RefundInline]

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin
from advocacy.models import Advocate
from core.errors import ServiceError
from referrals.models import Click, Conversion, Referral, ReferralLink, Refund
from referrals.services import referral_link_save
from rewards import flows
from rewards.models import Reward
from rewards.selectors import reward_status

from .exports import CsvExportMixin
from .money import money_column, show_money


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
    list_display = ["id", "link", "advocate", "channel", "referrer_host", "created_at"]
    list_filter = ["program", "channel"]
    search_fields = ["id", "link__code", "advocate__email", "referrer_host"]
    list_select_related = ["link", "advocate"]


class ConversionInline(admin.TabularInline):
    model = Conversion
    fields = ["order_id", "amount", "status", "attributed", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    amount = money_column("amount_minor", "Amount")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Referral)
class ReferralAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = ["__str__", "advocate", "program", "status", "rejection_reason", "created_at"]
    list_filter = ["status", "program"]
    search_fields = ["friend_email", "friend_external_id", "advocate__email"]
    list_select_related = ["advocate", "program"]
    inlines = [ConversionInline]
    csv_fields = ["id", "program__slug", "advocate_id", "advocate__email", "friend_email",
                  "friend_external_id", "status", "rejection_reason", "created_at",
                  "converted_at"]  # fmt: skip


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ["amount", "idempotency_key", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount")
    def amount(self, obj):
        return show_money(obj.amount_minor, obj.conversion.currency)


class RewardInline(admin.TabularInline):
    """The rewards an order gave, and to whom."""

    model = Reward
    fk_name = "conversion"
    fields = ["link", "recipient_shown", "kind", "amount", "status_shown", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Rewards from this order"
    amount = money_column("amount_minor", "Amount")

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("advocate", "referral")

    @admin.display(description="Reward")
    def link(self, obj):
        url = reverse("admin:rewards_reward_change", args=[obj.pk])
        return format_html('<a href="{}">#{}</a>', url, obj.pk)

    @admin.display(description="Recipient")
    def recipient_shown(self, obj):
        if obj.recipient == Reward.Recipient.FRIEND and obj.referral_id:
            return f"Friend: {obj.referral}"
        return f"Advocate: {obj.advocate}"

    @admin.display(description="Status")
    def status_shown(self, obj):
        return reward_status(obj).replace("_", " ")


class AttributionForm(forms.Form):
    advocate = forms.ModelChoiceField(
        queryset=Advocate.objects.none(),
        required=False,
        help_text="The advocate who referred this order.",
    )
    referral_code = forms.CharField(
        max_length=32, required=False, help_text="Or their referral code."
    )
    reason = forms.CharField(max_length=200, help_text="Why: kept in the audit log.")

    def __init__(self, *args, program, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["advocate"].queryset = Advocate.objects.filter(program=program).order_by(
            "email"
        )

    def clean(self):
        data = super().clean()
        if not data.get("advocate") and not data.get("referral_code"):
            raise forms.ValidationError("Choose an advocate or give a referral code.")
        return data


@admin.register(Conversion)
class ConversionAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = [
        "order_id",
        "program",
        "amount",
        "attributed",
        "attribution_method",
        "advocate",
        "status",
        "occurred_at",
    ]
    list_filter = ["attributed", "attribution_method", "status", "program"]
    search_fields = ["order_id", "customer_email", "advocate__email"]
    list_select_related = ["program", "advocate"]
    inlines = [RewardInline, RefundInline]
    change_form_template = "admin/console/conversion/change_form.html"
    csv_fields = ["id", "program__slug", "order_id", "amount_minor", "refunded_minor",
                  "currency", "customer_email", "customer_external_id", "attributed",
                  "attribution_method", "attribution_reason", "advocate_id", "advocate__email",
                  "referral_id", "status", "source", "occurred_at", "created_at"]  # fmt: skip
    amount = money_column("amount_minor", "Amount")

    def get_urls(self):
        return [
            path(
                "<int:pk>/attribution/",
                self.admin_site.admin_view(self.attribution_view),
                name="referrals_conversion_attribution",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversion = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if conversion is not None:
            extra["may_override"] = not conversion.backfill and self.may_write(request, conversion)
        return super().change_view(request, object_id, form_url, extra)

    def attribution_view(self, request, pk):
        """Set who referred an order; the rules run again for the new advocate."""
        conversion = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.may_write(request, conversion) or not request.user.has_perm(
            "referrals.view_conversion"
        ):
            messages.error(request, "You may not change attribution in this program.")
            return redirect("admin:referrals_conversion_change", pk)
        form = AttributionForm(request.POST or None, program=conversion.program)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                _, changed = flows.conversion_reattribute(
                    program=conversion.program,
                    order_id=conversion.order_id,
                    advocate_id=data["advocate"].pk if data["advocate"] else None,
                    referral_code=data["referral_code"] or None,
                    reason=data["reason"],
                    actor=request.user,
                )
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                if changed:
                    messages.success(
                        request, "Attribution changed: old rewards reversed, rules applied again."
                    )
                else:
                    messages.info(request, "The order was already attributed to that advocate.")
                return redirect("admin:referrals_conversion_change", pk)
        context = {**self.admin_site.each_context(request), "form": form,
                   "conversion": conversion, "opts": self.model._meta,
                   "title": f"Change who referred order {conversion.order_id}"}  # fmt: skip
        return render(request, "admin/console/conversion/attribution.html", context)

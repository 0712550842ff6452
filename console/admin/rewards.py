import csv

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin, Role, managed_programs
from advocacy.models import Advocate
from core.errors import ServiceError
from core.money import CURRENCY_CHOICES, MoneyError, to_minor
from rewards import catalog, ledger, payouts, services
from rewards.coupons import coupon_pool_import
from rewards.models import (
    CatalogItem,
    CouponCode,
    CouponPool,
    LedgerEntry,
    Payout,
    PayoutAccount,
    Redemption,
    Reward,
    RewardDecision,
    RewardRule,
)


class PoolOfThisProgramForm(forms.ModelForm):
    """Refuses a coupon pool of another program (its codes would be handed out here)."""

    def clean(self):
        data = super().clean()
        pool, program = data.get("coupon_pool"), data.get("program")
        if pool is not None and program is not None and pool.program_id != program.pk:
            self.add_error("coupon_pool", "Choose a coupon pool of this program.")
        return data


class ConfigAdmin(ProgramScopedAdmin):
    """Program configuration (rules, pools, catalog): saved through its service, never deleted.

    Deactivate instead: rewards and redemptions keep pointing at what they came from.
    """

    form = PoolOfThisProgramForm
    save_service = None

    def save_model(self, request, obj, form, change):
        self.save_service(obj, actor=request.user, changed=form.changed_data)

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["created_at", "kind", "bucket", "amount_minor", "currency", "memo"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RewardRule)
class RewardRuleAdmin(ConfigAdmin):
    list_display = ["name", "program", "trigger", "recipient", "kind", "is_active"]
    list_filter = ["is_active", "trigger", "kind", "program"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["program", "name", "is_active"]}),
        ("When", {"fields": ["trigger", "min_order_minor", "max_purchases", "max_months",
                             "milestone_count"]}),
        ("What and to whom", {"fields": ["recipient", "kind", "amount_minor", "percent", "points",
                                         "coupon_percent_off", "coupon_pool",
                                         "stripe_promotion_codes", "perk_description"]}),
        ("Limits", {"fields": ["limit_per_day", "limit_per_month", "limit_lifetime", "hold_days",
                               "approval_above_minor"]}),
    ]  # fmt: skip

    @staticmethod
    def save_service(obj, **kwargs):
        services.reward_rule_save(rule=obj, **kwargs)


@admin.register(RewardDecision)
class RewardDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "advocate", "rule", "event", "recipient", "outcome", "reason"]
    list_filter = ["outcome", "event", "program"]
    search_fields = ["advocate__email", "reason", "conversion__order_id"]
    list_select_related = ["advocate", "rule"]


@admin.register(Reward)
class RewardAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "advocate",
        "recipient",
        "kind",
        "amount_minor",
        "reversed_minor",
        "currency",
        "status",
        "requires_approval",
        "approved_at",
        "available_at",
    ]
    list_filter = ["status", "kind", "recipient", "requires_approval", "program"]
    search_fields = ["advocate__email", "reason", "conversion__order_id", "coupon_code"]
    list_select_related = ["advocate", "program"]
    inlines = [LedgerEntryInline]
    actions = ["approve", "fulfil"]

    @admin.action(description="Approve selected rewards", permissions=["act"])
    def approve(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r: services.reward_approve(reward_id=r.pk, actor=request.user),
            "Approved {} reward(s).",
        )

    @admin.action(description="Mark selected perks fulfilled", permissions=["act"])
    def fulfil(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r: services.reward_fulfil(reward_id=r.pk, actor=request.user),
            "Fulfilled {} perk(s).",
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "advocate",
        "kind",
        "bucket",
        "amount_minor",
        "currency",
        "running_balance",
        "memo",
    ]
    list_filter = ["kind", "bucket", "currency", "program"]
    search_fields = ["advocate__email", "idempotency_key", "memo"]
    list_select_related = ["advocate"]

    def get_queryset(self, request):
        # Running balance per advocate, currency and bucket, in entry order.
        return ledger.with_running_balance(super().get_queryset(request))

    @admin.display(description="Balance after (bucket)")
    def running_balance(self, obj):
        return obj.balance


class CouponImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, one code per line (first column), UTF-8.")


class CouponCodeInline(admin.TabularInline):
    model = CouponCode
    fields = ["code", "assigned_at", "reward", "redemption"]
    readonly_fields = ["assigned_at", "reward", "redemption"]
    extra = 0
    show_change_link = False


@admin.register(CouponPool)
class CouponPoolAdmin(ConfigAdmin):
    list_display = ["name", "program", "codes_left", "codes_total", "import_link"]
    list_filter = ["program"]
    search_fields = ["name"]

    @staticmethod
    def save_service(obj, **kwargs):
        services.coupon_pool_save(pool=obj, **kwargs)

    def get_urls(self):
        return [
            path(
                "<int:pk>/import/",
                self.admin_site.admin_view(self.import_view),
                name="rewards_couponpool_import",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Left")
    def codes_left(self, obj):
        return obj.codes.filter(assigned_at__isnull=True).count()

    @admin.display(description="Total")
    def codes_total(self, obj):
        return obj.codes.count()

    @admin.display(description="")
    def import_link(self, obj):
        url = reverse("admin:rewards_couponpool_import", args=[obj.pk])
        return format_html('<a href="{}">Import CSV</a>', url)

    def import_view(self, request, pk):
        pool = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, pool):
            return redirect("admin:index")
        form = CouponImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                counts = coupon_pool_import(
                    pool=pool, data=form.cleaned_data["file"].read(), actor=request.user
                )
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"Added {counts['added']} code(s); {counts['duplicates']} already in the "
                    f"pool, {counts['invalid']} invalid.",
                )
                return redirect("admin:rewards_couponpool_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "pool": pool,
                   "title": f"Import codes into {pool}", "opts": self.model._meta}  # fmt: skip
        return render(request, "admin/rewards/couponpool/import.html", context)


@admin.register(CatalogItem)
class CatalogItemAdmin(ConfigAdmin):
    list_display = ["name", "program", "kind", "points_price", "stock", "is_active"]
    list_filter = ["kind", "is_active", "program"]
    search_fields = ["name"]

    @staticmethod
    def save_service(obj, **kwargs):
        services.catalog_item_save(item=obj, **kwargs)


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "advocate", "item", "points", "status", "coupon_code"]
    list_filter = ["status", "program"]
    search_fields = ["advocate__email", "coupon_code"]
    list_select_related = ["advocate", "item"]
    actions = ["fulfil", "cancel"]

    @admin.action(description="Mark fulfilled", permissions=["act"])
    def fulfil(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r: catalog.redemption_fulfil(redemption_id=r.pk, actor=request.user),
            "Fulfilled {} redemption(s).",
        )

    @admin.action(description="Cancel and return the points", permissions=["act"])
    def cancel(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r: catalog.redemption_cancel(redemption_id=r.pk, actor=request.user),
            "Cancelled {} redemption(s).",
        )


@admin.register(PayoutAccount)
class PayoutAccountAdmin(ReadOnlyAdmin):
    program_path = "advocate__program"
    list_display = ["advocate", "stripe_account_id", "payouts_enabled", "details_submitted"]
    list_filter = ["payouts_enabled"]
    search_fields = ["advocate__email", "stripe_account_id"]


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "advocate",
        "amount_minor",
        "currency",
        "status",
        "attempts",
        "stripe_transfer_id",
        "failure_reason",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "currency", "program"]
    search_fields = ["advocate__email", "stripe_transfer_id"]
    list_select_related = ["advocate"]
    inlines = [LedgerEntryInline]
    actions = ["approve", "retry", "export_csv"]

    @admin.action(description="Approve selected payouts", permissions=["act"])
    def approve(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda p: payouts.payout_approve(payout_id=p.pk, actor=request.user),
            "Approved {} payout(s); they are being sent.",
        )

    @admin.action(description="Retry sending (same Stripe idempotency key)", permissions=["act"])
    def retry(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda p: payouts.payout_retry(payout_id=p.pk, actor=request.user),
            "Queued {} payout(s) again.",
        )

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="payouts.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "id",
                "program",
                "advocate",
                "amount_minor",
                "currency",
                "status",
                "stripe_transfer_id",
                "failure_reason",
                "created_at",
                "sent_at",
            ]
        )
        for p in queryset.select_related("program", "advocate"):
            sent = p.sent_at.isoformat() if p.sent_at else ""
            writer.writerow(
                [
                    p.pk,
                    p.program.slug,
                    p.advocate.email,
                    p.amount_minor,
                    p.currency,
                    p.status,
                    p.stripe_transfer_id,
                    p.failure_reason,
                    p.created_at.isoformat(),
                    sent,
                ]
            )
        return response


class AdjustmentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, help_text="Positive credits, negative debits."
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES)
    reason = forms.CharField(max_length=200)


def adjustment_view(model_admin, request, pk):
    """``/admin/advocacy/advocate/<pk>/adjust/``: a manual ledger entry with a reason."""
    advocate = get_object_or_404(
        Advocate.objects.filter(program__in=managed_programs(request.user)), pk=pk
    )
    may_adjust = managed_programs(request.user, Role.MANAGER).filter(pk=advocate.program_id)
    if not request.user.has_perm("rewards.add_ledgerentry") or not may_adjust.exists():
        messages.error(request, "You may not adjust balances.")
        return redirect("admin:advocacy_advocate_change", pk)
    form = AdjustmentForm(request.POST or None, initial={"currency": advocate.program.currency})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            amount = to_minor(data["amount"], data["currency"])
            services.ledger_adjust(
                advocate=advocate,
                amount_minor=amount,
                currency=data["currency"],
                reason=data["reason"],
                actor=request.user,
            )
        except (ServiceError, MoneyError) as exc:
            form.add_error(None, str(getattr(exc, "message", exc)))
        else:
            messages.success(
                request, f"Adjusted {advocate} by {data['amount']} {data['currency']}."
            )
            return redirect("admin:advocacy_advocate_change", pk)
    context = {**model_admin.admin_site.each_context(request), "form": form, "advocate": advocate,
               "title": f"Adjust the balance of {advocate}", "opts": Advocate._meta}  # fmt: skip
    return render(request, "admin/advocacy/advocate/adjust.html", context)

import csv

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

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
    Perk,
    Redemption,
    Reward,
    RewardDecision,
    RewardRule,
)
from rewards.selectors import AWAITING_APPROVAL, reward_status

from .exports import CsvExportMixin
from .money import MoneyFormMixin, money_column, show_money


class PoolOfThisProgramForm(forms.ModelForm):
    """Refuses a coupon pool of another program (its codes would be handed out here)."""

    def clean(self):
        data = super().clean()
        pool, program = data.get("coupon_pool"), data.get("program")
        if pool is not None and program is not None and pool.program_id != program.pk:
            self.add_error("coupon_pool", "Choose a coupon pool of this program.")
        perk = data.get("perk")
        if perk is not None and program is not None and perk.program_id != program.pk:
            self.add_error("perk", "Choose a perk of this program.")
        early_access = data.get("kind") == CatalogItem.Kind.EARLY_ACCESS
        if early_access and "perk" in self.fields and perk is None:
            self.add_error("perk", "Choose the perk this item gives.")
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
    fields = ["created_at", "kind", "bucket", "amount", "memo"]
    readonly_fields = fields
    amount = money_column("amount_minor", "Amount")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RewardRuleForm(MoneyFormMixin, PoolOfThisProgramForm):
    """Amounts in the program's currency; each field explained for a marketer."""

    money_fields = ("amount_minor", "min_order_minor", "approval_above_minor")

    class Meta:
        model = RewardRule
        fields = "__all__"  # noqa: DJ007 - the admin names the fields
        labels = {
            "amount_minor": "Cash amount",
            "min_order_minor": "Minimum order",
            "approval_above_minor": "Approve rewards above",
        }
        help_texts = {
            "recipient": "Who gets this reward. A friend has no balance: friends get a "
            "coupon or a perk. For cash to the advocate AND a discount to the friend, make two "
            "rules (or use “Set up a program”, which makes both at once).",
            "trigger": "The moment the reward is earned.",
            "amount_minor": "Fixed cash for the advocate.",
            "min_order_minor": "Purchases: only orders of at least this amount; empty: any.",
            "approval_above_minor": "Cash rewards above this wait for your approval; empty: never.",
        }

    def money_currency(self, data=None):
        program = (data or {}).get("program") or self.instance.program
        return program.currency


@admin.register(RewardRule)
class RewardRuleAdmin(ConfigAdmin):
    form = RewardRuleForm
    list_display = ["name", "program", "trigger", "recipient", "kind", "amount", "is_active"]
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

    @admin.display(description="Amount")
    def amount(self, obj):
        if obj.kind == RewardRule.Kind.CASH:
            return show_money(obj.amount_minor, obj.program.currency)
        if obj.kind == RewardRule.Kind.COMMISSION:
            return f"{obj.percent}%"
        if obj.kind == RewardRule.Kind.POINTS:
            return f"{obj.points} pts"
        if obj.kind == RewardRule.Kind.COUPON:
            return f"{obj.coupon_percent_off}% off" if obj.coupon_percent_off else "pool code"
        return obj.perk_description

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("program")


@admin.register(RewardDecision)
class RewardDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "advocate", "rule", "event", "recipient", "outcome", "reason"]
    list_filter = ["outcome", "event", "program"]
    search_fields = ["advocate__email", "reason", "conversion__order_id"]
    list_select_related = ["advocate", "rule"]


class AwaitingApprovalFilter(admin.SimpleListFilter):
    title = "approval"
    parameter_name = "approval"

    def lookups(self, request, model_admin):
        return [("awaiting", "Awaiting approval"), ("approved", "Approved")]

    def queryset(self, request, queryset):
        if self.value() == "awaiting":
            return queryset.filter(
                requires_approval=True, approved_at__isnull=True, status=Reward.Status.PENDING
            )
        if self.value() == "approved":
            return queryset.filter(approved_at__isnull=False)
        return queryset


class VoidForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Why: kept in the ledger and the audit log.")


@admin.register(Reward)
class RewardAdmin(CsvExportMixin, ReadOnlyAdmin):
    # The status and its buttons first: on a phone the rest scrolls sideways.
    list_display = [
        "id",
        "status_shown",
        "buttons",
        "amount",
        "recipient_shown",
        "kind",
        "reversed",
        "available_at",
    ]
    list_filter = [AwaitingApprovalFilter, "status", "kind", "recipient", "program"]
    search_fields = ["advocate__email", "reason", "conversion__order_id", "coupon_code",
                     "referral__friend_email"]  # fmt: skip
    list_select_related = ["advocate", "program", "referral", "conversion"]
    readonly_fields = ["status_shown", "recipient_shown", "amount", "reversed", "conversion_link"]
    fields = ["program", "advocate", "recipient_shown", "kind", "amount", "reversed",
              "status_shown", "reason", "conversion_link", "rule", "coupon_code",
              "coupon_percent_off", "perk_description", "payout", "requires_approval",
              "approved_at", "approved_by", "available_at", "created_at"]  # fmt: skip
    inlines = [LedgerEntryInline]
    actions = ["approve", "reject", "fulfil"]
    change_form_template = "admin/console/reward/change_form.html"
    change_list_template = "admin/console/reward/change_list.html"
    csv_fields = ["id", "program__slug", "advocate__email", "recipient", "referral__friend_email",
                  "kind", "amount_minor", "reversed_minor", "currency", "status",
                  "requires_approval", "approved_at", "conversion__order_id", "reason",
                  "coupon_code", "available_at", "created_at"]  # fmt: skip

    amount = money_column("amount_minor", "Amount")
    reversed = money_column("reversed_minor", "Reversed")

    @admin.display(description="Recipient", ordering="recipient")
    def recipient_shown(self, obj):
        if obj.recipient == Reward.Recipient.FRIEND and obj.referral_id:
            return f"Friend: {obj.referral} (of {obj.advocate})"
        return f"Advocate: {obj.advocate}"

    @admin.display(description="Status", ordering="status")
    def status_shown(self, obj):
        status = reward_status(obj)
        if status == AWAITING_APPROVAL:
            return "Awaiting approval"
        return obj.get_status_display()

    @admin.display(description="Order")
    def conversion_link(self, obj):
        if not obj.conversion_id:
            return "—"
        url = reverse("admin:referrals_conversion_change", args=[obj.conversion_id])
        return format_html('<a href="{}">{}</a>', url, obj.conversion.order_id)

    @admin.display(description="")
    def buttons(self, obj):
        if reward_status(obj) != AWAITING_APPROVAL:
            return ""
        return format_html(
            '<span class="console-actions"><button type="submit" form="reward-act" '
            'formaction="{}" class="button">Approve</button><a class="button" href="{}">'
            "Reject</a></span>",
            reverse("admin:rewards_reward_approve", args=[obj.pk]),
            reverse("admin:rewards_reward_void", args=[obj.pk]) + "?reject=1",
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", view(require_POST(self.approve_view)),
                 name="rewards_reward_approve"),
            path("<int:pk>/void/", view(self.void_view), name="rewards_reward_void"),
            *super().get_urls(),
        ]  # fmt: skip

    def _writable_reward(self, request, pk):
        reward = get_object_or_404(self.get_queryset(request), pk=pk)
        if (
            not self.has_act_permission(request)
            or not self.writable(request, Reward.objects.filter(pk=pk)).exists()
        ):
            return reward, False
        return reward, True

    def approve_view(self, request, pk):
        reward, may = self._writable_reward(request, pk)
        if not may:
            messages.error(request, "You may not approve rewards of this program.")
        elif services.reward_approve(reward_id=reward.pk, actor=request.user):
            messages.success(request, f"Approved reward {reward.pk}.")
        else:
            messages.info(request, f"Reward {reward.pk} was not awaiting approval.")
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return redirect(back)
        return redirect("admin:rewards_reward_change", reward.pk)

    def void_view(self, request, pk):
        reward, may = self._writable_reward(request, pk)
        reject = bool(request.GET.get("reject") or request.POST.get("reject"))
        if not may:
            messages.error(request, "You may not void rewards of this program.")
            return redirect("admin:rewards_reward_change", pk)
        form = VoidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            done = services.reward_void(
                reward_id=reward.pk,
                reason=f"Rejected: {reason}" if reject else reason,
                actor=request.user,
                only_awaiting=reject,
            )
            if done:
                done_word = "rejected" if reject else "voided"
                messages.success(request, f"Reward {reward.pk} {done_word}.")
            else:
                messages.info(request, f"Reward {reward.pk} was already reversed or approved.")
            return redirect("admin:rewards_reward_change", pk)
        context = {**self.admin_site.each_context(request), "form": form, "reward": reward,
                   "reject": reject, "opts": self.model._meta,
                   "title": f"{'Reject' if reject else 'Void'} reward {reward.pk}"}  # fmt: skip
        return render(request, "admin/console/reward/void.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        reward = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if reward is not None:
            extra.update(
                awaiting=reward_status(reward) == AWAITING_APPROVAL,
                voidable=reward.status != Reward.Status.REVERSED,
            )
        return super().change_view(request, object_id, form_url, extra)

    @admin.action(description="Approve selected rewards", permissions=["act"])
    def approve(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r: services.reward_approve(reward_id=r.pk, actor=request.user),
            "Approved {} reward(s).",
        )

    @admin.action(description="Reject selected rewards awaiting approval", permissions=["act"])
    def reject(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r: services.reward_void(
                reward_id=r.pk, reason="Rejected by a manager", actor=request.user,
                only_awaiting=True,
            ),
            "Rejected {} reward(s).",
        )  # fmt: skip

    @admin.action(description="Mark selected perks fulfilled", permissions=["act"])
    def fulfil(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda r: services.reward_fulfil(reward_id=r.pk, actor=request.user),
            "Fulfilled {} perk(s).",
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "advocate",
        "kind",
        "bucket",
        "amount",
        "running_balance",
        "memo",
    ]
    list_filter = ["kind", "bucket", "currency", "program"]
    search_fields = ["advocate__email", "idempotency_key", "memo"]
    list_select_related = ["advocate"]
    csv_fields = ["id", "program__slug", "advocate__email", "kind", "bucket", "amount_minor",
                  "currency", "reward_id", "payout_id", "redemption_id", "memo",
                  "created_at"]  # fmt: skip

    amount = money_column("amount_minor", "Amount")

    def get_queryset(self, request):
        # Running balance per advocate, currency and bucket, in entry order.
        return ledger.with_running_balance(super().get_queryset(request))

    @admin.display(description="Balance after (bucket)")
    def running_balance(self, obj):
        return show_money(obj.balance, obj.currency)


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


class CatalogItemForm(MoneyFormMixin, PoolOfThisProgramForm):
    money_fields = ("store_credit_minor",)

    class Meta:
        model = CatalogItem
        fields = "__all__"  # noqa: DJ007 - the admin names the fields
        labels = {"store_credit_minor": "Store credit"}

    def money_currency(self, data=None):
        program = (data or {}).get("program") or self.instance.program
        return program.currency


@admin.register(CatalogItem)
class CatalogItemAdmin(ConfigAdmin):
    form = CatalogItemForm
    list_display = ["name", "program", "kind", "points_price", "stock", "is_active"]
    list_filter = ["kind", "is_active", "program"]
    search_fields = ["name"]

    @staticmethod
    def save_service(obj, **kwargs):
        services.catalog_item_save(item=obj, **kwargs)


@admin.register(Perk)
class PerkAdmin(ConfigAdmin):
    """Perks (early access to a drop or a sale, ...) that tiers, challenges and the
    catalog grant; the advocate gets the link or code in the portal and by email."""

    list_display = ["name", "program", "kind", "starts_at", "ends_at", "is_active", "granted"]
    list_filter = ["kind", "is_active", "program"]
    search_fields = ["name", "code"]

    @admin.display(description="Granted")
    def granted(self, obj):
        return obj.rewards.count()

    @staticmethod
    def save_service(obj, **kwargs):
        services.perk_save(perk=obj, **kwargs)


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
class PayoutAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = [
        "id",
        "advocate",
        "amount",
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
    amount = money_column("amount_minor", "Amount")
    csv_fields = ["id", "program__slug", "advocate__email", "amount_minor", "currency", "status",
                  "stripe_transfer_id", "failure_reason", "created_at", "sent_at"]  # fmt: skip

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

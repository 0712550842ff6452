"""The fraud review queue and each program's rules, scoped to the manager's programs."""

from django import forms
from django.contrib import admin

from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin

from . import services
from .checks import SIGNALS
from .models import Assessment, FraudPolicy, FraudRule


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "program",
        "subject",
        "advocate",
        "score",
        "decision",
        "review",
        "review_due_at",
        "reasons",
    ]
    list_filter = ["review", "decision", "program"]
    search_fields = ["referral__advocate__email", "referral__friend_email", "conversion__order_id"]
    list_select_related = ["program", "referral__advocate", "conversion"]
    readonly_fields = [
        "program",
        "referral",
        "conversion",
        "score",
        "decision",
        "reasons",
        "review",
        "review_due_at",
        "reviewed_at",
        "reviewed_by",
        "review_reason",
        "created_at",
    ]
    exclude = ["hits"]
    actions = ["approve", "reject"]

    @admin.display(description="For")
    def subject(self, obj):
        if obj.conversion_id:
            return f"order {obj.conversion.order_id}"
        return f"sign-up of {obj.referral}"

    @admin.display(description="Advocate")
    def advocate(self, obj):
        return obj.referral.advocate if obj.referral_id else "-"

    @admin.action(description="Approve: release the held rewards", permissions=["act"])
    def approve(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda a: services.review_decide(
                assessment_id=a.pk, approve=True, reason="approved by a manager", actor=request.user
            ),
            "Approved {} flagged item(s).",
        )

    @admin.action(description="Reject: reverse the held rewards", permissions=["act"])
    def reject(self, request, queryset):
        self.act_on_each(
            request,
            queryset,
            lambda a: services.review_decide(
                assessment_id=a.pk,
                approve=False,
                reason="rejected by a manager",
                actor=request.user,
            ),
            "Rejected {} flagged item(s).",
        )


class FraudRuleForm(forms.ModelForm):
    signal = forms.ChoiceField(
        choices=[(name, f"{name}: {s.description}") for name, s in SIGNALS.items()]
    )

    class Meta:
        model = FraudRule
        fields = ["program", "signal", "action", "threshold"]

    def clean(self):
        data = super().clean()
        signal = SIGNALS.get(data.get("signal"))
        if signal and signal.threshold is None and data.get("threshold") is not None:
            self.add_error("threshold", "This signal has no threshold.")
        return data


@admin.register(FraudRule)
class FraudRuleAdmin(ProgramScopedAdmin):
    form = FraudRuleForm
    list_display = ["program", "signal", "action", "threshold"]
    list_filter = ["program", "action"]

    def save_model(self, request, obj, form, change):
        services.fraud_config_save(obj=obj, actor=request.user, changed=form.changed_data)


@admin.register(FraudPolicy)
class FraudPolicyAdmin(ProgramScopedAdmin):
    list_display = ["program", "review_deadline_days", "unreviewed"]

    def save_model(self, request, obj, form, change):
        services.fraud_config_save(obj=obj, actor=request.user, changed=form.changed_data)

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from advocacy.admin_scope import ProgramScopedAdmin, ReadOnlyAdmin, managed_programs
from core.errors import ServiceError

from . import services
from .models import (
    EVENT_TYPE_CHOICES,
    StripeEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text=WebhookEndpoint._meta.get_field("url").help_text,
    )
    event_types = forms.MultipleChoiceField(
        choices=EVENT_TYPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None selected: every event type, including ones added later.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["program", "url", "event_types", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ProgramScopedAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "program", "is_active", "subscribed_to", "created_at"]
    list_filter = ["is_active", "program"]
    search_fields = ["url"]
    list_select_related = ["program"]
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):
        fields = ["program", "url", "event_types", "is_active"]
        # The secret is generated on creation and shown from then on, for the merchant to copy.
        return [*fields, "secret", "created_at"] if obj else fields

    def get_readonly_fields(self, request, obj=None):
        return ["secret", "created_at"] if obj else []

    @admin.display(description="Events")
    def subscribed_to(self, obj):
        return ", ".join(obj.event_types) or "all"

    def save_model(self, request, obj, form, change):
        services.endpoint_save(endpoint=obj, actor=request.user, changed=form.changed_data)

    def has_delete_permission(self, request, obj=None):
        return False  # its deliveries are the merchant's history: deactivate it instead

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        queryset = self.writable(request, queryset)
        for endpoint in queryset:
            services.endpoint_secret_rotate(endpoint_id=endpoint.pk, actor=request.user)
        self.message_user(
            request, f"New secret for {queryset.count()} endpoint(s): update the receivers."
        )


class ManagedEndpointFilter(admin.RelatedFieldListFilter):
    """The endpoint sidebar filter, naming only the manager's own endpoints."""

    def field_choices(self, field, request, model_admin):
        endpoints = WebhookEndpoint.objects.filter(program__in=managed_programs(request.user))
        return [(e.pk, str(e)) for e in endpoints]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["started_at", "duration_ms", "status_code", "error", "response_excerpt"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _pretty_json(data) -> str:
    return format_html("<pre>{}</pre>", json.dumps(data, indent=2, ensure_ascii=False))


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    program_path = "endpoint__program"
    list_display = [
        "created_at",
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event__type", ("endpoint", ManagedEndpointFilter)]
    search_fields = ["event__public_id", "endpoint__url"]
    list_select_related = ["event", "endpoint"]
    fields = [
        "event_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_status_code",
        "last_error",
        "last_response",
        "payload",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["resend"]

    @admin.display(description="Event", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="Event id")
    def event_id(self, obj):
        return obj.event.public_id

    @admin.display(description="Data")
    def payload(self, obj):
        return _pretty_json(obj.event.data)

    def has_resend_permission(self, request):
        return request.user.has_perm("integrations.change_webhookdelivery") and self.may_write(
            request
        )

    @admin.action(description="Resend selected deliveries", permissions=["resend"])
    def resend(self, request, queryset):
        sent = skipped = 0
        for delivery in self.writable(request, queryset):
            try:
                if services.delivery_resend(delivery_id=delivery.pk, actor=request.user):
                    sent += 1
                else:
                    skipped += 1
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, f"Resending {sent} delivery(ies).")
        if skipped:
            self.message_user(
                request, f"{skipped} still pending: already scheduled.", messages.WARNING
            )


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["endpoint", "status", "attempts", "last_status_code", "delivered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "public_id", "type", "program"]
    list_filter = ["type", "program"]
    search_fields = ["public_id"]
    list_select_related = ["program"]
    fields = ["public_id", "type", "program", "created_at", "payload"]
    readonly_fields = fields
    inlines = [WebhookDeliveryInline]

    @admin.display(description="Data")
    def payload(self, obj):
        return _pretty_json(obj.data)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "program", "created", "received_at", "processed_at", "result"]
    list_filter = ["type", "program"]
    search_fields = ["id", "type"]

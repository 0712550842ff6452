"""The webhook admin: endpoints with their secret, read-only deliveries, resend, scoping."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from advocacy.models import AuditLog, ProgramMembership
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import delivery_attempt, event_emit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def url(model, view: str, *args) -> str:
    return reverse(f"admin:integrations_{model._meta.model_name}_{view}", args=args)


def delivered(endpoint) -> WebhookDelivery:
    event = event_emit(program=endpoint.program, type="reward.issued", data={"reward": {"id": 1}})
    delivery = event.deliveries.get()
    assert delivery_attempt(delivery_id=delivery.pk) == "delivered"
    return delivery


def manager(username: str, program):
    user = UserFactory(username=username, is_staff=True)
    ProgramMembership.objects.create(program=program, user=user)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="integrations"))
    return user


def resend(client, *deliveries):
    return client.post(
        url(WebhookDelivery, "changelist"),
        {"action": "resend", "_selected_action": [d.pk for d in deliveries]},
    )


def test_resend_from_the_admin_delivers_again(
    admin_client, endpoint, receiver, django_capture_on_commit_callbacks
):
    delivery = delivered(endpoint)

    with django_capture_on_commit_callbacks(execute=True):
        response = resend(admin_client, delivery)

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert delivery.attempt_log.count() == 2
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    log = AuditLog.objects.get(action="webhook_delivery.resent")
    assert log.data == {"event": delivery.event.public_id, "previous_status": "delivered"}
    assert log.actor.username == "admin"


def test_resending_a_pending_delivery_changes_nothing(admin_client, endpoint, receiver):
    delivery = event_emit(program=endpoint.program, type="payout.paid", data={}).deliveries.get()

    response = resend(admin_client, delivery)

    assert response.status_code == 302
    assert receiver.requests == []
    assert not AuditLog.objects.filter(action="webhook_delivery.resent").exists()


def test_a_delivery_page_shows_its_attempts(admin_client, endpoint, receiver):
    receiver.fail_first = 1
    delivery = event_emit(program=endpoint.program, type="payout.paid", data={}).deliveries.get()
    delivery_attempt(delivery_id=delivery.pk)

    page = admin_client.get(url(WebhookDelivery, "change", delivery.pk))

    assert page.status_code == 200
    assert b"try again later" in page.content
    assert b"HTTP 500." in page.content
    changelist = admin_client.get(url(WebhookDelivery, "changelist"), {"status": "pending"})
    assert changelist.context["cl"].result_count == 1


def test_an_endpoint_added_in_the_admin_gets_a_secret_to_copy(admin_client, program):
    response = admin_client.post(
        url(WebhookEndpoint, "add"),
        {
            "program": program.pk,
            "url": "https://shop.example.com/advocacy-hooks",
            "event_types": ["reward.issued", "payout.paid"],
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["reward.issued", "payout.paid"]
    assert endpoint.secret.startswith("whsec_")
    page = admin_client.get(url(WebhookEndpoint, "change", endpoint.pk))
    assert endpoint.secret.encode() in page.content
    assert b'name="secret"' not in page.content  # shown, not editable
    assert AuditLog.objects.filter(action="webhook_endpoint.created").count() == 1


def test_an_endpoint_with_an_unknown_scheme_is_refused(admin_client, program):
    response = admin_client.post(
        url(WebhookEndpoint, "add"),
        {"program": program.pk, "url": "ftp://shop.example.com/", "is_active": "on"},
    )

    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def test_rotating_the_secret_signs_with_the_new_one(admin_client, endpoint):
    old = endpoint.secret

    admin_client.post(
        url(WebhookEndpoint, "changelist"),
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
    )

    endpoint.refresh_from_db()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret != old
    assert AuditLog.objects.filter(action="webhook_endpoint.secret_rotated").count() == 1


def test_another_programs_manager_cannot_see_or_resend_deliveries(
    client, program, other_program, endpoint, receiver, django_capture_on_commit_callbacks
):
    delivery = delivered(endpoint)
    alice = manager("alice", program)
    bob = manager("bob", other_program[0])

    client.force_login(alice)
    assert client.get(url(WebhookDelivery, "changelist")).context["cl"].result_count == 1
    assert client.get(url(WebhookDelivery, "change", delivery.pk)).status_code == 200

    client.force_login(bob)
    changelist = client.get(url(WebhookDelivery, "changelist"))
    assert changelist.context["cl"].result_count == 0
    assert endpoint.url.encode() not in changelist.content  # not even in the endpoint filter
    assert client.get(url(WebhookDelivery, "change", delivery.pk)).status_code == 302
    assert client.get(url(WebhookEndpoint, "changelist")).context["cl"].result_count == 0
    assert client.get(url(WebhookEndpoint, "change", endpoint.pk)).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        resend(client, delivery)
    assert len(receiver.requests) == 1
    assert not AuditLog.objects.filter(action="webhook_delivery.resent").exists()

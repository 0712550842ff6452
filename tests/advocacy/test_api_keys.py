"""API keys: rotation with an overlap, and scopes enforced by the API's authentication."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from advocacy.models import ApiKey, AuditLog, ProgramMembership
from advocacy.services import api_key_create, api_key_rotate, api_key_set_scopes
from core.errors import ServiceError
from tests.factories import UserFactory


def _client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _conversion(client, order_id: str):
    return client.post(
        "/api/v1/conversions",
        {"order_id": order_id, "amount": "10.00", "currency": "EUR",
         "customer": {"email": f"{order_id}@example.com"}},
        format="json",
    )  # fmt: skip


# ---------------------------------------------------------------- rotation


def test_a_rotated_key_keeps_working_through_the_overlap_then_stops(program, secret_key, settings):
    settings.API_KEY_ROTATION_OVERLAP_HOURS = 24
    old = ApiKey.objects.get(program=program, kind="secret")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        new, raw = api_key_rotate(key=old)
        assert raw.startswith("sk_") and raw != secret_key
        assert (new.kind, new.name, new.scopes) == (old.kind, old.name, old.scopes)
        assert _client(secret_key).get("/api/v1/advocates").status_code == 200
        assert _client(raw).get("/api/v1/advocates").status_code == 200
    old.refresh_from_db()
    assert old.expires_at == start + timedelta(hours=24)
    assert old.replaced_by == new
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert _client(secret_key).get("/api/v1/advocates").status_code == 200
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        answer = _client(secret_key).get("/api/v1/advocates")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "invalid_api_key"
        assert _client(raw).get("/api/v1/advocates").status_code == 200
    rotated = AuditLog.objects.get(action="api_key.rotated", object_id=str(old.pk))
    assert rotated.data["replaced_by"] == new.prefix


def test_a_key_is_rotated_once_and_a_revoked_key_not_at_all(program):
    old = ApiKey.objects.get(program=program, kind="secret")
    api_key_rotate(key=old, overlap=timedelta(hours=1))
    with pytest.raises(ServiceError) as rotated:
        api_key_rotate(key=old)
    assert rotated.value.code == "key_rotated"
    publishable = ApiKey.objects.get(program=program, kind="publishable")
    publishable.revoked_at = timezone.now()
    publishable.save()
    with pytest.raises(ServiceError) as revoked:
        api_key_rotate(key=publishable)
    assert revoked.value.code == "key_inactive"


def test_a_zero_overlap_stops_the_old_key_at_once(program, secret_key):
    old = ApiKey.objects.get(program=program, kind="secret")
    _, raw = api_key_rotate(key=old, overlap=timedelta(0))
    assert _client(secret_key).get("/api/v1/advocates").status_code == 401
    assert _client(raw).get("/api/v1/advocates").status_code == 200


# ---------------------------------------------------------------- scopes


def test_a_conversions_key_records_orders_and_nothing_else(program):
    _, raw = api_key_create(program=program, kind="secret", scopes=["conversions:write"])
    client = _client(raw)
    assert _conversion(client, "S-1").status_code == 201
    assert client.post("/api/v1/conversions/S-1/refunds", {}, format="json").status_code == 201
    for answer in [
        client.get("/api/v1/advocates"),
        client.post("/api/v1/advocates", {"email": "x@example.com"}, format="json"),
        client.post("/api/v1/referrals", {"friend": {"email": "f@example.com"}}, format="json"),
    ]:
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "scope_missing"


def test_a_read_key_reads_and_changes_nothing(program, advocate):
    _, raw = api_key_create(program=program, kind="secret", scopes=["read"])
    client = _client(raw)
    assert client.get("/api/v1/advocates").status_code == 200
    assert client.get(f"/api/v1/advocates/{advocate.pk}").status_code == 200
    denied = _conversion(client, "R-1")
    assert denied.status_code == 403
    assert "conversions:write" in denied.json()["error"]["message"]
    assert not program.conversions.exists()
    # Everything else that writes needs "actions".
    campaign = client.post("/api/v1/campaigns", {"name": "x", "customers": []}, format="json")
    assert campaign.status_code == 403


def test_scopes_combine_and_full_allows_everything(program, advocate):
    _, raw = api_key_create(
        program=program, kind="secret", scopes=["read", "advocates:write", "referrals:write"]
    )
    client = _client(raw)
    assert (
        client.post("/api/v1/advocates", {"email": "n@example.com"}, format="json").status_code
        == 201
    )
    assert _conversion(client, "C-1").status_code == 403
    key = ApiKey.objects.get(prefix=raw[:10])
    api_key_set_scopes(key=key, scopes=["full"])
    assert _conversion(client, "C-1").status_code == 201
    changed = AuditLog.objects.get(action="api_key.scopes_changed", object_id=str(key.pk))
    assert changed.data["after"] == ["full"]


def test_unknown_or_no_scopes_are_refused(program):
    for scopes in (["everything"], []):
        with pytest.raises(ServiceError) as error:
            api_key_create(program=program, kind="secret", scopes=scopes)
        assert error.value.code == "invalid_scopes"


def test_a_publishable_key_is_unaffected_by_scopes(program, publishable_key):
    key = ApiKey.objects.get(program=program, kind="publishable")
    assert key.scopes == ["full"]
    answer = _client(publishable_key).post("/api/v1/conversions", {}, format="json")
    assert answer.json()["error"]["code"] == "secret_key_required"


# ---------------------------------------------------------------- admin


@pytest.fixture
def owner(client, program):
    user = UserFactory(username="olga", is_staff=True)
    ProgramMembership.objects.create(program=program, user=user, role=ProgramMembership.Role.OWNER)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="advocacy"))
    client.force_login(user)
    return client


def test_a_manager_creates_a_scoped_key_and_rotates_it_in_the_admin(owner, program):
    response = owner.post(
        reverse("admin:advocacy_apikey_add"),
        {
            "program": program.pk,
            "kind": "secret",
            "name": "orders",
            "scopes": ["conversions:write"],
        },
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(program=program, name="orders")
    assert key.scopes == ["conversions:write"]
    response = owner.post(
        reverse("admin:advocacy_apikey_changelist"),
        {"action": "rotate", "_selected_action": [key.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "rotated: the new key is <code>sk_" in page
    key.refresh_from_db()
    assert key.expires_at is not None and key.replaced_by.scopes == ["conversions:write"]
    raw = page.split("the new key is <code>")[1].split("</code>")[0]
    assert _conversion(_client(raw), "A-1").status_code == 201

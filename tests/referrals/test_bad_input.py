"""The API's bad-input contract: every error is ``{"error": {...}}`` JSON, 4xx, changes nothing."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from advocacy.models import Advocate, ApiKey, AuditLog
from advocacy.services import api_key_revoke
from referrals.models import Click, Conversion, IdempotencyRecord, Referral, Refund
from referrals.services import click_record
from rewards.models import LedgerEntry, Reward, RewardRule
from tests.factories import enroll
from tests.helpers import post_conversion

COUNTED = [
    Conversion,
    Referral,
    Advocate,
    Reward,
    LedgerEntry,
    IdempotencyRecord,
    Refund,
    Click,
    AuditLog,
]


class _Missing:
    """A field left out of the body (a stable repr keeps xdist's test ids identical)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
NEW_ORDER = "NEW-1"
CONVERSION = {
    "order_id": NEW_ORDER,
    "amount": "49.90",
    "currency": "EUR",
    "customer": {"email": "nora@example.com"},
}
ADVOCATE = {"email": "kari@example.com", "name": "Kari"}
LONG_EMAIL = "a" * 288 + "@example.com"  # 300 characters


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def rewards_state() -> list[tuple]:
    return list(
        Reward.objects.order_by("pk").values_list("pk", "status", "amount_minor", "reversed_minor")
    )


def client(key: str | None = None, **headers) -> APIClient:
    """A client that answers 500 instead of raising, so a crash shows as a status."""
    c = APIClient(raise_request_exception=False)
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    c.credentials(**headers)
    return c


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    if "fields" in error:
        assert isinstance(error["fields"], dict) and error["fields"], error
        for messages in error["fields"].values():
            assert messages and all(isinstance(m, str) for m in messages), error
    if field is not None:
        fields = error.get("fields") or {}
        assert any(k == field or k.startswith(field + ".") for k in fields), error
    return error


def with_changes(base: dict, changes: dict) -> dict:
    body = {**base}
    for key, value in changes.items():
        if value is MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@pytest.fixture
def world(program, secret_key, advocate, link):
    """One attributed order (``ORDER-1``, 49.90 EUR) with its pending reward and ledger entry."""
    response = client(secret_key).post(
        "/api/v1/conversions",
        {
            "order_id": "ORDER-1",
            "amount": "49.90",
            "currency": "EUR",
            "customer": {"email": "friend@example.com"},
            "referral_code": link.code,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["attributed"] is True
    assert Reward.objects.exists() and LedgerEntry.objects.exists()
    return response.json()


@pytest.fixture
def sk(world, secret_key):
    return client(secret_key)


ENDPOINTS = {
    "conversions": ("/api/v1/conversions", CONVERSION),
    "advocates": ("/api/v1/advocates", ADVOCATE),
    "referrals": (
        "/api/v1/referrals",
        {"referral_code": "FILLED-IN", "friend": {"email": "nora@example.com"}},
    ),
    "refunds": ("/api/v1/conversions/ORDER-1/refunds", {"amount": "1.00"}),
}


def _body(name: str, link) -> dict:
    body = ENDPOINTS[name][1]
    if name == "referrals":
        body = {**body, "referral_code": link.code}
    return body


# --- the body is not a JSON object --------------------------------------------------


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"order_id": "X",', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b'{"amount": NaN}', "malformed_json"),
        (b'{"a": 1}{"b": 2}', "malformed_json"),
        (b"\xff\xfe{}", "malformed_json"),
        (b"[]", "validation_error"),
        (b'[{"order_id": "X"}]', "validation_error"),
        (b'"a string"', "validation_error"),
        (b"42", "validation_error"),
        (b"null", "validation_error"),
    ],
    ids=[
        "truncated",
        "text",
        "nan-literal",
        "two-docs",
        "bad-utf8",
        "empty-array",
        "array",
        "string",
        "number",
        "null",
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(sk, endpoint, raw, code):
    path, _ = ENDPOINTS[endpoint]
    before = counts()
    response = sk.post(path, raw, content_type="application/json")
    assert_error(response, 400, code)
    assert counts() == before
    assert Conversion.objects.get(order_id="ORDER-1").refunded_minor == 0


@pytest.mark.parametrize("endpoint", ["conversions", "referrals"])
def test_deeply_nested_json_is_400(sk, endpoint):
    path, _ = ENDPOINTS[endpoint]
    before = counts()
    response = sk.post(path, b"[" * 100_000, content_type="application/json")
    assert_error(response, 400, "malformed_json")
    assert counts() == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"]
)
def test_a_body_that_is_not_json_is_415(sk, endpoint, content_type):
    path, _ = ENDPOINTS[endpoint]
    before = counts()
    response = sk.post(path, b"order_id=X&amount=1&email=a@example.com", content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert counts() == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_wrong_method_is_405_json(sk, endpoint):
    path, _ = ENDPOINTS[endpoint]
    before = counts()
    response = sk.put(path, {}, format="json")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]
    assert counts() == before


# --- conversions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        # wrong types
        ({"amount": 49.9}, "amount"),
        ({"amount": 49}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": None}, "amount"),
        ({"amount": ["49.90"]}, "amount"),
        ({"order_id": {"id": 1}}, "order_id"),
        ({"order_id": ["A"]}, "order_id"),
        ({"order_id": None}, "order_id"),
        ({"currency": 978}, "currency"),
        ({"customer": "nora@example.com"}, "customer"),
        ({"customer": ["nora@example.com"]}, "customer"),
        ({"customer": None}, "customer"),
        ({"customer": {"email": ["nora@example.com"]}}, "customer.email"),
        ({"referral_code": ["ABC"]}, "referral_code"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        # missing required fields
        ({"order_id": MISSING}, "order_id"),
        ({"amount": MISSING}, "amount"),
        ({"currency": MISSING}, "currency"),
        # blank values
        ({"order_id": ""}, "order_id"),
        ({"order_id": "   "}, "order_id"),
        ({"amount": ""}, "amount"),
        ({"referral_code": ""}, "referral_code"),
        # amounts
        ({"amount": "-5"}, "amount"),
        ({"amount": "-0.01"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "10000000.01"}, "amount"),
        ({"amount": "1e8"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "0.001"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "sNaN"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": "-Infinity"}, "amount"),
        ({"amount": "inf"}, "amount"),
        ({"amount": "49,90"}, "amount"),
        ({"amount": "49.90 EUR"}, "amount"),
        ({"amount": "1.5", "currency": "JPY"}, "amount"),
        # currencies
        ({"currency": "XXX"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "E"}, "currency"),
        # over-long and odd strings
        ({"order_id": "x" * 121}, "order_id"),
        ({"order_id": "A\x00B"}, "order_id"),
        ({"amount": "1" * 21}, "amount"),
        ({"customer": {"email": LONG_EMAIL}}, "customer.email"),
        ({"customer": {"email": "not-an-email"}}, "customer.email"),
        ({"customer": {"external_id": "x" * 121}}, "customer.external_id"),
        ({"referral_code": "X" * 100}, "referral_code"),
        ({"coupon_code": "X" * 41}, "coupon_code"),
        ({"click_id": "not-a-uuid"}, "click_id"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else v,
)
def test_a_conversion_with_invalid_fields_is_400(sk, changes, field):
    before = counts()
    response = sk.post("/api/v1/conversions", with_changes(CONVERSION, changes), format="json")
    assert_error(response, 400, "validation_error", field)
    assert counts() == before
    assert not Conversion.objects.filter(order_id__in=[NEW_ORDER, "x" * 121]).exists()


@pytest.mark.parametrize("amount", ["1e30", "-1E+30", "9.9e99"])
def test_an_absurdly_large_conversion_amount_is_400(sk, amount):
    before = counts()
    response = sk.post(
        "/api/v1/conversions", with_changes(CONVERSION, {"amount": amount}), format="json"
    )
    assert_error(response, 400, "validation_error", "amount")
    assert counts() == before


def test_an_unknown_referral_code_is_422(sk, other_program):
    for code in ["NOPE2345", enroll(other_program[0], "olga@example.com").links.get().code]:
        before = counts()
        response = sk.post(
            "/api/v1/conversions", {**CONVERSION, "referral_code": code}, format="json"
        )
        assert_error(response, 422, "unknown_referral_code", "referral_code")
        assert counts() == before
        assert not Conversion.objects.filter(order_id=NEW_ORDER).exists()


def test_an_unknown_click_id_is_422(sk, other_program):
    stranger_link = enroll(other_program[0], "olga@example.com").links.get()
    for click_id in [uuid.uuid4(), click_record(link=stranger_link)]:
        before = counts()
        response = sk.post(
            "/api/v1/conversions", {**CONVERSION, "click_id": str(click_id)}, format="json"
        )
        assert_error(response, 422, "unknown_click", "click_id")
        assert counts() == before
        assert not Conversion.objects.filter(order_id=NEW_ORDER).exists()


def test_the_same_order_with_a_different_body_is_409_and_the_first_is_unchanged(sk, world, link):
    first = Conversion.objects.get(order_id="ORDER-1")
    before, rewards_before = counts(), rewards_state()
    for changes in [
        {"amount": "99.00"},
        {"currency": "USD"},
        {"customer": {"email": "someone-else@example.com"}},
        {"referral_code": "NOPE2345"},
    ]:
        body = {
            "order_id": "ORDER-1",
            "amount": "49.90",
            "currency": "EUR",
            "customer": {"email": "friend@example.com"},
            "referral_code": link.code,
            **changes,
        }
        assert_error(sk.post("/api/v1/conversions", body, format="json"), 409, "order_conflict")
    assert counts() == before
    again = Conversion.objects.get(order_id="ORDER-1")
    assert (again.amount_minor, again.currency, again.customer_email) == (
        first.amount_minor,
        first.currency,
        first.customer_email,
    )
    assert again.request_fingerprint == first.request_fingerprint
    assert rewards_state() == rewards_before
    assert [r["id"] for r in world["rewards"]] == list(
        again.rewards.order_by("pk").values_list("pk", flat=True)
    )


def test_an_idempotency_key_reused_with_a_different_body_is_409(sk):
    first = sk.post("/api/v1/conversions", CONVERSION, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    before = counts()
    response = sk.post(
        "/api/v1/conversions",
        {**CONVERSION, "order_id": "NEW-2"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert_error(response, 409, "idempotency_key_reused")
    assert counts() == before
    assert not Conversion.objects.filter(order_id="NEW-2").exists()
    # The key is not reusable on another route either.
    response = sk.post(
        "/api/v1/conversions/ORDER-1/refunds", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert_error(response, 409, "idempotency_key_reused")
    assert counts() == before


@pytest.mark.parametrize("key", ["x" * 201, "   "])
def test_an_invalid_idempotency_key_is_400(sk, key):
    before = counts()
    for path, body in [
        ("/api/v1/conversions", CONVERSION),
        ("/api/v1/conversions/ORDER-1/refunds", {}),
    ]:
        response = sk.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert_error(response, 400, "invalid_idempotency_key")
    assert counts() == before


# --- advocates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": MISSING}, "email"),
        ({"email": ""}, "email"),
        ({"email": None}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ["kari@example.com"]}, "email"),
        ({"email": {"address": "kari@example.com"}}, "email"),
        ({"email": LONG_EMAIL}, "email"),
        ({"name": "x" * 121}, "name"),
        ({"name": ["Kari"]}, "name"),
        ({"name": "Ka\x00ri"}, "name"),
        ({"external_id": {"id": 1}}, "external_id"),
        ({"external_id": "x" * 121}, "external_id"),
        ({"locale": "x" * 11}, "locale"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else v,
)
def test_an_advocate_with_invalid_fields_is_400(sk, changes, field):
    before = counts()
    response = sk.post("/api/v1/advocates", with_changes(ADVOCATE, changes), format="json")
    assert_error(response, 400, "validation_error", field)
    assert counts() == before


def test_an_external_id_already_taken_is_409(sk, advocate):
    before = counts()
    response = sk.post(
        "/api/v1/advocates", {**ADVOCATE, "external_id": advocate.external_id}, format="json"
    )
    assert_error(response, 409, "external_id_taken", "external_id")
    assert counts() == before


@pytest.mark.parametrize("advocate_id", ["abc", "0", "-1", "1.5", "99999999999999999999999"])
def test_an_odd_advocate_id_is_404(sk, advocate_id):
    response = sk.get(f"/api/v1/advocates/{advocate_id}")
    assert_error(response, 404, "advocate_not_found")


def test_another_programs_key_never_reads_this_programs_advocate(world, advocate, other_program):
    before = counts()
    response = client(other_program[1]).get(f"/api/v1/advocates/{advocate.pk}")
    assert_error(response, 404, "advocate_not_found")
    text = response.content.decode()
    assert advocate.email not in text and advocate.coupon_code not in text
    assert counts() == before


# --- referrals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"friend": MISSING}, "friend"),
        ({"friend": None}, "friend"),
        ({"friend": ["nora@example.com"]}, "friend"),
        ({"friend": "nora@example.com"}, "friend"),
        ({"friend": {}}, "friend"),
        ({"friend": {"email": ""}}, "friend"),
        ({"friend": {"email": "not-an-email"}}, "friend.email"),
        ({"friend": {"email": LONG_EMAIL}}, "friend.email"),
        ({"friend": {"email": "nora@example.com", "name": "x" * 121}}, "friend.name"),
        ({"friend": {"external_id": "x" * 121}}, "friend.external_id"),
        ({"friend": {"external_id": ""}}, "friend.external_id"),
        ({"referral_code": MISSING}, "non_field_errors"),
        ({"referral_code": None}, "non_field_errors"),
        ({"referral_code": "X" * 100}, "referral_code"),
        ({"referral_code": ["ABC"]}, "referral_code"),
        ({"referral_code": MISSING, "click_id": "not-a-uuid"}, "click_id"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else v,
)
def test_a_referral_with_invalid_fields_is_400(sk, link, changes, field):
    body = with_changes(
        {"referral_code": link.code, "friend": {"email": "nora@example.com"}}, changes
    )
    before = counts()
    response = sk.post("/api/v1/referrals", body, format="json")
    assert_error(response, 400, "validation_error", field)
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"referral_code": "NOPE2345"}, 422, "unknown_referral_code", "referral_code"),
        ({"click_id": "3f2c8a9e-4b7d-4e1a-9c55-2d6f0b1a7e90"}, 422, "unknown_click", "click_id"),
        ({"click_id": "3f2c8a9e-4b7d"}, 400, "validation_error", "click_id"),
    ],
)
def test_a_referral_with_an_unknown_code_or_click(sk, publishable_key, body, status, code, field):
    body = {**body, "friend": {"email": "nora@example.com"}}
    for c in [sk, client(publishable_key)]:
        before = counts()
        response = c.post("/api/v1/referrals", body, format="json")
        assert_error(response, status, code, field)
        assert counts() == before


# --- refunds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "49.91"}, 422, "refund_exceeds_order"),
        ({"amount": "1000000.00"}, 422, "refund_exceeds_order"),
        ({"amount": "-1.00"}, 400, "validation_error"),
        ({"amount": "0"}, 400, "validation_error"),
        ({"amount": "1.001"}, 400, "validation_error"),
        ({"amount": "NaN"}, 400, "validation_error"),
        ({"amount": "Infinity"}, 400, "validation_error"),
        ({"amount": "ten"}, 400, "validation_error"),
        ({"amount": ""}, 400, "validation_error"),
        ({"amount": "10000000.01"}, 400, "validation_error"),
        ({"amount": ["1.00"]}, 400, "validation_error"),
        ({"amount": {"value": "1.00"}}, 400, "validation_error"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, dict) else v,
)
def test_a_bad_refund_is_rejected_and_reverses_nothing(sk, body, status, code):
    before, rewards_before = counts(), rewards_state()
    response = sk.post("/api/v1/conversions/ORDER-1/refunds", body, format="json")
    assert_error(response, status, code, "amount")
    assert counts() == before
    conversion = Conversion.objects.get(order_id="ORDER-1")
    assert (conversion.refunded_minor, conversion.status) == (0, "completed")
    assert rewards_state() == rewards_before
    assert {r[1] for r in rewards_before} == {"pending"}


def test_a_refund_larger_than_what_is_left_is_422(sk):
    assert (
        sk.post(
            "/api/v1/conversions/ORDER-1/refunds", {"amount": "40.00"}, format="json"
        ).status_code
        == 201
    )
    before = counts()
    response = sk.post("/api/v1/conversions/ORDER-1/refunds", {"amount": "9.91"}, format="json")
    assert_error(response, 422, "refund_exceeds_order", "amount")
    assert counts() == before
    assert Conversion.objects.get(order_id="ORDER-1").refunded_minor == 4000


def test_a_refund_amount_sent_as_a_number_is_400(sk):
    before = counts()
    response = sk.post("/api/v1/conversions/ORDER-1/refunds", {"amount": 10.5}, format="json")
    assert_error(response, 400, "validation_error", "amount")
    assert counts() == before


def test_an_absurdly_large_refund_amount_is_400(sk):
    before = counts()
    response = sk.post("/api/v1/conversions/ORDER-1/refunds", {"amount": "1e30"}, format="json")
    assert_error(response, 400, "validation_error", "amount")
    assert counts() == before


@pytest.mark.parametrize("order_id", ["NOPE-1", "order-1", "x" * 300])
def test_a_refund_for_an_unknown_order_is_404(sk, order_id):
    before = counts()
    for headers in [{}, {"HTTP_IDEMPOTENCY_KEY": "refund-1"}]:
        response = sk.post(
            f"/api/v1/conversions/{order_id}/refunds", {"amount": "1.00"}, format="json", **headers
        )
        assert_error(response, 404, "unknown_order")
    assert counts() == before


def test_a_nul_byte_in_the_refunds_order_id_is_404(sk):
    before = counts()
    response = sk.post("/api/v1/conversions/ORDER%00-1/refunds", {}, format="json")
    assert_error(response, 404, "unknown_order")
    assert counts() == before


def test_another_programs_key_cannot_refund_this_programs_order(world, other_program):
    before = counts()
    response = client(other_program[1]).post(
        "/api/v1/conversions/ORDER-1/refunds", {}, format="json"
    )
    assert_error(response, 404, "unknown_order")
    assert counts() == before
    assert Conversion.objects.get(order_id="ORDER-1").refunded_minor == 0


def test_a_refund_idempotency_key_reused_with_another_amount_is_409(sk):
    first = sk.post(
        "/api/v1/conversions/ORDER-1/refunds",
        {"amount": "1.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-1",
    )
    assert first.status_code == 201
    before = counts()
    response = sk.post(
        "/api/v1/conversions/ORDER-1/refunds",
        {"amount": "2.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r-1",
    )
    assert_error(response, 409, "idempotency_key_reused")
    assert counts() == before
    assert Conversion.objects.get(order_id="ORDER-1").refunded_minor == 100


def test_an_order_id_with_a_slash_is_refundable_or_rejected(sk):
    created = sk.post(
        "/api/v1/conversions", {**CONVERSION, "order_id": "INV/2024/7"}, format="json"
    )
    if created.status_code == 400:
        assert not Conversion.objects.filter(order_id="INV/2024/7").exists()
        return
    assert created.status_code == 201
    response = sk.post("/api/v1/conversions/INV%2F2024%2F7/refunds", {}, format="json")
    assert response.status_code == 201, response.content[:200]


@pytest.mark.parametrize("path", ["/api/v1/conversion", "/api/v1/conversions/"])
def test_an_unknown_api_path_is_a_json_404(sk, path):
    assert_error(sk.post(path, CONVERSION, format="json"), 404, "not_found")


# --- authentication -------------------------------------------------------------------

AUTH_CASES = [
    (None, 401, "missing_api_key"),
    ("Token abc", 401, "invalid_api_key"),
    ("Bearer", 401, "invalid_api_key"),
    ("Bearer ", 401, "invalid_api_key"),
    ("Basic dXNlcjpwYXNz", 401, "invalid_api_key"),
    ("Bearer sk_not_a_real_key", 401, "invalid_api_key"),
    ("Bearer pk_not_a_real_key", 401, "invalid_api_key"),
    ("Bearer " + "sk_" + "x" * 500, 401, "invalid_api_key"),
    ("Bearer 12345", 401, "invalid_api_key"),
]


def _request(c, endpoint: str, link, advocate):
    if endpoint == "advocate-detail":
        return c.get(f"/api/v1/advocates/{advocate.pk}")
    path, _ = ENDPOINTS[endpoint]
    return c.post(path, _body(endpoint, link), format="json")


ALL_ENDPOINTS = [*ENDPOINTS, "advocate-detail"]


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS)
@pytest.mark.parametrize(("header", "status", "code"), AUTH_CASES)
def test_a_missing_or_malformed_key_is_401(world, link, advocate, endpoint, header, status, code):
    c = client() if header is None else client(HTTP_AUTHORIZATION=header)
    before = counts()
    response = _request(c, endpoint, link, advocate)
    assert_error(response, status, code)
    assert response["WWW-Authenticate"] == "Bearer"
    assert advocate.email not in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS)
@pytest.mark.parametrize("kind", [ApiKey.Kind.SECRET, ApiKey.Kind.PUBLISHABLE])
def test_a_revoked_key_is_401(
    world, program, secret_key, publishable_key, link, advocate, endpoint, kind
):
    raw = secret_key if kind == ApiKey.Kind.SECRET else publishable_key
    api_key_revoke(key=ApiKey.objects.get(program=program, kind=kind))
    before = counts()
    response = _request(client(raw), endpoint, link, advocate)
    assert_error(response, 401, "invalid_api_key")
    assert counts() == before


@pytest.mark.parametrize("endpoint", ["conversions", "advocates", "refunds", "advocate-detail"])
def test_the_publishable_key_needs_a_secret_key_elsewhere(
    world, publishable_key, link, advocate, endpoint
):
    before = counts()
    response = _request(client(publishable_key), endpoint, link, advocate)
    assert_error(response, 403, "secret_key_required")
    assert advocate.email not in response.content.decode()
    assert counts() == before
    assert Conversion.objects.get(order_id="ORDER-1").refunded_minor == 0


def test_the_publishable_key_is_accepted_for_referrals(world, publishable_key, link):
    response = client(publishable_key).post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "nora@example.com"}},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert Referral.objects.filter(friend_email="nora@example.com").exists()


ARABIC_TEN = "\N{ARABIC-INDIC DIGIT ONE}\N{ARABIC-INDIC DIGIT ZERO}"


@pytest.mark.parametrize(
    "amount", [ARABIC_TEN, "1e3", " 10.00 ", "10.00 ", "+10", "1,000.00", "10."]
)
def test_an_amount_is_plain_digits(api, amount):
    response = post_conversion(api, order_id=f"strict-{amount!r}", amount=amount)
    assert response.status_code == 400, amount
    assert response.json()["error"]["fields"]["amount"]
    assert not Conversion.objects.exists()


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_an_order_date_far_outside_any_program_is_a_422_not_a_500(api, program, link, when):
    # Well formed (the schema's date-time), but no order's date: understood but refused.
    RewardRule.objects.filter(program=program).update(max_months=6)
    response = post_conversion(api, referral_code=link.code, occurred_at=when)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "date_out_of_range"
    assert "occurred_at" in response.json()["error"]["fields"]
    assert not Conversion.objects.exists()


def test_a_body_too_large_is_a_json_413(api):
    body = json.dumps({"order_id": "x" * 3_000_000, "amount": "1.00", "currency": "EUR"})
    response = api.generic("POST", "/api/v1/conversions", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

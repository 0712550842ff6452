"""Text no database column can keep is refused, never a 500.

PostgreSQL refuses a NUL character in text and in ``jsonb`` ("unsupported Unicode
escape sequence"): the field holding it is refused, by name. A lone surrogate cannot be
encoded as UTF-8 at all: the body is refused as bad JSON."""

import pytest

from recruitment.models import Customer

pytestmark = pytest.mark.django_db

NUL_IN_ATTRIBUTES = (
    '{"customers": [{"external_id": "c-1", "email": "ann@example.com",'
    ' "attributes": {"note": "a\\u0000b"}}]}'
)
NUL_IN_A_KEY = (
    '{"customers": [{"external_id": "c-1", "email": "ann@example.com",'
    ' "attributes": {"a\\u0000": 1}}]}'
)
LONE_SURROGATE = (
    '{"customers": [{"external_id": "c-1", "email": "ann@example.com",'
    ' "attributes": {"note": "\\udbcb"}}]}'
)


@pytest.mark.parametrize("body", [NUL_IN_ATTRIBUTES, NUL_IN_A_KEY])
def test_a_nul_character_in_free_form_attributes_is_refused_by_name(api, body):
    response = api.generic("POST", "/api/v1/customers/bulk", body, content_type="application/json")
    assert response.status_code < 500
    assert "No NUL characters." in response.content.decode()
    assert "attributes" in response.content.decode()
    assert not Customer.objects.exists()


def test_a_lone_surrogate_is_a_400_with_the_error_shape(api):
    response = api.generic(
        "POST", "/api/v1/customers/bulk", LONE_SURROGATE, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert not Customer.objects.exists()


def test_ordinary_text_with_escapes_is_kept(api):
    body = (
        '{"customers": [{"external_id": "c-1", "email": "ann@example.com",'
        ' "attributes": {"note": "caf\\u00e9 \\ud83d\\ude00"}}]}'
    )
    response = api.generic("POST", "/api/v1/customers/bulk", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert Customer.objects.get().attributes == {"note": "café 😀"}

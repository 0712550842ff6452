"""Text no database column can keep is refused as bad JSON (400), never a 500.

PostgreSQL refuses a NUL character in text and in ``jsonb`` ("unsupported Unicode
escape sequence"), and a lone surrogate cannot be encoded as UTF-8 at all."""

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


@pytest.mark.parametrize("body", [NUL_IN_ATTRIBUTES, NUL_IN_A_KEY, LONE_SURROGATE])
def test_unstorable_text_is_a_400_with_the_error_shape(api, body):
    response = api.generic("POST", "/api/v1/customers/bulk", body, content_type="application/json")
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

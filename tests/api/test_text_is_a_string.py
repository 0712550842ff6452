"""A text field takes a JSON string and nothing else, as the schema says (``type: string``).

DRF's ``CharField`` would turn ``123`` into ``"123"``; ``core.api_fields.StringField``
refuses it with a 400 that names the field."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

NOT_STRINGS = [123, 4.5, True, ["a"], {"a": 1}]


@pytest.fixture
def browser_api(publishable_key):
    cache.clear()  # the lookup's rate limit
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    return client


def _refused(response, field):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return error["fields"][field]


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_an_order_id_that_is_not_a_string_is_refused(api, program, value):
    body = {
        "order_id": value,
        "amount": "10.00",
        "currency": "EUR",
        "customer": {"email": "f@x.io"},
    }
    assert _refused(api.post("/api/v1/conversions", body, format="json"), "order_id")


def test_the_answer_says_to_send_a_string(api, program):
    body = {"order_id": 123, "amount": "10.00", "currency": "EUR", "customer": {"email": "f@x.io"}}
    fields = _refused(api.post("/api/v1/conversions", body, format="json"), "order_id")
    assert fields == ["Send this as a string."]


@pytest.mark.parametrize("value", NOT_STRINGS)
def test_a_lookup_that_is_not_a_string_is_refused(browser_api, program, value):
    response = browser_api.post("/api/v1/advocate-lookup", {"q": value}, format="json")
    assert _refused(response, "q")


def test_a_customer_row_whose_external_id_is_a_number_is_reported_and_the_others_kept(api, program):
    rows = [
        {"external_id": "c-1", "email": "one@example.com"},
        {"external_id": 2, "email": "two@example.com"},
    ]
    body = api.post("/api/v1/customers/bulk", {"customers": rows}, format="json").json()
    assert body["created"] == 1
    assert [e["index"] for e in body["errors"]] == [1]
    assert body["errors"][0]["error"]["fields"] == {"external_id": ["Send this as a string."]}


def test_a_string_of_digits_is_still_a_string(api, program):
    body = {
        "order_id": "123",
        "amount": "10.00",
        "currency": "EUR",
        "customer": {"email": "f@x.io"},
    }
    assert api.post("/api/v1/conversions", body, format="json").status_code == 201

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def outsider_api(other_program):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_program[1]}")
    return client


@pytest.fixture
def publishable_api(publishable_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    return client


def customer_row(n, **extra):
    return {
        "external_id": f"c-{n}",
        "email": f"customer{n}@example.com",
        "name": f"Customer {n}",
        "marketing_consent": True,
        **extra,
    }


def order_row(n, customer, *, amount="25.00", at="2026-06-01T10:00:00Z", **extra):
    return {
        "order_id": f"o-{n}",
        "amount": amount,
        "currency": "EUR",
        "customer": {"external_id": customer},
        "occurred_at": at,
        **extra,
    }

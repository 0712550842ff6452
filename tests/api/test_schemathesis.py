"""Schemathesis against the served OpenAPI schema, with a program's secret key.

Every operation of ``/api/schema/`` gets generated requests, valid and invalid, and
every response is checked: never a 5xx; its status, headers, content type and body as
the schema documents them; a request the schema allows is not refused as malformed
(``positive_data_acceptance``) and one it forbids is refused with a 4xx
(``negative_data_rejection``). So the schema says exactly what the API accepts.

A schema-valid request may still be refused with a 422 ("understood but refused": an
unknown referral code or click, an order dated before 2000, a period longer than three
years): the schema says how a request is formed, not which codes exist. 400 stays a
failure for valid data. Examples per operation are capped (``SCHEMATHESIS_EXAMPLES``,
default 5; the coverage phase is off) to keep ``make test`` quick; raise it locally for
a deeper run.
"""

import os
import secrets

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from advocacy.models import ApiKey
from advocacy.services import advocate_enroll, api_key_create
from rewards.services import program_create_with_offer

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))
# The program's secret key, given to Schemathesis as the schema's bearer auth: it then
# sends it on every request and never generates a (negative) Authorization header of
# its own that the test would overwrite, hiding what else a request got wrong.
SECRET_KEY = "sk_schemathesis" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")
# Schemathesis' default for valid data, and 422 (see above).
VALID_DATA_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]

schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    get_wsgi_application(),
    config=SchemathesisConfig.from_dict(
        {
            "phases": {"coverage": {"enabled": False}},
            "auth": {"openapi": {"ApiKey": {"bearer": SECRET_KEY}}},
            "checks": {"positive_data_acceptance": {"expected-statuses": VALID_DATA_STATUSES}},
        }
    ),
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Served through a WSGI handler, not the test client: each request's end would close
    the database connection (``close_old_connections``), and with it the test's
    transaction on PostgreSQL. Django's test client disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def secret_key(db):
    program, _, _ = program_create_with_offer(
        name="Fuzzed Friends",
        landing_url="https://shop.example.com/",
        allowed_domains=["example.com"],
        currency="EUR",
        advocate_reward_minor=1000,
        friend_discount_percent=10,
    )
    advocate_enroll(program=program, email="ada@example.com", name="Ada Lovelace")
    api_key_create(program=program, kind=ApiKey.Kind.SECRET, name="Schemathesis", raw=SECRET_KEY)
    return SECRET_KEY


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_its_schema_says(case, secret_key):
    case.call_and_validate(checks=CHECKS)

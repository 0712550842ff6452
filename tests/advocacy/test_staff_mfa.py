"""Staff two-factor sign-in: the admin signs in through allauth, with a TOTP code."""

import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)

from tests.factories import UserFactory

PASSWORD = "a manager's long password"


@pytest.fixture
def manager(db):
    user = UserFactory(username="maria", email="maria@example.com", is_staff=True,
                       is_superuser=True, password=PASSWORD)  # fmt: skip
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_the_admin_login_is_allauths(client, db):
    response = client.get("/admin/login/?next=/admin/advocacy/program/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "%2Fadmin%2Fadvocacy%2Fprogram%2F" in response["Location"]
    # A password posted to the old form signs nobody in.
    client.post("/admin/login/", {"username": "maria", "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_a_manager_with_an_authenticator_needs_its_code_after_the_password(client, manager):
    secret = generate_totp_secret()
    TOTP.activate(manager, secret)
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": "maria@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    # Not signed in yet: the admin still asks for a sign-in.
    assert client.get("/admin/").status_code == 302
    assert "_auth_user_id" not in client.session
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    done = client.post("/accounts/2fa/authenticate/", {"code": _code(secret)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_with_2fa_required_staff_set_it_up_before_the_admin_opens(client, manager, settings):
    settings.STAFF_REQUIRE_2FA = True
    client.force_login(manager, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get("/admin/advocacy/program/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/totp/activate/?next=")
    # Every admin page, not only the index.
    assert client.get("/admin/advocacy/apikey/").status_code == 302
    assert client.get("/measurement/dashboard/funnel.csv").status_code == 302
    # The portal and the set-up pages stay reachable.
    assert client.get("/accounts/2fa/").status_code == 200
    TOTP.activate(manager, generate_totp_secret())
    assert client.get("/admin/advocacy/program/").status_code == 200


def test_without_the_requirement_a_manager_may_use_the_admin_with_a_password_only(
    client, manager, settings
):
    settings.STAFF_REQUIRE_2FA = False
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": "maria@example.com", "password": PASSWORD}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_advocates_are_never_asked_for_a_second_factor(client, db, settings):
    settings.STAFF_REQUIRE_2FA = True
    user = UserFactory(username="kari", email="kari@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post("/accounts/login/", {"login": "kari@example.com", "password": PASSWORD})
    assert response.status_code == 302 and "2fa" not in response["Location"]
    assert client.get("/").status_code == 200

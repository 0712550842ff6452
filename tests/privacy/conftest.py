import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from tests.factories import UserFactory, enroll


def _login(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def alice(advocate):
    """Alice owns the ``advocate`` fixture's record in Acme and has a verified address."""
    user = UserFactory(username="alice", email="alice@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    advocate.user = user
    advocate.save(update_fields=["user"])
    return user


@pytest.fixture
def alice_client(alice):
    return _login(alice)


@pytest.fixture
def bob(program):
    """Bob is another advocate in Acme: his data must survive anything Alice does."""
    user = UserFactory(username="bob", email="bob@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    enroll(program, "bob@example.com", name="Bob", user=user)
    return user


@pytest.fixture
def bob_advocate(bob):
    return bob.advocates.get()


@pytest.fixture
def charlie_client(db):
    """An outsider with an account but no advocate record."""
    return _login(UserFactory(username="charlie", email="charlie@example.com"))

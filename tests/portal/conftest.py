import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def alice(advocate):
    """Alice owns the ``advocate`` fixture's record."""
    user = UserFactory(username="alice", email="alice@example.com")
    advocate.user = user
    advocate.save(update_fields=["user"])
    return user


@pytest.fixture
def alice_client(alice):
    browser = Client()
    browser.force_login(alice)
    return browser


@pytest.fixture
def charlie_client(db):
    """An outsider with an account but no advocate record in Acme."""
    browser = Client()
    browser.force_login(UserFactory(username="charlie", email="charlie@example.com"))
    return browser

"""Every portal page is the signed-in user's own: outsiders get 404, strangers a login."""

import pytest
from django.test import Client

from advocacy.models import Advocate
from advocacy.services import advocate_enroll, advocate_set_status
from rewards.models import Redemption
from tests.factories import UserFactory

from .helpers import add_entry, add_perk

PAGES = [
    "/p/{slug}/",
    "/p/{slug}/rewards/",
    "/p/{slug}/about/",
    "/p/{slug}/qr.svg",
    "/p/{slug}/qr.png",
]


@pytest.mark.parametrize("page", PAGES)
def test_the_owner_sees_each_page(alice_client, program, page):
    assert alice_client.get(page.format(slug=program.slug)).status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in(client, program, advocate, page):
    url = page.format(slug=program.slug)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("page", PAGES)
def test_an_outsider_gets_404_on_each_page(charlie_client, program, alice, page):
    assert charlie_client.get(page.format(slug=program.slug)).status_code == 404


@pytest.mark.parametrize("page", PAGES)
def test_an_advocate_of_another_program_gets_404(other_program, program, alice, page):
    other, _ = other_program
    bob = UserFactory(username="bob", email="bob@example.com")
    advocate_enroll(program=other, email="bob@example.com", user=bob)
    browser = Client()
    browser.force_login(bob)
    assert browser.get(page.format(slug=other.slug)).status_code == 200
    assert browser.get(page.format(slug=program.slug)).status_code == 404


def test_an_unknown_program_is_404(alice_client):
    assert alice_client.get("/p/no-such-program/").status_code == 404


def test_an_outsider_cannot_redeem_someone_elses_points(charlie_client, program, advocate, alice):
    add_entry(advocate, 500, currency="PTS")
    item = add_perk(program)
    response = charlie_client.post(
        f"/p/{program.slug}/rewards/redeem/",
        {"item": item.pk, "idempotency_key": "6f1c1d4e-8a55-4a3e-9b59-3d6f5a3c7a10"},
    )
    assert response.status_code == 404
    assert not Redemption.objects.exists()


@pytest.mark.parametrize("page", PAGES)
def test_a_banned_advocate_sees_why_and_nothing_else(alice_client, program, advocate, link, page):
    advocate_set_status(advocate=advocate, status=Advocate.Status.BANNED)
    response = alice_client.get(page.format(slug=program.slug))
    assert response.status_code == 403
    text = response.content.decode()
    assert "banned" in text
    assert link.code not in text


def test_a_banned_advocate_cannot_redeem(alice_client, program, advocate):
    add_entry(advocate, 500, currency="PTS")
    item = add_perk(program)
    advocate_set_status(advocate=advocate, status=Advocate.Status.BANNED)
    response = alice_client.post(
        f"/p/{program.slug}/rewards/redeem/",
        {"item": item.pk, "idempotency_key": "6f1c1d4e-8a55-4a3e-9b59-3d6f5a3c7a10"},
    )
    assert response.status_code == 403
    assert "banned" in response.content.decode()
    assert not Redemption.objects.exists()


def test_the_home_page_lists_the_users_programs(alice_client, program, link):
    text = alice_client.get("/").content.decode()
    assert f'href="/p/{program.slug}/"' in text
    assert f"http://testserver/r/{link.code}" in text


def test_the_home_page_hides_a_banned_advocates_link(alice_client, program, advocate, link):
    advocate_set_status(advocate=advocate, status=Advocate.Status.BANNED)
    text = alice_client.get("/").content.decode()
    assert "banned" in text
    assert link.code not in text

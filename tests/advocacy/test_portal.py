"""Advocate accounts (django-allauth) and the minimal portal: sign up, verify, join, share."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from advocacy.models import Advocate, Program
from advocacy.services import advocate_set_status
from referrals.invitations import advocate_invite
from tests.factories import UserFactory, enroll

PASSWORD = "Tr1cky-Sunflower-42"
CONFIRM_LINK = re.compile(r"http://testserver/accounts/confirm-email/[-:\w]+/")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """allauth keeps its rate-limit counters in the cache; tests must not share them."""
    cache.clear()
    yield
    cache.clear()


def sign_up_and_verify(client, outbox, email: str) -> User:
    """Sign up at /accounts/signup/ and confirm the address from the email."""
    assert client.get("/accounts/signup/").status_code == 200
    sent = len(outbox)
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email__iexact=email)
    assert not EmailAddress.objects.get(user=user).verified
    # Mandatory verification: nobody is signed in yet.
    assert "_auth_user_id" not in client.session

    [message] = [m for m in outbox[sent:] if CONFIRM_LINK.search(m.body)]
    assert message.to == [email]
    [link] = CONFIRM_LINK.findall(message.body)
    page = client.get(link)
    assert page.status_code == 200
    assert b"<form" in page.content and b'method="post"' in page.content
    assert not EmailAddress.objects.get(user=user).verified  # a GET confirms nothing
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    return user


def log_in(email: str, next_url: str = "") -> Client:
    browser = Client()
    data = {"login": email, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    response = browser.post("/accounts/login/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == (next_url or "/")
    return browser


def verified_user(email: str) -> User:
    user = UserFactory(username=email.split("@")[0], email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def join_url(program) -> str:
    return f"/join/{program.slug}/"


def test_sign_up_verify_log_in_join_and_see_the_referral_link(client, program, mailoutbox):
    # Joining needs an account first.
    anonymous = client.get(join_url(program))
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/accounts/login/?next={join_url(program)}"

    user = sign_up_and_verify(client, mailoutbox, "nina@example.com")
    browser = log_in("nina@example.com", next_url=join_url(program))

    page = browser.get(join_url(program))
    assert page.status_code == 200
    assert program.name in page.content.decode()
    assert b"Join the program" in page.content
    joined = browser.post(join_url(program))
    assert joined.status_code == 302
    assert joined["Location"] == "/"

    advocate = Advocate.objects.get(program=program, user=user)
    assert advocate.status == Advocate.Status.ACTIVE
    assert advocate.email_normalized == "nina@example.com"
    link = advocate.links.get()
    home = browser.get("/")
    assert home.status_code == 200
    text = home.content.decode()
    assert f'value="http://testserver/r/{link.code}"' in text
    assert "Your referral link is ready" in text
    assert "nina@example.com" in text

    # Joining again changes nothing and says so.
    assert b"already an advocate" in browser.get(join_url(program)).content
    assert browser.post(join_url(program)).status_code == 302
    assert Advocate.objects.filter(program=program, user=user).count() == 1
    assert link.code in browser.get("/").content.decode()

    # The link works for friends.
    assert Client().get(f"/r/{link.code}").status_code == 302


def test_a_wrong_password_or_an_unverified_email_does_not_log_in(client, program, mailoutbox):
    client.post(
        "/accounts/signup/",
        {"email": "otto@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    browser = Client()
    response = browser.post("/accounts/login/", {"login": "otto@example.com", "password": PASSWORD})
    # Unverified: allauth sends the confirmation again instead of signing in.
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in browser.session
    wrong = Client().post("/accounts/login/", {"login": "otto@example.com", "password": "nope"})
    assert wrong.status_code == 200
    assert browser.get(join_url(program)).status_code == 302


def test_an_invited_advocate_signs_up_and_joins(
    client, program, mailoutbox, django_capture_on_commit_callbacks
):
    Program.objects.filter(pk=program.pk).update(open_enrollment=False)
    program.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        invited = advocate_invite(program=program, email="ivy@example.com", name="Ivy")
    assert invited.status == Advocate.Status.INVITED and invited.user is None
    [invitation] = [m for m in mailoutbox if join_url(program) in m.body]
    assert invitation.to == ["ivy@example.com"]
    assert program.name in invitation.subject
    assert f"http://testserver{join_url(program)}" in invitation.body
    invited.refresh_from_db()
    assert invited.invitation_sent_at is not None

    # Inviting again sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert advocate_invite(program=program, email="Ivy@Example.com").pk == invited.pk
    assert [m for m in mailoutbox if join_url(program) in m.body] == [invitation]

    # The invitation's link opens the sign-up form pre-filled with the address.
    signup = client.get(f"{join_url(program)}?email=ivy%40example.com")
    assert signup["Location"].startswith("/accounts/signup/?")
    assert 'value="ivy@example.com"' in client.get(signup["Location"]).content.decode()

    # Verifying the address claims the invitation: no separate "join" step.
    user = sign_up_and_verify(client, mailoutbox, "ivy@example.com")
    browser = log_in("ivy@example.com")
    assert b"already an advocate" in browser.get(join_url(program)).content

    invited.refresh_from_db()
    assert invited.status == Advocate.Status.ACTIVE
    assert invited.user == user
    assert Advocate.objects.filter(program=program).count() == 1
    assert f"http://testserver/r/{invited.links.get().code}" in browser.get("/").content.decode()


def test_a_banned_advocate_cannot_join(client, program):
    banned = enroll(program, "bram@example.com")
    advocate_set_status(advocate=banned, status=Advocate.Status.BANNED)
    client.force_login(verified_user("bram@example.com"))
    response = client.post(join_url(program), follow=True)
    assert response.redirect_chain[0] == (join_url(program), 302)
    assert "This account cannot join the program." in response.content.decode()
    banned.refresh_from_db()
    assert banned.status == Advocate.Status.BANNED
    assert banned.user is None
    assert banned.links.get().code not in client.get("/").content.decode()


def test_a_closed_program_refuses_a_stranger(client, program):
    Program.objects.filter(pk=program.pk).update(open_enrollment=False)
    client.force_login(verified_user("sam@example.com"))
    home = client.get("/").content.decode()
    assert join_url(program) not in home  # not offered
    response = client.post(join_url(program), follow=True)
    assert response.redirect_chain[0] == (join_url(program), 302)
    assert "This program is by invitation only." in response.content.decode()
    assert not Advocate.objects.filter(program=program).exists()


@pytest.mark.parametrize("status", [Program.Status.PAUSED, Program.Status.ARCHIVED])
def test_an_inactive_program_accepts_nobody(client, program, status):
    Program.objects.filter(pk=program.pk).update(status=status)
    client.force_login(verified_user("sam@example.com"))
    response = client.post(join_url(program), follow=True)
    assert "not accepting advocates" in response.content.decode()
    assert not Advocate.objects.filter(program=program).exists()


def test_an_open_program_is_offered_on_the_home_page(client, program):
    home = client.get("/")
    assert home.status_code == 200
    text = home.content.decode()
    assert join_url(program) in text and "/accounts/signup/" in text


def test_an_unknown_program_is_404(client, db):
    client.force_login(verified_user("sam@example.com"))
    assert client.get("/join/no-such-program/").status_code == 404
    assert client.post("/join/no-such-program/").status_code == 404


@pytest.mark.parametrize("code", ["NOPE1234", "nope", "X" * 40])
def test_an_unknown_referral_code_is_a_human_404_page(client, db, code):
    response = client.get(f"/r/{code}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    text = response.content.decode()
    assert "<html" in text
    assert "This referral link" in text
    assert 'href="/"' in text


def test_healthz_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert "broker" in body

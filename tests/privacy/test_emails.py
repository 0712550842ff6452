import pytest
from django.core import signing
from django.test import Client

from advocacy.emails import (
    list_unsubscribe_headers,
    may_email,
    unsubscribe_token,
    unsubscribe_url,
)
from advocacy.models import AuditLog, EmailPreference
from tests.factories import enroll


def _path(advocate) -> str:
    return f"/unsubscribe/{unsubscribe_token(advocate)}/"


def test_the_unsubscribe_url_is_absolute(advocate, settings):
    settings.SITE_URL = "https://advocacy.example.com"

    url = unsubscribe_url(advocate)

    assert url == f"https://advocacy.example.com{_path(advocate)}"


def test_the_headers_offer_one_click_unsubscribe(advocate):
    assert list_unsubscribe_headers(advocate) == {
        "List-Unsubscribe": f"<http://testserver{_path(advocate)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_everything_may_be_sent_by_default(advocate):
    assert all(
        may_email(advocate, kind) for kind in ("invitation", "reward_available", "payout_sent")
    )
    assert not EmailPreference.objects.exists()


def test_reward_emails_stop_but_invitations_do_not(advocate):
    EmailPreference.objects.create(advocate=advocate, rewards_and_payouts=False)

    assert may_email(advocate, "invitation")
    assert not may_email(advocate, "reward_available")
    assert not may_email(advocate, "payout_sent")


def test_unknown_kinds_are_a_bug(advocate):
    with pytest.raises(ValueError, match="unknown email kind"):
        may_email(advocate, "newsletter")


def test_get_shows_a_button_and_unsubscribes_no_one(client, advocate):
    response = client.get(_path(advocate))

    assert response.status_code == 200
    assert '<form method="post">' in response.content.decode()
    assert may_email(advocate, "reward_available")


def test_the_button_unsubscribes_from_everything_without_a_login(advocate):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(_path(advocate))

    assert response.status_code == 200
    assert "no longer receive emails from Acme Friends" in response.content.decode()
    assert not any(
        may_email(advocate, kind) for kind in ("invitation", "reward_available", "payout_sent")
    )
    assert AuditLog.objects.filter(action="advocate.unsubscribed").count() == 1


def test_one_click_post_unsubscribes_and_is_idempotent(advocate):
    browser = Client(enforce_csrf_checks=True)

    for _ in range(2):
        response = browser.post(
            _path(advocate),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200
    assert not may_email(advocate, "invitation")
    assert AuditLog.objects.filter(action="advocate.unsubscribed").count() == 1


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        signing.dumps(1, salt="another.salt"),
        signing.dumps("not-an-id", salt="privacy.unsubscribe"),
        signing.dumps(999999, salt="privacy.unsubscribe"),
    ],
    # Signed tokens carry a timestamp: fixed ids keep xdist workers' collections equal.
    ids=["nonsense", "other-salt", "not-an-id", "unknown-advocate"],
)
def test_a_bad_token_is_a_400_page(client, advocate, token):
    response = client.post(f"/unsubscribe/{token}/")

    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    assert not EmailPreference.objects.exists()


def test_a_token_made_for_another_advocate_is_not_reusable(client, advocate, program):
    other = enroll(program, "bob@example.com")
    token = unsubscribe_token(advocate)
    forged = token.replace(str(advocate.pk), str(other.pk), 1)

    client.post(f"/unsubscribe/{forged}/")

    assert may_email(other, "reward_available")


def test_the_preferences_page_lists_the_users_programs(alice_client, advocate, bob_advocate):
    response = alice_client.get("/account/emails/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "Acme Friends" in body
    assert body.count("<fieldset>") == 1
    assert f'<label for="rewards-{advocate.pk}">' in body
    assert f"rewards-{bob_advocate.pk}" not in body


def test_saving_preferences_changes_only_the_users_own_records(
    alice_client, advocate, bob_advocate
):
    response = alice_client.post(
        "/account/emails/",
        {f"news-{advocate.pk}": "on", f"none-{bob_advocate.pk}": "on"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/account/emails/"
    assert not may_email(advocate, "reward_available")
    assert may_email(advocate, "invitation")
    assert may_email(bob_advocate, "reward_available")
    assert not EmailPreference.objects.filter(advocate=bob_advocate).exists()


def test_unticking_no_emails_subscribes_again(alice_client, advocate):
    alice_client.post(_path(advocate))
    alice_client.post(
        "/account/emails/", {f"rewards-{advocate.pk}": "on", f"news-{advocate.pk}": "on"}
    )

    assert may_email(advocate, "payout_sent")


def test_the_preferences_page_needs_a_login(client, db):
    assert client.get("/account/emails/").status_code == 302

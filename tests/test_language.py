"""Visitors choose the portal's language; the choice is remembered."""

import gettext
from pathlib import Path

import pytest
from django.conf import settings


@pytest.mark.parametrize("code", [code for code, _ in settings.LANGUAGES])
def test_every_portal_language_can_be_chosen(client, db, code):
    response = client.post("/i18n/setlang/", {"language": code, "next": "/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == code
    page = client.get("/")
    assert f'<html lang="{code}" '.encode() in page.content


def test_the_browser_language_is_used_by_default(client, db):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="sv-SE,sv;q=0.9")
    assert b'<html lang="sv" ' in page.content


SIGN_UP = {"en": "Sign up", "nb": "Registrer deg", "sv": "Registrera dig", "ro": "Înregistrare",
           "zh-hans": "注册"}  # fmt: skip


@pytest.mark.parametrize(("code", "text"), SIGN_UP.items())
def test_the_portal_speaks_the_chosen_language(client, db, code, text):
    client.post("/i18n/setlang/", {"language": code, "next": "/"})
    assert text in client.get("/").content.decode()


@pytest.mark.parametrize("locale", ["nb", "sv", "ro", "zh_Hans"])
def test_every_message_is_translated_and_compiled(locale):
    folder = Path(settings.BASE_DIR) / "locale" / locale / "LC_MESSAGES"
    entries = (folder / "django.po").read_text(encoding="utf-8").split("\n\n")[1:]
    # An untranslated entry ends with an empty msgstr and has no plural forms.
    untranslated = [e for e in entries if e.rstrip().endswith('msgstr ""')]
    assert not untranslated, untranslated[:3]
    assert not [e for e in entries if "#, fuzzy" in e]
    with (folder / "django.mo").open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)
    assert catalog.gettext("Sign up") != "Sign up"
    assert catalog.gettext("Your referral link") != "Your referral link"


def test_an_advocates_saved_language_is_used_for_the_portal_and_emails(client, advocate):
    from django.core import mail

    from advocacy.models import Advocate
    from referrals.tasks import send_invitation
    from tests.factories import UserFactory

    user = UserFactory(username="alice", email="alice@example.com")
    Advocate.objects.filter(pk=advocate.pk).update(user=user)
    client.force_login(user)
    client.post("/i18n/setlang/", {"language": "ro", "next": "/"})
    advocate.refresh_from_db()
    assert advocate.locale == "ro"
    # A new browser (no language cookie) with an English Accept-Language.
    client.cookies.pop(settings.LANGUAGE_COOKIE_NAME)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="ro" ' in page
    send_invitation.delay(advocate.pk)
    assert mail.outbox[-1].subject.startswith("Ești invitat")


@pytest.mark.parametrize("app", ["nurture", "core", "console"])
@pytest.mark.parametrize("locale", ["nb", "sv", "ro", "zh_Hans"])
def test_the_admin_labels_of_these_apps_are_translated(app, locale):
    folder = Path(settings.BASE_DIR) / app / "locale" / locale / "LC_MESSAGES"
    entries = (folder / "django.po").read_text(encoding="utf-8").split("\n\n")[1:]
    live = [e for e in entries if not e.lstrip().startswith("#~")]
    assert not [e for e in live if e.rstrip().endswith('msgstr ""')]
    assert not [e for e in live if "#, fuzzy" in e]

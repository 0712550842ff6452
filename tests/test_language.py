"""Visitors choose the portal's language; the choice is remembered."""

import pytest
from django.conf import settings


@pytest.mark.parametrize("code", [code for code, _ in settings.LANGUAGES])
def test_every_portal_language_can_be_chosen(client, db, code):
    response = client.post("/i18n/setlang/", {"language": code, "next": "/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == code
    page = client.get("/")
    assert f'<html lang="{code}">'.encode() in page.content


def test_the_browser_language_is_used_by_default(client, db):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="sv-SE,sv;q=0.9")
    assert b'<html lang="sv">' in page.content

"""``GET /r/<code>`` of a known link is answered ahead of the middleware it does not need
(referrals/middleware.py); everything else still goes through the whole stack."""

import pytest

from referrals import clicks
from referrals.models import Click

pytestmark = pytest.mark.usefixtures("click_path")


def test_a_known_link_is_answered_before_sessions_and_locale(client, link):
    response = client.get(f"/r/{link.code}", HTTP_ACCEPT_LANGUAGE="nb")
    assert response.status_code == 302
    assert clicks.buffer.flush() == 1 and Click.objects.count() == 1
    # SecurityMiddleware ran (it comes first); LocaleMiddleware, which varies every
    # answer it passes on Accept-Language, did not.
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Accept-Language" not in response.get("Vary", "")
    assert "sessionid" not in response.cookies


def test_an_unknown_link_gets_its_page_through_the_whole_stack(client, db):
    response = client.get("/r/NOSUCHCODE", HTTP_ACCEPT_LANGUAGE="nb")
    assert response.status_code == 404
    assert "Accept-Language" in response["Vary"]  # in the friend's language
    assert response.wsgi_request.LANGUAGE_CODE == "nb"


def test_a_host_not_allowed_is_refused_on_the_fast_path_too(client, link):
    response = client.get(f"/r/{link.code}", HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    assert clicks.buffer.flush() == 0


def test_paths_the_url_pattern_does_not_match_fall_through(client, link):
    assert client.get(f"/r/{link.code}/extra").status_code == 404
    assert client.post(f"/r/{link.code}").status_code == 405  # require_GET, as before

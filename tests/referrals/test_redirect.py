"""``GET /r/<code>``: a click recorded, a safe redirect, a cookie, never a 5xx.

Run as production runs it (the ``click_path`` fixture): links cached in process,
clicks buffered and written in batches, so a test writes the batch (``flush()``)
before it looks for rows.
"""

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from advocacy.models import Advocate, Program
from referrals import clicks
from referrals.models import Click

pytestmark = pytest.mark.usefixtures("click_path")


def _params(response):
    return parse_qs(urlsplit(response["Location"]).query)


def test_it_records_the_click_and_redirects_with_ref_and_click(client, link):
    response = client.get(f"/r/{link.code}?ch=whatsapp", HTTP_USER_AGENT="Phone/1.0")
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example.com/welcome?")
    assert not Click.objects.exists()  # buffered: written with the next batch
    assert clicks.buffer.flush() == 1
    click = Click.objects.get()
    assert _params(response) == {"ref": [link.code], "click": [str(click.id)]}
    assert (click.channel, click.user_agent, click.advocate_id) == (
        "whatsapp",
        "Phone/1.0",
        link.advocate_id,
    )
    cookie = SimpleCookie(response["Set-Cookie"])["adv_ref"]  # as a browser reads it
    assert cookie.value == f"{link.code}.{click.id}"
    assert cookie["max-age"] == str(30 * 86400)
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"] is True
    assert cookie["path"] == "/"
    assert not cookie["secure"]
    secure = client.get(f"/r/{link.code}", secure=True)
    assert SimpleCookie(secure["Set-Cookie"])["adv_ref"]["secure"] is True


def test_it_costs_one_query_then_none_and_a_batch_of_clicks_one_insert(client, link):
    with CaptureQueriesContext(connection) as cold:
        client.get(f"/r/{link.code}")  # loads the link
    assert len(cold) == 1, [q["sql"] for q in cold]
    with CaptureQueriesContext(connection) as warm:
        for _ in range(3):
            assert client.get(f"/r/{link.code}").status_code == 302
    assert len(warm) == 0, [q["sql"] for q in warm]
    with CaptureQueriesContext(connection) as batch:
        assert clicks.buffer.flush() == 4
    assert len(batch) == 1, [q["sql"] for q in batch]
    assert Click.objects.count() == 4


def test_without_the_cache_and_batches_a_click_is_written_at_once(client, link, settings):
    settings.LINK_CACHE_SECONDS = 0
    settings.CLICK_FLUSH_MS = 0  # SQLite's default
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/r/{link.code}")
    assert len(queries) == 2, [q["sql"] for q in queries]
    assert Click.objects.count() == 1
    assert clicks.buffer.flush() == 0


def test_codes_are_case_insensitive(client, link):
    assert client.get(f"/r/{link.code.lower()}").status_code == 302
    assert clicks.buffer.flush() == 1
    assert Click.objects.count() == 1


def test_it_keeps_the_landing_urls_own_query(client, program, link):
    program.landing_url = "https://shop.example.com/?utm_source=friends&ref=old"
    program.save()
    params = _params(client.get(f"/r/{link.code}"))
    assert params["utm_source"] == ["friends"]
    assert params["ref"] == [link.code]


@pytest.mark.parametrize(
    "to",
    [
        "https://checkout.example.com/cart",
        "https://example.com/product/1",
        "http://shop.example.com/a?b=c",
    ],
)
def test_it_follows_to_on_an_allowed_domain(client, link, to):
    response = client.get(f"/r/{link.code}", {"to": to})
    assert response["Location"].startswith(to.split("?")[0])


@pytest.mark.parametrize(
    "to",
    [
        "https://evil.test/",
        "https://example.com.evil.test/",
        "https://evilexample.com/",
        "//evil.test/",
        "javascript:alert(1)",
        "https://user@evil.test/",
        "ftp://example.com/",
        # Read by browsers (WHATWG) differently than by urlsplit:
        "http://evil.example\\@shop.example.com/",
        "http://evil.example\\.example.com/",
        "https:\\\\evil.test/",
        "https://example.com@evil.test/",
        "https://shop.example.com:443@evil.test/",
        " https://evil.test/",
        "https://evil.te\tst.example.com/",
        "https://evil.test\n.example.com/",
    ],
)
def test_it_is_never_an_open_redirect(client, link, to):
    response = client.get(f"/r/{link.code}", {"to": to})
    assert response.status_code == 302
    assert response["Location"].startswith("https://shop.example.com/welcome?")


def test_an_unknown_code_lands_on_a_page_a_person_understands(client, db):
    response = client.get("/r/NOSUCH99")
    assert response.status_code == 404
    assert b"This referral link doesn" in response.content
    assert clicks.buffer.flush() == 0
    assert Click.objects.count() == 0


@pytest.mark.parametrize("code", ["x" * 200, "%00", "..", "A B"])
def test_odd_codes_never_cause_a_server_error(client, db, code):
    assert client.get(f"/r/{code}").status_code == 404


def test_a_paused_program_sends_friends_to_the_shop_untracked(client, program, link):
    Program.objects.filter(pk=program.pk).update(status=Program.Status.PAUSED)
    response = client.get(f"/r/{link.code}")
    assert response["Location"] == "https://shop.example.com/welcome"
    assert clicks.buffer.flush() == 0
    assert Click.objects.count() == 0
    assert "Set-Cookie" not in response


def test_a_banned_advocates_link_records_nothing(client, advocate, link):
    Advocate.objects.filter(pk=advocate.pk).update(status=Advocate.Status.BANNED)
    response = client.get(f"/r/{link.code}")
    assert response.status_code == 302
    assert clicks.buffer.flush() == 0
    assert Click.objects.count() == 0


def test_only_get_is_allowed(client, link):
    assert client.post(f"/r/{link.code}").status_code == 405


def test_a_nul_byte_in_the_channel_is_dropped(client, link):
    assert client.get(f"/r/{link.code}?ch=e%00mail").status_code == 302
    assert clicks.buffer.flush() == 1
    assert Click.objects.get().channel == "email"


def test_past_the_per_address_rate_the_visitor_still_lands_but_nothing_is_recorded(
    client, link, settings
):
    settings.REDIRECT_RATE_PER_IP = "2/m"
    for _ in range(2):
        tracked = client.get(f"/r/{link.code}", REMOTE_ADDR="203.0.113.5")
        assert "click" in _params(tracked)
    limited = client.get(f"/r/{link.code}?to=https://shop.example.com/x", REMOTE_ADDR="203.0.113.5")
    # Still a redirect to the shop (the page asked for), never an error page...
    assert limited.status_code == 302
    assert limited["Location"] == "https://shop.example.com/x"
    # ...but untracked: no click id, no attribution cookie, no row.
    assert "Set-Cookie" not in limited
    assert clicks.buffer.flush() == 2
    # Another address has its own count.
    other = client.get(f"/r/{link.code}", REMOTE_ADDR="198.51.100.20")
    assert "click" in _params(other)
    assert clicks.buffer.flush() == 1

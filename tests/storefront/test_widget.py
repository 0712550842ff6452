"""``GET /widget/<program>/``: only for a customer the merchant's server signed."""

import time
from urllib.parse import urlencode

import pytest

from advocacy.models import Advocate, Program
from advocacy.services import advocate_enroll
from storefront.signing import WidgetSignatureError, widget_params, widget_signature, widget_verify


def _url(program, **params):
    return f"/widget/{program.slug}/?{urlencode(params)}"


def _signed(program, email="carol@example.com", **kwargs):
    return _url(program, **widget_params(program=program, email=email, **kwargs))


def test_a_signed_customer_gets_their_link_share_buttons_and_stats(client, program):
    response = client.get(_signed(program, external_id="cust-carol", name="Carol"))
    assert response.status_code == 200
    advocate = Advocate.objects.get(program=program, email="carol@example.com")
    assert (advocate.external_id, advocate.name) == ("cust-carol", "Carol")
    code = advocate.links.get().code
    html = response.content.decode()
    assert f'value="http://testserver/r/{code}?p=widget"' in html
    for channel in ["email", "whatsapp", "x", "facebook", "linkedin", "sms"]:
        assert f'class="{channel}"' in html
    assert "https://wa.me/?text=" in html
    assert f"http%3A%2F%2Ftestserver%2Fr%2F{code}%3Fp%3Dwidget%26ch%3Dwhatsapp" in html
    assert 'id="stat-clicks">0<' in html
    assert "Friends get 10% off" in html
    assert "You get €10.00 when a friend buys" in html


def test_the_same_customer_again_sees_the_same_advocate(client, program, advocate):
    response = client.get(_signed(program, email="alice@example.com", external_id="cust-alice"))
    assert response.status_code == 200
    assert Advocate.objects.filter(program=program).count() == 1
    assert advocate.links.get().code in response.content.decode()


def test_it_shows_the_advocates_stats(client, program, advocate, link):
    client.get(f"/r/{link.code}")
    client.get(f"/r/{link.code}")
    response = client.get(_signed(program, email="alice@example.com"))
    assert 'id="stat-clicks">2<' in response.content.decode()


def _frame_ancestors(response) -> list[str]:
    directives = dict(
        d.strip().partition(" ")[::2] for d in response["Content-Security-Policy"].split(";")
    )
    return directives["frame-ancestors"].split()


def test_the_widget_keeps_the_sites_script_policy(client, program):
    """Framing is widened to the program's sites; scripts stay this site's or nonce'd."""
    response = client.get(_signed(program))
    policy = response["Content-Security-Policy"]
    (script_src,) = [d.strip() for d in policy.split(";") if d.strip().startswith("script-src ")]
    nonce = script_src.split("'nonce-")[1].rstrip("'")
    assert f'<script nonce="{nonce}">' in response.content.decode()
    assert "'unsafe-inline'" not in script_src


def test_it_may_be_framed_by_the_programs_sites_only(client, program, settings):
    settings.DEBUG = True  # development: plain http pages may frame it too
    response = client.get(_signed(program))
    assert "X-Frame-Options" not in response
    sources = _frame_ancestors(response)
    assert sources[0] == "'self'"
    for host in ["example.com", "shop.example.com"]:
        assert f"https://{host}:*" in sources
        assert f"http://{host}:*" in sources
    assert "https://*.example.com:*" in sources
    assert "*" not in sources
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"


def test_in_production_only_https_pages_may_frame_it(client, program, settings):
    settings.DEBUG = False
    sources = _frame_ancestors(client.get(_signed(program)))
    assert "https://example.com:*" in sources
    assert not [s for s in sources if s.startswith("http://")]


def test_an_ip_address_host_gets_no_subdomain_wildcard(client, program, settings):
    settings.DEBUG = True  # a local merchant site over http
    program.allowed_domains = ["127.0.0.1"]
    program.save()
    sources = _frame_ancestors(client.get(_signed(program)))
    assert "http://127.0.0.1:*" in sources
    assert not any("*.127.0.0.1" in s for s in sources)


@pytest.mark.parametrize(
    "change",
    [
        {"email": "mallory@example.com"},
        {"external_id": "someone-else"},
        {"expires": str(int(time.time()) + 999_999)},
        {"sig": "0" * 64},
        {"sig": ""},
        {"expires": "soon"},
        {"name": "Mallory"},
        {"name": ""},
    ],
    # One value holds the time: fixed ids keep xdist workers' collections equal.
    ids=["email", "external-id", "later-expiry", "zero-sig", "no-sig", "bad-expiry", "name",
         "no-name"],
)  # fmt: skip
def test_a_tampered_signature_is_refused_and_nothing_is_created(client, program, change):
    params = widget_params(
        program=program, email="carol@example.com", external_id="c-1", name="Carol"
    )
    response = client.get(_url(program, **{**params, **change}))
    assert response.status_code == 403
    assert "can't be shown" in response.content.decode()
    assert "frame-ancestors" in response["Content-Security-Policy"]
    assert not Advocate.objects.exists()


def test_an_expired_signature_is_refused(client, program):
    params = widget_params(program=program, email="carol@example.com", ttl_seconds=-1)
    response = client.get(_url(program, **params))
    assert response.status_code == 403
    assert "expired" in response.content.decode()
    assert not Advocate.objects.exists()


def test_another_programs_signature_is_refused(client, program, other_program):
    other = other_program[0]
    response = client.get(_url(program, **widget_params(program=other, email="c@example.com")))
    assert response.status_code == 403
    # The other program's own URL with the signature of the first one neither.
    response = client.get(_url(other, **widget_params(program=program, email="c@example.com")))
    assert response.status_code == 403
    assert not Advocate.objects.exists()


def test_an_unknown_program_is_not_found(client, db):
    assert client.get("/widget/nope/?email=a@example.com").status_code == 404


def test_a_paused_program_shows_no_link(client, program):
    Program.objects.filter(pk=program.pk).update(status=Program.Status.PAUSED)
    response = client.get(_signed(program))
    assert response.status_code == 404
    assert not Advocate.objects.exists()


def test_a_signed_but_invalid_email_is_refused(client, program):
    response = client.get(_signed(program, email="not-an-email"))
    assert response.status_code == 400
    assert not Advocate.objects.exists()


def test_an_external_id_of_another_advocate_is_a_conflict(client, program, advocate):
    response = client.get(_signed(program, email="new@example.com", external_id="cust-alice"))
    assert response.status_code == 409
    assert Advocate.objects.count() == 1


def test_an_invited_customer_is_activated(client, program):
    invited, _ = advocate_enroll(
        program=program, email="ina@example.com", status=Advocate.Status.INVITED
    )
    assert client.get(_signed(program, email="ina@example.com")).status_code == 200
    invited.refresh_from_db()
    assert invited.status == Advocate.Status.ACTIVE


def test_a_paused_advocate_sees_no_link(client, program, advocate):
    Advocate.objects.filter(pk=advocate.pk).update(status=Advocate.Status.PAUSED)
    response = client.get(_signed(program, email="alice@example.com"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "paused" in html
    assert advocate.links.get().code not in html


def test_signatures_are_hex_hmac_sha256_of_the_documented_message():
    import hashlib
    import hmac

    sig = widget_signature(
        secret="ws_x", program_slug="p", email="a@b.c", external_id=None, expires=1700000000
    )
    assert sig == hmac.new(b"ws_x", b"p|a@b.c||1700000000|", hashlib.sha256).hexdigest()
    named = widget_signature(
        secret="ws_x", program_slug="p", email="a@b.c", external_id="c", expires=1, name="Å B"
    )
    message = "p|a@b.c|c|1|Å B".encode()
    assert named == hmac.new(b"ws_x", message, hashlib.sha256).hexdigest()


def test_an_older_signature_without_the_name_opens_the_widget_but_the_name_is_ignored(
    client, program
):
    expires = int(time.time()) + 600
    legacy = widget_signature(
        secret=program.widget_secret, program_slug=program.slug, email="dan@example.com",
        external_id="c-9", expires=expires, name=None,
    )  # fmt: skip
    response = client.get(
        _url(program, email="dan@example.com", external_id="c-9", name="Mallory",
             expires=expires, sig=legacy)
    )  # fmt: skip
    assert response.status_code == 200
    advocate = Advocate.objects.get(program=program, email="dan@example.com")
    assert advocate.name == ""  # the unsigned name was not trusted


def test_the_post_purchase_token_covers_the_name_too(client, program, publishable_key):
    from urllib.parse import urlencode as encode

    params = widget_params(program=program, email="erin@example.com", name="Erin")
    body = {"token": encode({**params, "name": "Someone Else"})}
    response = client.post(
        "/api/v1/post-purchase/enrol", body, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {publishable_key}", HTTP_ORIGIN="https://shop.example.com",
    )  # fmt: skip
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    response = client.post(
        "/api/v1/post-purchase/enrol", {"token": encode(params)}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {publishable_key}", HTTP_ORIGIN="https://shop.example.com",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert Advocate.objects.get(program=program, email="erin@example.com").name == "Erin"


def test_verify_checks_expiry_against_now(program):
    params = widget_params(program=program, email="a@example.com", now=1_000, ttl_seconds=60)
    args = {k: params[k] for k in ("email", "expires", "sig")}
    widget_verify(program=program, external_id=None, now=1_060, **args)
    with pytest.raises(WidgetSignatureError, match="expired"):
        widget_verify(program=program, external_id=None, now=1_061, **args)

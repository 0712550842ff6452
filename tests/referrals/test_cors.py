"""The embed script's sign-up call: CORS only from the program's own domains."""

from referrals.models import Referral


def test_a_preflight_is_answered(client, db):
    response = client.options(
        "/api/v1/referrals",
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Authorization" in response["Access-Control-Allow-Headers"]


def _signup(client, key, origin):
    return client.post(
        "/api/v1/referrals",
        {"referral_code": "X", "friend": {"email": "f@example.com"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_ORIGIN=origin,
    )


def test_the_programs_domain_may_sign_up_a_friend(client, publishable_key, link):
    response = client.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "friend": {"email": "f@example.com"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {publishable_key}",
        HTTP_ORIGIN="https://checkout.example.com",
    )
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == "https://checkout.example.com"


def test_another_domain_is_refused(client, publishable_key, link):
    response = _signup(client, publishable_key, "https://evil.test")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    assert Referral.objects.count() == 0

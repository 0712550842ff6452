"""Social sign-in: a provider a manager configures in admin appears on the sign-in page."""

from allauth.socialaccount.models import SocialApp
from django.contrib.sites.models import Site


def test_a_provider_configured_in_admin_is_offered_on_the_sign_in_page(client, admin_client):
    assert b"Google" not in client.get("/accounts/login/").content
    response = admin_client.post(
        "/admin/socialaccount/socialapp/add/",
        {
            "provider": "google",
            "name": "Google",
            "client_id": "client-123.apps.googleusercontent.com",
            "secret": "not-a-real-secret",
            "key": "",
            "settings": "{}",
            "sites": [Site.objects.get_current().pk],
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert SocialApp.objects.filter(provider="google").exists()
    page = client.get("/accounts/login/").content.decode()
    assert "Google" in page
    assert "/accounts/google/login/" in page

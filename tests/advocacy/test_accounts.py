"""Accounts beyond email sign-up: social providers configured in admin, password reset."""

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


def test_a_forgotten_password_is_reset_by_email(client, db, mailoutbox):
    import re

    from allauth.account.models import EmailAddress

    from tests.factories import UserFactory

    user = UserFactory(username="pia", email="pia@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.post("/accounts/password/reset/", {"email": "pia@example.com"})
    [message] = mailoutbox
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", message.body)[1]
    form = client.get(link, follow=True)
    action = form.redirect_chain[-1][0] if form.redirect_chain else link
    response = client.post(
        action, {"password1": "a-brand-new-passphrase-7", "password2": "a-brand-new-passphrase-7"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-brand-new-passphrase-7")

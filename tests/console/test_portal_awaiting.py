"""An advocate sees a reward waiting for the manager's approval as such, in their language."""

from django.test import Client

from tests.factories import UserFactory
from tests.helpers import post_conversion


def test_the_portal_says_a_reward_awaits_approval(api, program, link, advocate):
    program.reward_rules.filter(kind="cash").update(approval_above_minor=500)
    post_conversion(api, referral_code=link.code)
    user = UserFactory(username="alice", email="alice@example.com")
    advocate.user = user
    advocate.save(update_fields=["user"])
    browser = Client()
    browser.force_login(user)
    page = browser.get(f"/p/{program.slug}/rewards/").content.decode()
    assert "waiting for the program&#x27;s approval" in page
    browser.post("/i18n/setlang/", {"language": "nb", "next": "/"})
    page = browser.get(f"/p/{program.slug}/rewards/").content.decode()
    assert "venter på godkjenning fra programmet" in page

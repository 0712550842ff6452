"""The in-app invitation: the storefront widget tells a customer a campaign chose that
they are invited (once), and counts it in the campaign's funnel."""

from html import unescape
from urllib.parse import urlencode

import pytest

from recruitment import campaigns
from recruitment.models import CampaignRecipient
from storefront.signing import widget_params
from tests.recruitment.test_campaigns import customers, numbers

pytestmark = pytest.mark.django_db


def widget(client, program, email):
    query = urlencode(widget_params(program=program, email=email))
    return client.get(f"/widget/{program.slug}/?{query}").content.decode()


def test_a_customer_in_a_campaign_sees_you_are_invited_in_the_widget(
    client, program, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.campaign_create(
            program=program, name="Spring", customers=customers(program, 2)
        )
    html = widget(client, program, "c0@example.com")
    assert 'id="invitation"' in html and "invited to" in html
    row = CampaignRecipient.objects.get(customer__external_id="c-0")
    assert row.shown_in_app_at is not None and row.clicked_at is not None
    # Opening the widget enrolled them: joined, and counted as clicked.
    assert row.state == CampaignRecipient.State.JOINED
    assert (numbers(campaign)["clicked"], numbers(campaign)["joined"]) == (1, 1)
    # Once: the next visit shows the plain widget.
    assert 'id="invitation"' not in widget(client, program, "c0@example.com")
    # Someone no campaign chose sees the plain widget.
    assert 'id="invitation"' not in widget(client, program, "walk-in@example.com")


def test_the_banner_waits_for_the_campaign_to_start(client, program):
    campaign = campaigns.campaign_create(
        program=program, name="Later", customers=customers(program, 1)
    )
    # Not started yet (no broker, no sweep here): no banner.
    assert 'id="invitation"' not in widget(client, program, "c0@example.com")
    campaign.step = 1
    campaign.save(update_fields=["step"])
    assert 'id="invitation"' in widget(client, program, "c0@example.com")


BANNERS = {
    "en": ("You're invited to {}, and you're in. Welcome!",
           "You were chosen: {} is open by invitation, and your invitation is accepted. Welcome!"),
    "nb": ("Du er invitert til {}, og du er med. Velkommen!",
           "Du er utvalgt: {} er kun for inviterte, og invitasjonen din er godtatt. Velkommen!"),
    "sv": ("Du är inbjuden till {}, och du är med. Välkommen!",
           "Du är utvald: {} är bara för inbjudna, och din inbjudan är godkänd. Välkommen!"),
    "ro": ("Ești invitat în {} și faci deja parte din program. Bun venit!",
           "Ai fost ales: {} este doar pe bază de invitație, iar invitația ta a fost acceptată. "
           "Bun venit!"),
    "zh-hans": ("诚邀您加入 {}，您已成为会员。欢迎！",  # noqa: RUF001 - Chinese punctuation
                "您已被选中：{} 仅限受邀加入，您的邀请已被接受。欢迎！"),  # noqa: RUF001
}  # fmt: skip


@pytest.mark.parametrize("language", list(BANNERS))
@pytest.mark.parametrize("chosen", [False, True], ids=["invited", "chosen"])
def test_the_banner_speaks_the_customers_language(client, program, language, chosen):
    program.vip = chosen
    program.save(update_fields=["vip"])
    campaign = campaigns.campaign_create(
        program=program, name="Spring", customers=customers(program, 1)
    )
    campaign.step = 1
    campaign.save(update_fields=["step"])
    query = urlencode(widget_params(program=program, email="c0@example.com"))
    html = client.get(
        f"/widget/{program.slug}/?{query}", HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    banner = html.split('id="invitation">', 1)[1].split("</p>", 1)[0]
    assert unescape(banner) == BANNERS[language][chosen].format(program.name)

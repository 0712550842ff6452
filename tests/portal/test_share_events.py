"""The portal's share buttons record shares under the placement ``portal``."""

import pytest
from django.core.cache import cache

from storefront.models import PlacementEvent
from storefront.signing import viewer_for_email


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_portal_share_buttons_record_a_share_under_portal(alice_client, program, advocate):
    url = f"/p/{program.slug}/shared/"
    page = alice_client.get(f"/p/{program.slug}/").content.decode()
    assert f'data-share-report="{url}"' in page and 'data-share-channel="whatsapp"' in page
    assert alice_client.post(url, {"channel": "whatsapp"}).status_code == 204
    event = PlacementEvent.objects.get()
    assert (event.kind, event.placement, event.channel, event.advocate_id) == (
        "share", "portal", "whatsapp", advocate.pk,
    )  # fmt: skip
    # The same sharer as in the widget and the prompt: unique sharers count people.
    assert event.viewer == viewer_for_email(program=program, email=advocate.email)


def test_a_share_report_needs_a_known_channel_and_the_advocates_own_program(
    alice_client, charlie_client, program
):
    url = f"/p/{program.slug}/shared/"
    assert alice_client.post(url, {"channel": "<script>"}).status_code == 400
    assert charlie_client.post(url, {"channel": "copy"}).status_code == 404
    assert alice_client.get(url).status_code == 405
    assert not PlacementEvent.objects.exists()


def test_share_reports_are_rate_limited(alice_client, program):
    url = f"/p/{program.slug}/shared/"
    codes = [alice_client.post(url, {"channel": "copy"}).status_code for _ in range(31)]
    assert codes[:30] == [204] * 30 and codes[30] == 429
    assert PlacementEvent.objects.count() == 30

"""The redirect's fast path: self-describing click ids, the link cache, batched writes."""

import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from advocacy.models import Program
from referrals import clicks
from referrals.models import Click
from tests.helpers import post_conversion


def test_a_click_id_carries_its_link_and_time(link):
    at = time.time() - 3600
    click_id = clicks.new_click_id(link.pk, at=at)
    link_id, when = clicks.parse_click_id(click_id)
    assert link_id == link.pk
    assert abs(when.timestamp() - at) < 1


def test_a_made_up_or_altered_click_id_is_not_genuine(link):
    assert clicks.parse_click_id(uuid.uuid4()) is None
    raw = bytearray(clicks.new_click_id(link.pk).bytes)
    raw[3] ^= 1  # another link id
    assert clicks.parse_click_id(uuid.UUID(bytes=bytes(raw))) is None


def test_a_conversion_is_attributed_even_if_the_click_row_was_lost(api, link):
    click_id = clicks.new_click_id(link.pk)  # as the redirect made it; row never written
    body = post_conversion(api, click_id=str(click_id)).json()
    assert body["attributed"] is True
    assert body["attribution"]["method"] == "click"
    assert Click.objects.get().id == click_id  # recreated from the id


def test_a_lost_click_still_respects_the_attribution_window(api, program, link):
    old = timezone.now() - timedelta(days=program.attribution_window_days + 1)
    click_id = clicks.new_click_id(link.pk, at=old.timestamp())
    assert post_conversion(api, click_id=str(click_id)).json()["attributed"] is False


class ManualBuffer(clicks.ClickBuffer):
    """No writer thread: this test's data is in an open transaction it could not see."""

    def _start(self):
        pass


def test_with_the_cache_and_the_writer_the_redirect_makes_no_query(
    client, link, settings, monkeypatch
):
    settings.LINK_CACHE_SECONDS = 60
    settings.CLICK_FLUSH_MS = 50
    monkeypatch.setattr(clicks, "buffer", ManualBuffer())
    clicks.clear_link_cache()
    client.get(f"/r/{link.code}")  # loads the link once
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/r/{link.code}")
    assert response.status_code == 302
    assert len(queries) == 0
    clicks.buffer.flush()
    assert Click.objects.count() == 2
    clicks.clear_link_cache()


def test_a_paused_program_stops_tracking_once_the_cache_expires(client, program, link, settings):
    settings.LINK_CACHE_SECONDS = 60
    clicks.clear_link_cache()
    client.get(f"/r/{link.code}")
    Program.objects.filter(pk=program.pk).update(status=Program.Status.PAUSED)
    assert "click=" in client.get(f"/r/{link.code}")["Location"]  # still cached
    clicks.clear_link_cache()
    assert "click=" not in client.get(f"/r/{link.code}")["Location"]


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_saves_buffered_clicks(client, link, settings, monkeypatch):
    settings.CLICK_FLUSH_MS = 20
    writer = clicks.ClickBuffer()
    monkeypatch.setattr(clicks, "buffer", writer)
    try:
        for _ in range(25):
            assert client.get(f"/r/{link.code}").status_code == 302
        deadline = time.monotonic() + 10
        while Click.objects.count() < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Click.objects.count() == 25
    finally:
        writer.stop()  # its database connection must close before the test database goes

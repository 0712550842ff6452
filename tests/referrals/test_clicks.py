"""The redirect's fast path: self-describing click ids, the link cache, batched writes.

Run as production runs it (the ``click_path`` fixture in tests/conftest.py): the
writer thread writes only when a test ticks it, so nothing here waits on a timer.
"""

import logging
import os
import subprocess
import sys
import time
import types
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from advocacy.models import Advocate, Program
from referrals import clicks, selectors
from referrals.models import Click
from tests.helpers import post_conversion

pytestmark = pytest.mark.usefixtures("click_path")

ROOT = Path(__file__).resolve().parents[2]


def _click_id(response) -> str:
    return parse_qs(urlsplit(response["Location"]).query)["click"][0]


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


def test_a_conversion_before_its_click_is_written_is_attributed(api, client, link):
    click_id = _click_id(client.get(f"/r/{link.code}?ch=email"))
    assert not Click.objects.exists()  # still in the buffer
    body = post_conversion(api, click_id=click_id).json()
    assert body["attributed"] is True
    assert body["attribution"]["method"] == "click"
    assert clicks.buffer.flush() == 1  # the batch then skips the row already there
    assert [str(c.id) for c in Click.objects.all()] == [click_id]


@pytest.fixture
def monotonic(monkeypatch):
    """The link cache's clock, set by the test."""
    now = [1000.0]
    clock = types.SimpleNamespace(time=time.time, monotonic=lambda: now[0])
    monkeypatch.setattr(clicks, "time", clock)
    return now


def test_a_paused_program_stops_tracking_once_the_cache_expires(
    client, program, link, monotonic, settings
):
    assert "click=" in client.get(f"/r/{link.code}")["Location"]  # the link is cached
    Program.objects.filter(pk=program.pk).update(status=Program.Status.PAUSED)
    monotonic[0] += settings.LINK_CACHE_SECONDS - 0.1
    assert "click=" in client.get(f"/r/{link.code}")["Location"]  # not seen yet
    monotonic[0] += 0.2
    assert "click=" not in client.get(f"/r/{link.code}")["Location"]
    assert clicks.buffer.flush() == 2


def test_clearing_the_cache_shows_a_change_at_once(client, advocate, link, monotonic):
    client.get(f"/r/{link.code}")
    Advocate.objects.filter(pk=advocate.pk).update(status=Advocate.Status.BANNED)
    assert "click=" in client.get(f"/r/{link.code}")["Location"]  # within the TTL
    clicks.clear_link_cache()
    assert "click=" not in client.get(f"/r/{link.code}")["Location"]


def test_a_batch_that_fails_is_kept_for_the_next_round(client, link, monkeypatch, caplog):
    client.get(f"/r/{link.code}")
    client.get(f"/r/{link.code}")
    write = clicks.insert_rows

    def fail_once(rows):
        monkeypatch.setattr(clicks, "insert_rows", write)
        raise RuntimeError("database went away")

    monkeypatch.setattr(clicks, "insert_rows", fail_once)
    with caplog.at_level(logging.ERROR, logger="referrals.clicks"):
        assert clicks.buffer.flush() == 0
    assert "could not write 2 clicks" in caplog.text
    assert not Click.objects.exists()
    assert clicks.buffer.flush() == 2
    assert Click.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_each_batch(client, link, click_path):
    for _ in range(3):
        assert client.get(f"/r/{link.code}").status_code == 302
    assert not Click.objects.exists()  # the writer has not run yet
    click_path.tick()
    assert Click.objects.count() == 3
    client.get(f"/r/{link.code}")
    click_path.tick()
    assert Click.objects.count() == 4
    click_path.tick()  # nothing new to write
    assert Click.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_stopping_the_buffer_writes_what_it_holds(client, link, click_path):
    for _ in range(5):
        client.get(f"/r/{link.code}")
    assert not Click.objects.exists()
    click_path.stop()  # as at shutdown
    assert not click_path._thread.is_alive()
    assert Click.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_process_that_exits_writes_the_clicks_it_holds(require_postgres, link):
    """A server process that ends normally writes its last batch (atexit)."""
    db = connection.settings_dict
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        f"print(Client().get('/r/{link.code}?ch=exit')['Location'])\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLICK_FLUSH_MS": "60000",  # the writer thread's round (1 s at most) comes too late
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    click = Click.objects.get()
    assert str(click.id) == parse_qs(urlsplit(result.stdout).query)["click"][0]
    assert click.channel == "exit"


@pytest.mark.django_db(transaction=True)
def test_a_killed_process_loses_no_click(require_postgres, link, click_path, settings):
    """SIGKILL (no atexit, no last batch): its spool file is taken over by a live writer."""
    db = connection.settings_dict
    script = (
        "import os, signal, django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        f"ids = [c.get('/r/{link.code}?ch=killed')['Location'] for _ in range(7)]\n"
        "print('\\n'.join(ids), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLICK_FLUSH_MS": "60000",  # its writer never gets a round
        "CLICK_SPOOL_DIR": str(settings.CLICK_SPOOL_DIR),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == -9, result.stderr
    answered = {parse_qs(urlsplit(line).query)["click"][0] for line in result.stdout.split()}
    assert len(answered) == 7
    assert not Click.objects.exists()
    assert click_path.flush() == 7  # this process's writer takes the dead one's spool over
    assert {str(pk) for pk in Click.objects.values_list("id", flat=True)} == answered
    assert not list(Path(settings.CLICK_SPOOL_DIR).glob("clicks-*.flushing"))
    assert click_path.flush() == 0  # written once


def test_a_link_this_process_knows_works_while_the_database_is_down(
    client, link, monkeypatch, monotonic
):
    assert client.get(f"/r/{link.code}").status_code == 302  # cached now
    monotonic[0] += 10  # past the cache's TTL: the next click asks the database
    asked = []

    def database_down(code):
        asked.append(code)
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "_load_link", database_down)
    response = client.get(f"/r/{link.code}")
    assert response.status_code == 302
    assert _click_id(response)
    assert client.get(f"/r/{link.code}").status_code == 302
    assert len(asked) == 1  # asked again only after another TTL, not on every click
    # The clicks are spooled, and written once the database answers again.
    assert clicks.buffer.flush() == 3
    assert Click.objects.count() == 3


def test_an_unknown_link_while_the_database_is_down_is_a_page_that_retries(
    client, link, monkeypatch
):
    def database_down(code):
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "_load_link", database_down)
    response = client.get("/r/NOTSEEN99")
    assert response.status_code == 200
    assert response["Retry-After"] == "5"
    assert b'http-equiv="refresh"' in response.content

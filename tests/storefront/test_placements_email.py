"""Links in emails carry their placement (``?p=email_invitation`` ...), so clicks do."""

import re

import pytest
from django.core import mail
from django.core.cache import cache

from nurture.emails import email_queue, email_send
from referrals import clicks
from referrals.models import Click
from referrals.tasks import send_invitation


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _link_in(body: str) -> str:
    return re.search(r"(http://\S+/r/[A-Z0-9]+\?p=[a-z_]+)", body)[1]


@pytest.mark.usefixtures("click_path")
def test_the_invitations_link_carries_its_placement_to_the_click(client, advocate):
    send_invitation.delay(advocate.pk)
    link = _link_in(mail.outbox[-1].body)
    assert link.endswith("?p=email_invitation")
    client.get("/r/" + link.split("/r/", 1)[1])
    clicks.buffer.flush()
    assert Click.objects.get().placement == "email_invitation"


@pytest.mark.parametrize(
    ("template", "params", "placement"),
    [
        ("welcome", {"subject": "Welcome", "body": "Hello"}, "email_newsletter"),
        ("news", {"subject": "News", "body": "New collection"}, "email_newsletter"),
        ("reengage", {}, "email_reminder"),
    ],
)
def test_nurture_emails_link_with_their_placement(advocate, template, params, placement):
    row = email_queue(advocate=advocate, template=template, key="k", params=params)
    email_send(email_id=row.pk)
    message = mail.outbox[-1]
    code = advocate.links.get().code
    assert f"/r/{code}?p={placement}" in message.body
    assert f"/r/{code}?p={placement}" in message.alternatives[0][0]

"""The placement events in the admin: read-only, scoped to the manager's programs."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from advocacy.models import ProgramMembership
from storefront.models import PlacementEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/admin/storefront/placementevent/"
ROW = '<td class="field-placement">{}</td>'


@pytest.fixture
def events(program, other_program, advocate):
    old = timezone.now() - timedelta(days=40)
    PlacementEvent.objects.create(program=program, kind="share", placement="portal",
                                  channel="whatsapp", viewer="v1", advocate=advocate)  # fmt: skip
    PlacementEvent.objects.create(program=program, kind="impression", placement="footer_banner",
                                  viewer="v2", created_at=old)  # fmt: skip
    PlacementEvent.objects.create(program=other_program[0], kind="share",
                                  placement="their_secret_spot", viewer="v3")  # fmt: skip


@pytest.fixture
def maria(client, program):
    user = UserFactory(username="maria", is_staff=True)
    ProgramMembership.objects.create(program=program, user=user, role="manager")
    user.user_permissions.set(Permission.objects.filter(codename="view_placementevent"))
    client.force_login(user)
    return user


def test_a_manager_lists_and_filters_their_programs_events(client, maria, events):
    page = client.get(URL).content.decode()
    assert "footer_banner" in page and "whatsapp" in page
    assert "their_secret_spot" not in page  # neither a row nor a filter choice
    shares = client.get(URL, {"kind": "share"}).content.decode()
    assert ROW.format("portal") in shares and ROW.format("footer_banner") not in shares
    by_place = client.get(URL, {"placement": "footer_banner"}).content.decode()
    assert ROW.format("footer_banner") in by_place and ROW.format("portal") not in by_place
    since = str(timezone.now() - timedelta(days=7))
    recent = client.get(URL, {"created_at__gte": since}).content.decode()
    assert ROW.format("portal") in recent and ROW.format("footer_banner") not in recent


def test_events_cannot_be_added_changed_or_deleted(client, maria, events):
    event = PlacementEvent.objects.filter(placement="portal").get()
    assert client.get(f"{URL}add/").status_code == 403
    page = client.get(f"{URL}{event.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert client.post(f"{URL}{event.pk}/delete/").status_code == 403

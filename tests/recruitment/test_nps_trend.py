"""NPS over time, per program and per segment: months, categories, the admin chart."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from recruitment import selectors, services
from recruitment.models import RecruitmentSettings, Segment
from tests.recruitment.test_admin import staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def answers(program):
    services.customers_upsert(
        program=program,
        rows=[
            (0, {"external_id": "fan", "email": "fan@example.com", "marketing_consent": True}),
            (1, {"external_id": "meh", "email": "meh@example.com", "marketing_consent": False}),
        ],
    )

    def answer(ext, score, when):
        services.nps_record(
            program=program, score=score, customer_external_id=ext,
            occurred_at=datetime(*when, tzinfo=UTC),
        )  # fmt: skip

    answer("fan", 10, (2026, 9, 3))
    answer("meh", 3, (2026, 9, 20))
    answer("meh", 8, (2026, 9, 30, 23, 59))
    answer("fan", 9, (2026, 11, 1))
    answer("meh", 2, (2025, 10, 1))  # 14 months back: outside the window
    return Segment.objects.create(
        program=program, name="Consent", slug="consent", filters={"marketing_consent": True}
    )


@time_machine.travel(datetime(2026, 11, 15, 12, tzinfo=UTC))
def test_nps_per_month_for_the_program_and_for_a_segment(program, answers):
    months = selectors.nps_over_time(program=program)
    assert len(months) == 12
    assert months[0]["month"].isoformat() == "2025-12-01"
    by_month = {m["month"].isoformat()[:7]: m for m in months}
    assert by_month["2026-09"] | {"month": None} == {
        "month": None, "responses": 3, "promoters": 1, "passives": 1, "detractors": 1, "nps": 0,
    }  # fmt: skip
    assert by_month["2026-10"]["nps"] is None and by_month["2026-10"]["responses"] == 0
    assert by_month["2026-11"]["nps"] == 100
    # The segment holds only the customer with consent: the fan.
    segment_months = {
        m["month"].isoformat()[:7]: m
        for m in selectors.nps_over_time(program=program, segment=answers)
    }
    assert segment_months["2026-09"]["responses"] == 1 and segment_months["2026-09"]["nps"] == 100


@time_machine.travel(datetime(2026, 11, 15, 12, tzinfo=UTC))
def test_the_segment_and_settings_pages_chart_it(client, program, answers):
    client.force_login(staff("alice", program))
    page = client.get(reverse("admin:recruitment_segment_change", args=[answers.pk])).content
    assert b'class="nps-chart"' in page and b"2026-09: NPS 100 (1 answers)" in page
    row = RecruitmentSettings.objects.get(program=program)
    page = client.get(reverse("admin:recruitment_recruitmentsettings_change", args=[row.pk]))
    assert b"2026-09: NPS 0 (3 answers)" in page.content

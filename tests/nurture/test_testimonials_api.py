"""The public testimonials API and widget show only approved testimonials with consent."""

import pytest
from rest_framework.test import APIClient

from nurture import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(advocate):
    shown = services.testimonial_submit(
        advocate=advocate, text="Great", rating=5, consent_to_publish=True, display_name="Ann"
    )
    services.testimonial_moderate(testimonial_id=shown.pk, approve=True)
    services.testimonial_feature(testimonial_id=shown.pk, featured=True)
    private = services.testimonial_submit(
        advocate=advocate, text="Secret", rating=4, consent_to_publish=False
    )
    services.testimonial_moderate(testimonial_id=private.pk, approve=True)
    services.testimonial_submit(
        advocate=advocate, text="Waiting", rating=3, consent_to_publish=True
    )
    return shown


def test_the_publishable_key_reads_published_testimonials(publishable_key, published):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    body = client.get("/api/v1/testimonials").json()
    assert [(r["text"], r["author"], r["featured"]) for r in body["results"]] == [
        ("Great", "Ann", True)
    ]


def test_a_foreign_origin_is_refused(publishable_key, published):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    response = client.get("/api/v1/testimonials", HTTP_ORIGIN="https://evil.example.net")
    assert response.status_code == 403


def test_no_key_no_testimonials(published):
    assert APIClient().get("/api/v1/testimonials").status_code in (401, 403)


def test_the_widget_frames_on_the_programs_sites_only(client, program, published):
    response = client.get(f"/w/testimonials/{program.slug}/")
    text = response.content.decode()
    assert "Great" in text and "Secret" not in text and "Waiting" not in text
    assert "https://*.example.com:*" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response

"""The moderation queue in the admin: approve in bulk, reject with a reason, and a manager
of another program sees and moderates nothing here."""

import pytest
from django.contrib.auth.models import Permission

from advocacy.models import ProgramMembership
from nurture import services
from nurture.models import ChallengeSubmission, Suggestion
from rewards.ledger import balances
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
QUEUE = "/admin/nurture/challengesubmission/"


@pytest.fixture
def entry(advocate, review_challenge):
    return services.challenge_submit(
        advocate=advocate, challenge=review_challenge, proof_url="https://example.com/review/1"
    )


def staff(client, username, program, role=ProgramMembership.Role.MANAGER):
    user = UserFactory(username=username, is_staff=True)
    ProgramMembership.objects.create(program=program, user=user, role=role)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="nurture"))
    client.force_login(user)
    return user


def test_a_manager_approves_an_entry_and_the_points_land_once(client, program, advocate, entry):
    staff(client, "maria", program)
    page = client.get(QUEUE).content.decode()
    assert "https://example.com/review/1" in page
    for _ in range(2):
        client.post(QUEUE, {"action": "approve", "_selected_action": [entry.pk]})
    entry.refresh_from_db()
    assert entry.status == "approved" and entry.reviewed_by.username == "maria"
    assert balances(advocate=advocate)["points"]["pending"] == 50


def test_a_rejection_needs_a_reason_the_advocate_reads(client, program, entry):
    staff(client, "maria", program)
    url = f"{QUEUE}{entry.pk}/reject/"
    assert client.post(url, {"reason": ""}).status_code == 200
    client.post(url, {"reason": "We couldn't find your review."})
    entry.refresh_from_db()
    assert (entry.status, entry.rejection_reason) == ("rejected", "We couldn't find your review.")


def test_another_programs_manager_sees_and_moderates_nothing(client, other_program, entry):
    staff(client, "oscar", other_program[0])
    assert "example.com/review/1" not in client.get(QUEUE).content.decode()
    client.post(QUEUE, {"action": "approve", "_selected_action": [entry.pk]})
    assert client.post(f"{QUEUE}{entry.pk}/reject/", {"reason": "no"}).status_code == 404
    assert ChallengeSubmission.objects.get().status == "pending"


def test_a_viewer_cannot_approve(client, program, entry):
    staff(client, "vera", program, role=ProgramMembership.Role.VIEWER)
    client.post(QUEUE, {"action": "approve", "_selected_action": [entry.pk]})
    assert ChallengeSubmission.objects.get().status == "pending"


def test_a_manager_replies_to_a_suggestion(client, program, advocate):
    idea = services.suggestion_create(advocate=advocate, title="Dark mode")
    staff(client, "maria", program)
    url = f"/admin/nurture/suggestion/{idea.pk}/change/"
    client.post(url, {"status": "planned", "reply": "Coming in May."})
    idea = Suggestion.objects.get()
    assert (idea.status, idea.reply, idea.replied_by.username) == (
        "planned", "Coming in May.", "maria"
    )  # fmt: skip


ADMIN_WORDS = {
    "nb": ("Utfordringsbidrag", "Bevis"),
    "sv": ("Utmaningsbidrag", "Bevis"),
    "ro": ("Înscrieri la provocări", "Dovadă"),
    "zh-hans": ("挑战提交", "证明"),
}


@pytest.mark.parametrize(("code", "words"), ADMIN_WORDS.items())
def test_the_managers_admin_speaks_their_language(admin_client, entry, code, words):
    admin_client.post("/i18n/setlang/", {"language": code, "next": "/admin/"})
    page = admin_client.get("/admin/nurture/challengesubmission/").content.decode()
    assert all(word.lower() in page.lower() for word in words), words
    emails = admin_client.get("/admin/core/emaillog/").content.decode()
    assert {"nb": "Sendte e-poster", "sv": "Skickade mejl", "ro": "E-mailuri trimise",
            "zh-hans": "已发送邮件"}[code] in emails  # fmt: skip

"""Program terms: consent stored with the version and time; FAQs on the program page."""

from advocacy.models import Advocate, AuditLog, ProgramFAQ, TermsAcceptance
from tests.factories import UserFactory


def _verified(client, email):
    from allauth.account.models import EmailAddress

    user = UserFactory(username=email.split("@")[0], email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    client.force_login(user)
    return user


def test_joining_a_program_with_terms_needs_consent(client, program):
    program.terms = "Be nice. No spam."
    program.terms_version = "2026-11"
    program.save()
    _verified(client, "tina@example.com")
    page = client.get(f"/join/{program.slug}/").content.decode()
    assert 'name="terms_version" value="2026-11" required' in page
    client.post(f"/join/{program.slug}/")  # no consent
    assert not Advocate.objects.filter(email="tina@example.com").exists()
    client.post(f"/join/{program.slug}/", {"terms_version": "2025-01"})  # an old version
    assert not Advocate.objects.filter(email="tina@example.com").exists()
    client.post(f"/join/{program.slug}/", {"terms_version": "2026-11"})
    advocate = Advocate.objects.get(email="tina@example.com")
    consent = TermsAcceptance.objects.get(advocate=advocate)
    assert consent.version == "2026-11"
    assert consent.accepted_at is not None
    assert AuditLog.objects.filter(action="terms.accepted", object_id=str(advocate.pk)).exists()
    about = client.get(f"/p/{program.slug}/about/").content.decode()
    assert "Be nice. No spam." in about
    assert "You accepted version 2026-11" in about


def test_a_program_without_terms_joins_at_once(client, program):
    _verified(client, "uma@example.com")
    client.post(f"/join/{program.slug}/")
    assert Advocate.objects.filter(email="uma@example.com").exists()
    assert TermsAcceptance.objects.count() == 0


def test_faqs_written_in_admin_show_on_the_program_page(client, program):
    ProgramFAQ.objects.create(program=program, question="When am I paid?", answer="Monthly.")
    _verified(client, "vera@example.com")
    client.post(f"/join/{program.slug}/")
    about = client.get(f"/p/{program.slug}/about/").content.decode()
    assert "When am I paid?" in about
    assert "Monthly." in about


def test_the_programs_logo_and_colour_dress_its_pages(client, program):
    program.logo_url = "https://shop.example.com/logo.svg"
    program.brand_color = "#aa3300"
    program.save()
    _verified(client, "wes@example.com")
    client.post(f"/join/{program.slug}/")
    page = client.get(f"/p/{program.slug}/").content.decode()
    assert "--accent: #aa3300" in page
    assert 'src="https://shop.example.com/logo.svg"' in page


def test_a_brand_colour_must_be_a_hex_colour(program):
    import pytest
    from django.core.exceptions import ValidationError

    program.brand_color = "red; background:url(x)"
    with pytest.raises(ValidationError):
        program.full_clean()


def test_an_invitation_to_a_program_with_terms_waits_for_consent(client, program):
    from advocacy.services import advocate_claim_invitations
    from referrals.invitations import advocate_invite

    program.terms = "Be nice."
    program.terms_version = "v2"
    program.save()
    invited = advocate_invite(program=program, email="xena@example.com")
    user = _verified(client, "xena@example.com")
    advocate_claim_invitations(user=user, email="xena@example.com")
    invited.refresh_from_db()
    assert (invited.user, invited.status) == (user, Advocate.Status.INVITED)
    assert 'value="v2" required' in client.get(f"/join/{program.slug}/").content.decode()
    client.post(f"/join/{program.slug}/", {"terms_version": "v2"})
    invited.refresh_from_db()
    assert invited.status == Advocate.Status.ACTIVE
    assert TermsAcceptance.objects.get(advocate=invited).version == "v2"

"""Recruitment emails to customers (not yet advocates): invitations, reminders, NPS surveys.

Each has a plain-text part and a small HTML part (with the open pixel), the
RFC 8058 one-click unsubscribe headers, and is sent in the customer's language.
Texts are the program's own (``InvitationText``) or the defaults below,
translated in ``recruitment/locale``. Sending is a network call: never inside a
transaction (``recruitment.campaigns`` claims, commits, sends, records).
"""

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _

from advocacy.models import Program
from core.mail import email_tag

from .models import CampaignRecipient, Customer, InvitationText, NpsSurvey

INVITE_SALT = "recruitment.invite"
UNSUBSCRIBE_SALT = "recruitment.unsubscribe"
NPS_SALT = "recruitment.nps"


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def token_for(pk: int, salt: str) -> str:
    # No expiry: links in an old email keep working (they only record and redirect).
    return signing.dumps(pk, salt=salt, compress=True)


def pk_from_token(token: str, salt: str) -> int | None:
    try:
        value = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def customer_language(customer: Customer) -> str:
    try:
        return translation.get_supported_language_variant(customer.locale or "")
    except LookupError:
        return settings.LANGUAGE_CODE


def unsubscribe_url(customer: Customer) -> str:
    return absolute(
        reverse("recruitment:unsubscribe", args=[token_for(customer.pk, UNSUBSCRIBE_SALT)])
    )


def _headers(customer: Customer) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(customer)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


class _Safe(dict):
    """str.format_map that leaves unknown placeholders as they are."""

    def __missing__(self, key):
        return "{" + key + "}"


def _fill(text: str, values: dict) -> str:
    try:
        return text.format_map(_Safe(values))
    except (ValueError, IndexError):
        return text  # a manager's stray brace: send the text as written


def default_invitation(program: Program, *, reminder: bool) -> tuple[str, str]:
    """The default (subject, body) in the active language, with placeholders."""
    chosen = program.invitation_only or program.vip
    if reminder:
        subject = _("{name}, your invitation to {program} is waiting")
        body = _(
            "Hi {name},\n\nA few days ago we invited you to {program}. Your place is "
            "still open: join in one click and start sharing.\n\n{join_url}\n"
        )
    elif chosen:
        subject = _("{name}, you were chosen for {program}")
        body = _(
            "Hi {name},\n\nYou were chosen. {program} is open by invitation only, and "
            "we picked a small group of our best customers. As a member you get rewards "
            "for every friend you bring.\n\nAccept your invitation:\n{join_url}\n"
        )
    else:
        subject = _("{name}, you're invited to {program}")
        body = _(
            "Hi {name},\n\nThank you for being a customer. Join {program}, share your "
            "link with friends and earn rewards when they buy.\n\nJoin here:\n{join_url}\n"
        )
    return subject, body


def invitation_texts(program: Program) -> dict[str, InvitationText]:
    """The program's own texts by language (load once per batch)."""
    return {t.language: t for t in InvitationText.objects.filter(program=program)}


def invitation_text(
    program: Program, language: str, *, reminder: bool, texts: dict | None = None
) -> tuple[str, str]:
    """The program's own text in ``language`` when it has one, else the default."""
    if texts is None:
        texts = invitation_texts(program)
    own = texts.get(language)
    if own and reminder and own.reminder_subject and own.reminder_body:
        return own.reminder_subject, own.reminder_body
    if own and not reminder:
        return own.subject, own.body
    with translation.override(language):
        return default_invitation(program, reminder=reminder)


def _send(
    *,
    customer: Customer,
    subject: str,
    text: str,
    html: str,
    kind: str,
    connection=None,
    headers: dict | None = None,
) -> None:
    message = EmailMultiAlternatives(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        [customer.email],
        headers={**_headers(customer), **(headers or {})},
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    email_tag(message, kind=kind, program_id=customer.program_id)
    message.send()


def invitation_send(
    *, recipient: CampaignRecipient, step: int, connection=None, texts: dict | None = None
) -> None:
    """Email step ``step`` of a campaign to its recipient (1: the invitation).

    ``connection``: an open mail connection, reused for a batch (one SMTP session).
    """
    customer = recipient.customer
    program = recipient.campaign.program
    language = customer_language(customer)
    token = token_for(recipient.pk, INVITE_SALT)
    values = {
        "name": customer.name or customer.email.split("@")[0],
        "program": program.name,
        "join_url": absolute(reverse("recruitment:join", args=[token])),
    }
    subject, body = invitation_text(program, language, reminder=step > 1, texts=texts)
    subject, body = _fill(subject, values).replace("\n", " "), _fill(body, values)
    with translation.override(language):
        footer = _("Unsubscribe: %(url)s") % {"url": unsubscribe_url(customer)}
    text = f"{body}\n--\n{footer}\n"
    pixel = absolute(reverse("recruitment:open", args=[token]))
    html = (
        f"{linebreaks(escape(body))}<p><small>{escape(footer)}</small></p>"
        f'<img src="{escape(pixel)}" width="1" height="1" alt="">'
    )
    kind = "campaign_invitation" if step == 1 else "campaign_reminder"
    # Providers echo this header in bounce reports: POST /webhooks/email/bounces
    # then names the exact recipient ("recipient").
    _send(
        customer=customer,
        subject=subject,
        text=text,
        html=html,
        kind=kind,
        connection=connection,
        headers={"X-Recruitment-Recipient": token},
    )


def nps_survey_send(*, survey: NpsSurvey) -> None:
    """The survey: "how likely are you to recommend us?" with 0-10 one-click links."""
    customer = survey.customer
    program = survey.program
    language = customer_language(customer)
    token = token_for(survey.pk, NPS_SALT)
    links = [(n, absolute(reverse("recruitment:nps_answer", args=[token, n]))) for n in range(11)]
    with translation.override(language):
        subject = _("How likely are you to recommend %(program)s?") % {"program": program.name}
        question = _(
            "How likely are you to recommend %(program)s to a friend? Click a number: "
            "0 is not at all likely, 10 is extremely likely."
        ) % {"program": program.name}
        footer = _("Unsubscribe: %(url)s") % {"url": unsubscribe_url(customer)}
    text = question + "\n\n" + "\n".join(f"{n}: {url}" for n, url in links)
    text += f"\n--\n{footer}\n"
    buttons = " ".join(
        f'<a href="{escape(url)}" style="display:inline-block;padding:6px 10px;'
        f'border:1px solid #888;margin:2px;text-decoration:none">{n}</a>'
        for n, url in links
    )
    html = f"<p>{escape(question)}</p><p>{buttons}</p><p><small>{escape(footer)}</small></p>"
    _send(customer=customer, subject=subject, text=text, html=html, kind="nps_survey")

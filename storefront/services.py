"""Writes for the advocate widget, placements' events and the post-purchase prompt."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate, Program
from advocacy.services import advocate_enroll, advocate_set_status, terms_accept
from core.errors import ServiceError
from core.normalize import normalize_email
from referrals.placements import POST_PURCHASE, placement_clean

from .models import PlacementEvent
from .signing import viewer_for_email, widget_verify


def widget_open(
    *,
    program: Program,
    email: str,
    external_id: str | None,
    name: str,
    expires: str,
    sig: str,
) -> Advocate:
    """Trust a merchant-signed customer and enroll them (or find them) as an advocate.

    Raises ``WidgetSignatureError`` for a bad or expired signature (nothing is
    created) and ``ServiceError`` when the customer cannot be an advocate here.
    """
    # The name only when the signature covers it (an older signature: no name).
    name = widget_verify(
        program=program, email=email, external_id=external_id, expires=expires, sig=sig, name=name
    )
    if not program.is_active:
        raise ServiceError("program_inactive", "This referral program is not active.", status=404)
    try:
        validate_email(email)
        if len(email) > 254:
            raise ValidationError("too long")
    except ValidationError:
        raise ServiceError("invalid_email", "The signed email is not a valid address.") from None
    if external_id and (len(external_id) > 120 or "\x00" in external_id):
        raise ServiceError("invalid_external_id", "external_id is at most 120 characters.")
    advocate, _ = advocate_enroll(
        program=program,
        email=email,
        name=name.replace("\x00", "")[:120],
        external_id=external_id or None,
    )
    if advocate.status == Advocate.Status.INVITED:
        # The merchant vouches for this customer: opening the widget accepts the invitation.
        advocate = advocate_set_status(advocate=advocate, status=Advocate.Status.ACTIVE)
    return advocate


# ---------------------------------------------------------------- placements


def placement_event_record(
    *,
    program: Program,
    kind: str,
    placement: str,
    viewer: str,
    advocate_id: int | None = None,
    channel: str = "",
) -> PlacementEvent | None:
    """Record an impression or a share at a placement; None when the placement is unusable.

    Analytics, not a state change: no audit row (the endpoint is rate-bounded instead).
    """
    placement = placement_clean(placement)
    if not placement or kind not in PlacementEvent.Kind.values or not viewer:
        return None
    if advocate_id is not None and not Advocate.objects.filter(pk=advocate_id).exists():
        advocate_id = None  # a token older than its advocate's erasure
    return PlacementEvent.objects.create(
        program=program,
        kind=kind,
        placement=placement,
        viewer=viewer[:64],
        advocate_id=advocate_id,
        channel=placement_clean(channel)[:30],
    )


def advocate_share_record(*, program: Program, advocate: Advocate, placement: str, channel: str):
    """A share the advocate made with buttons we render ourselves (the portal): counted as
    the same sharer as in the widget and the prompt (the viewer is their email's hash)."""
    return placement_event_record(
        program=program,
        kind=PlacementEvent.Kind.SHARE,
        placement=placement,
        viewer=viewer_for_email(program=program, email=advocate.email),
        advocate_id=advocate.pk,
        channel=channel,
    )


def advocate_findable_set(
    *, advocate: Advocate, findable: bool, city: str | None = None, show_city: bool | None = None
) -> Advocate:
    """The advocate's opt-in to being found by name at checkout (and whether with a city)."""
    with transaction.atomic():
        advocate.findable = findable
        fields = ["findable"]
        if city is not None:
            advocate.city = city.replace("\x00", "").strip()[:80]
            fields.append("city")
        if show_city is not None:
            advocate.findable_show_city = show_city
            fields.append("findable_show_city")
        advocate.save(update_fields=fields)
        audit_log(
            action=AuditAction.ADVOCATE_UPDATED,
            obj=advocate,
            program=advocate.program,
            data={f: getattr(advocate, f) for f in fields if f != "city"},
        )
    return advocate


# ---------------------------------------------------------------- post-purchase prompt


@dataclass
class PromptOpening:
    show: bool
    identity: dict
    viewer: str
    advocate: Advocate | None


def prompt_identity(*, program: Program, token: str) -> dict:
    """The buyer the merchant's server signed: the token is the widget URL's query string.

    Raises ``WidgetSignatureError`` when it is not genuine or has expired.
    """
    values = {k: v[0] for k, v in parse_qs(token[:4000], keep_blank_values=True).items()}
    identity = {
        "email": values.get("email", ""),
        "external_id": values.get("external_id") or None,
        "name": values.get("name", ""),
        "expires": values.get("expires", ""),
        "sig": values.get("sig", ""),
    }
    identity["name"] = widget_verify(
        program=program,
        email=identity["email"],
        external_id=identity["external_id"],
        expires=identity["expires"],
        sig=identity["sig"],
        name=identity["name"],
    )
    return identity


def prompt_open(*, program: Program, token: str) -> PromptOpening:
    """Decide whether the buyer sees the prompt now; when they do, count the impression.

    At most once per buyer per ``program.prompt_every_days`` (by their signed email).
    """
    identity = prompt_identity(program=program, token=token)
    if not program.is_active:
        raise ServiceError("program_inactive", "This referral program is not active.", status=404)
    viewer = viewer_for_email(program=program, email=identity["email"])
    advocate = Advocate.objects.filter(
        program=program, email_normalized=normalize_email(identity["email"])
    ).first()
    since = timezone.now() - timedelta(days=program.prompt_every_days)
    shown = PlacementEvent.objects.filter(
        program=program,
        viewer=viewer,
        placement=POST_PURCHASE,
        kind=PlacementEvent.Kind.IMPRESSION,
        created_at__gte=since,
    ).exists()
    if shown:
        return PromptOpening(show=False, identity=identity, viewer=viewer, advocate=advocate)
    placement_event_record(
        program=program,
        kind=PlacementEvent.Kind.IMPRESSION,
        placement=POST_PURCHASE,
        viewer=viewer,
        advocate_id=advocate.pk if advocate else None,
    )
    return PromptOpening(show=True, identity=identity, viewer=viewer, advocate=advocate)


def prompt_enrol(
    *, program: Program, token: str, accepted_terms: str = "", findable: bool = False
) -> Advocate:
    """One click: the signed buyer joins with the program's current terms, and gets a link."""
    identity = prompt_identity(program=program, token=token)
    if program.terms_version and accepted_terms != program.terms_version:
        raise ServiceError(
            "terms_not_accepted",
            "Accept the program's current terms to join.",
            fields={"accepted_terms": [f"Send the terms version {program.terms_version!r}."]},
        )
    advocate = widget_open(program=program, **identity)
    if program.terms_version:
        terms_accept(advocate=advocate, version=program.terms_version)
    if findable and not advocate.findable:
        advocate = advocate_findable_set(advocate=advocate, findable=True)
    return advocate

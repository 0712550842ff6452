"""Writes for the advocate widget."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from advocacy.models import Advocate, Program
from advocacy.services import advocate_enroll, advocate_set_status
from core.errors import ServiceError

from .signing import widget_verify


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
    widget_verify(program=program, email=email, external_id=external_id, expires=expires, sig=sig)
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

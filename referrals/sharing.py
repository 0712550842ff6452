"""Sharing a referral link: the message a friend receives and one link per channel.

The one builder the portal and the merchant's widget both use.
"""

from collections.abc import Callable
from urllib.parse import quote, urlencode

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from advocacy.models import Program


def program_share_messages(program: Program) -> dict[tuple[str, str], str]:
    """The program's own share texts, keyed by (channel, language); one query."""
    return {(m.channel, m.language): m.text for m in program.share_messages.all()}


# --- share copy chosen above this layer (share-copy experiments) ---------------
# Experiments live above this layer (measurement); their provider registers here from
# its app's ``ready()``, as ``rewards.variants`` does for offers.

ShareCopy = Callable[..., dict]  # provider(advocate=) -> {channel or "": text}
_share_copy: list[ShareCopy] = []


def share_copy_register(provider: ShareCopy) -> None:
    """Register a provider once (registering it again changes nothing)."""
    if provider not in _share_copy:
        _share_copy.append(provider)


def share_copy_for(*, advocate) -> dict[str, str]:
    """The advocate's share texts from their experiment arm ({channel or "": text}), or {}."""
    if advocate is None:
        return {}
    for provider in _share_copy:
        answer = provider(advocate=advocate)
        if answer:
            return answer
    return {}


def share_message(
    *,
    program: Program,
    percent: int,
    channel: str,
    custom: dict | None = None,
    advocate=None,
    copy: dict | None = None,
) -> str:
    """The text a friend receives: the advocate's share-copy variant's for this channel (or
    for every channel), else the program's own for this channel and language, if any,
    else a translated default that mentions the discount when there is one."""
    if copy is None:
        copy = share_copy_for(advocate=advocate)
    for key in (channel, ""):
        if copy.get(key):
            return copy[key]
    if custom:
        language = get_language() or ""
        for key in ((channel, language), (channel, ""), ("", language), ("", "")):
            if key in custom:
                return custom[key]
    if channel == "x":
        if percent:
            return _("%(percent)s%% off at %(program)s with my link:") % {
                "percent": percent,
                "program": program.name,
            }
        return _("I recommend %(program)s:") % {"program": program.name}
    if percent:
        return _(
            "Hi! I love %(program)s. Sign up with my link and get %(percent)s%% off "
            "your first order:"
        ) % {"percent": percent, "program": program.name}
    return _("Hi! I love %(program)s and I think you will too. Have a look:") % {
        "program": program.name
    }


def share_links(
    *,
    program: Program,
    url: str,
    percent: int,
    placement: str = "",
    advocate=None,
    copy: dict | None = None,
) -> list[dict]:
    """One link per channel; each carries ``?ch=<channel>`` so its clicks are counted apart,
    and ``p=<placement>`` when given (where the buttons are shown: widget, portal, ...).

    ``percent`` is the friend's discount, which the default messages mention; with
    ``advocate``, the texts are their share-copy variant's if they are in one (``copy``:
    those texts, already read).
    """
    if copy is None:
        copy = share_copy_for(advocate=advocate)
    prefix = f"{url}?p={placement}&ch=" if placement else f"{url}?ch="

    def tagged(channel):
        return prefix + channel

    def q(params):
        return urlencode(params, quote_via=quote)

    custom = program_share_messages(program)

    def text(channel):
        message = share_message(
            program=program, percent=percent, channel=channel, custom=custom, copy=copy
        )
        return f"{message} {tagged(channel)}"

    subject = _("A gift for you from %(program)s") % {"program": program.name}
    return [
        {
            "channel": "email",
            "label": _("Email"),
            "href": "mailto:?" + q({"subject": subject, "body": text("email")}),
        },
        {
            "channel": "whatsapp",
            "label": _("WhatsApp"),
            "href": "https://wa.me/?" + q({"text": text("whatsapp")}),
        },
        {
            "channel": "x",
            "label": _("X"),
            "href": "https://x.com/intent/post?"
            + q(
                {
                    "text": share_message(
                        program=program, percent=percent, channel="x", custom=custom, copy=copy
                    ),
                    "url": tagged("x"),
                }
            ),
        },
        {
            "channel": "facebook",
            "label": _("Facebook"),
            "href": "https://www.facebook.com/sharer/sharer.php?" + q({"u": tagged("facebook")}),
        },
        {
            "channel": "linkedin",
            "label": _("LinkedIn"),
            "href": "https://www.linkedin.com/sharing/share-offsite/?"
            + q({"url": tagged("linkedin")}),
        },
        # "sms:?&body=" is the form both iOS and Android read.
        {"channel": "sms", "label": _("SMS"), "href": "sms:?&" + q({"body": text("sms")})},
    ]


# --- shares made on our own pages (the portal's buttons) -------------------------
# Placements are recorded above this layer (storefront); whoever records them
# registers here from its app's ``ready()``, as ``rewards.multipliers`` does.

ShareRecorder = Callable[..., object]  # recorder(program=, advocate=, placement=, channel=)
_share_recorders: list[ShareRecorder] = []


def share_recorder_register(recorder: ShareRecorder) -> None:
    """Register a recorder once (registering it again changes nothing)."""
    if recorder not in _share_recorders:
        _share_recorders.append(recorder)


def share_record(*, program: Program, advocate, placement: str, channel: str) -> int:
    """Tell every recorder an advocate shared their link; returns how many were told."""
    for recorder in _share_recorders:
        recorder(program=program, advocate=advocate, placement=placement, channel=channel)
    return len(_share_recorders)

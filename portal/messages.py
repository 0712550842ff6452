"""Advocate-facing texts for the engagement services' error codes (translated here,
where the advocate's language is active)."""

from django.utils.translation import gettext_lazy as _


class _Messages(dict):
    def get(self, key, default=None):
        value = super().get(key)
        return str(value) if value is not None else default


nurture_messages = _Messages(
    {
        "proof_required": _("Add a link to your post or review, or a screenshot of it."),
        "answer_required": _("Please answer the question."),
        "not_yet": _("You haven't referred enough friends yet for this challenge."),
        "challenge_closed": _("This challenge is closed."),
        "already_submitted": _("You already took part in this challenge."),
        "advocate_inactive": _("Your account can't take part in challenges now."),
        "bad_image": _("Send a PNG, JPEG, WebP or GIF image."),
        "image_too_large": _("The image is larger than 2 MB."),
        "text_required": _("Please write a few words."),
        "bad_rating": _("Choose a rating from 1 to 5 stars."),
        "title_required": _("Say in a few words what you suggest."),
        "name_required": _("Choose the name the leaderboard shows."),
    }
)

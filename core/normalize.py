"""Identity normalisation used to spot self-referrals and duplicate friends."""

GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


def normalize_email(email: str | None) -> str:
    """Lower-case, drop ``+tags``, and drop dots in Gmail local parts.

    ``Jane.Doe+shop@GoogleMail.com`` and ``janedoe@gmail.com`` are one person.
    """
    if not email:
        return ""
    email = email.strip().lower()
    local, sep, domain = email.rpartition("@")
    if not sep:
        return email
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        local = local.replace(".", "")
    return f"{local}@{domain}"

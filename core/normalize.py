"""Identities: normalised to spot self-referrals and duplicates, masked to be shown."""

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


def mask_email(email: str) -> str:
    """``jane@example.com`` -> ``j***@e***.com``: enough to recognise, not to contact."""
    local, sep, domain = (email or "").rpartition("@")
    if not sep:
        return "***" if email else ""
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}***.{tld}" if dot else f"{domain[:1]}***"
    return f"{local[:1]}***@{masked_domain}"

from allauth.account.adapter import DefaultAccountAdapter

from core.mail import email_tag


class AccountAdapter(DefaultAccountAdapter):
    """Hook point for the advocate sign-up flow (invitations, open enrollment)."""

    def is_open_for_signup(self, request):
        return True

    def render_mail(self, template_prefix, email, context, headers=None):
        """allauth's emails (address confirmation, password reset, ...), named in the
        email log by their template: ``account.email_confirmation``, ..."""
        message = super().render_mail(template_prefix, email, context, headers=headers)
        return email_tag(message, kind="account." + template_prefix.rsplit("/", 1)[-1])

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Hook point for the advocate sign-up flow (invitations, open enrollment)."""

    def is_open_for_signup(self, request):
        return True

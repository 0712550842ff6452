"""Account data download, account deletion, email preferences and unsubscribe pages."""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from advocacy import emails
from advocacy.models import Advocate, EmailPreference

from . import services


@login_required
@require_GET
def account_data(request):
    """``GET /account/data.json``: everything we hold about the signed-in user."""
    body = json.dumps(services.account_export(request.user), cls=DjangoJSONEncoder, indent=2)
    return HttpResponse(
        body,
        content_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "no-store",
        },
    )


class DeleteAccountForm(forms.Form):
    email = forms.CharField(
        label=gettext_lazy("Type your email address to confirm"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, expected: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_email(self):
        value = self.cleaned_data["email"].strip()
        if value.lower() != self.expected.lower():
            raise forms.ValidationError(_("This is not the email address of your account."))
        return value


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request):
    """``/account/delete/``: a confirmation page; POST erases the account."""
    user = request.user
    expected = user.email or user.get_username()
    form = DeleteAccountForm(request.POST or None, expected=expected)
    if request.method == "POST" and form.is_valid():
        services.account_delete(user=user, actor=user)
        logout(request)
        messages.success(request, _("Your account and your personal data have been deleted."))
        return redirect("portal:home")
    status = 400 if request.method == "POST" else 200
    return render(request, "privacy/delete_confirm.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def email_preferences(request):
    """``/account/emails/``: what each of the user's programs may email them."""
    advocates = list(
        Advocate.objects.filter(user=request.user)
        .select_related("program", "email_preference")
        .order_by("program__name", "pk")
    )
    if request.method == "POST":
        # Only the user's own advocates are read from the form: fields naming
        # anyone else's record are ignored.
        for advocate in advocates:
            emails.email_preferences_update(
                advocate=advocate,
                rewards_and_payouts=f"rewards-{advocate.pk}" in request.POST,
                program_news=f"news-{advocate.pk}" in request.POST,
                unsubscribe_all=f"none-{advocate.pk}" in request.POST,
                actor=request.user,
            )
        messages.success(request, _("Your email preferences have been saved."))
        return redirect("privacy:emails")
    rows = []
    for advocate in advocates:
        try:
            preference = advocate.email_preference
        except EmailPreference.DoesNotExist:
            preference = emails.email_preference_get(advocate)
        rows.append({"advocate": advocate, "preference": preference})
    return render(request, "privacy/email_preferences.html", {"rows": rows})


# Token-authenticated and without a session: mail providers send the RFC 8058
# one-click POST with no cookie and no CSRF token. GET only shows a button, so
# link scanners that open every URL in an email do not unsubscribe anyone.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """``/unsubscribe/<token>/``: unsubscribe from every email of one program."""
    advocate = emails.advocate_from_token(token)
    if advocate is None:
        return render(request, "privacy/bad_token.html", status=400)
    context = {"program": advocate.program}
    if request.method == "POST":
        emails.email_unsubscribe_all(advocate=advocate)
        return render(request, "privacy/unsubscribed.html", context)
    return render(request, "privacy/unsubscribe.html", context)

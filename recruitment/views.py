"""Pages reached from recruitment emails: the tracked join link, the open pixel,
one-click unsubscribe, and the NPS answer with its comment page."""

import base64
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import campaigns, nps
from .emails import (
    INVITE_SALT,
    NPS_SALT,
    UNSUBSCRIBE_SALT,
    customer_language,
    pk_from_token,
)
from .models import Customer, NpsResponse, NpsSurvey

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _bad_link(request):
    return render(request, "recruitment/bad_link.html", status=400)


def open_pixel(request, token: str):
    """``/recruit/o/<token>.gif``: the invitation was opened (images shown)."""
    recipient_id = pk_from_token(token, INVITE_SALT)
    if recipient_id is not None:
        campaigns.recipient_opened(recipient_id=recipient_id)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


def join(request, token: str):
    """``/recruit/i/<token>/``: the tracked join link; on to the program's join page."""
    recipient_id = pk_from_token(token, INVITE_SALT)
    recipient = campaigns.recipient_clicked(recipient_id=recipient_id) if recipient_id else None
    if recipient is None:
        return _bad_link(request)
    program = recipient.campaign.program
    query = urlencode({"email": recipient.customer.email})
    return redirect(f"{reverse('portal:join', args=[program.slug])}?{query}")


@csrf_exempt  # RFC 8058: mail clients POST the one-click unsubscribe without a form
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """``/recruit/u/<token>/``: a button (GET), one click (POST) unsubscribes."""
    customer_id = pk_from_token(token, UNSUBSCRIBE_SALT)
    customer = Customer.objects.select_related("program").filter(pk=customer_id).first()
    if customer is None:
        return _bad_link(request)
    context = {"program": customer.program}
    with translation.override(customer_language(customer)):
        if request.method == "POST":
            campaigns.customer_unsubscribe(customer_id=customer.pk)
            return render(request, "recruitment/unsubscribed.html", context)
        return render(request, "recruitment/unsubscribe.html", context)


@require_http_methods(["GET", "POST"])
def nps_answer(request, token: str, score: int):
    """``/recruit/nps/<token>/<score>/``: the one-click answer, then a comment form."""
    survey_id = pk_from_token(token, NPS_SALT)
    survey = (
        NpsSurvey.objects.select_related("program", "customer").filter(pk=survey_id).first()
        if survey_id
        else None
    )
    if survey is None or not 0 <= score <= 10:
        return _bad_link(request)
    with translation.override(customer_language(survey.customer)):
        response = nps.nps_survey_answer(survey=survey, score=score)
        context = {"program": survey.program, "response": response, "scores": range(11)}
        if request.method == "POST":
            nps.nps_comment_save(response=response, comment=request.POST.get("comment", ""))
            return render(request, "recruitment/nps_thanks.html", context)
        context["promoter"] = response.category == NpsResponse.Category.PROMOTER
        return render(request, "recruitment/nps_comment.html", context)

"""Public pages of nurture: the embeddable testimonials widget and published photos."""

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from advocacy.models import Program
from core.csp import allow_framing_by

from . import selectors
from .models import Moderation, Testimonial


@require_GET
@xframe_options_exempt
def testimonials_widget(request, slug: str):
    """Featured (else latest) published testimonials, to frame on the merchant's site."""
    program = get_object_or_404(Program, slug=slug, status=Program.Status.ACTIVE)
    rows = selectors.public_testimonials(program=program, featured_only=True, limit=6)
    if not rows:
        rows = selectors.public_testimonials(program=program, limit=6)
    response = render(
        request,
        "nurture/testimonials_widget.html",
        {
            "program": program,
            "testimonials": [
                {"t": t, "author": selectors.testimonial_author(t), "stars": "★" * t.rating}
                for t in rows
            ],
        },
    )
    # The site's policy, with the program's own sites allowed to frame it.
    return allow_framing_by(response, program.redirect_hosts())


@require_GET
def testimonial_photo(request, testimonial_id: int):
    """A published testimonial's photo (nothing for unpublished ones)."""
    t = (
        Testimonial.objects.select_related("photo")
        .filter(
            pk=testimonial_id,
            status=Moderation.APPROVED,
            consent_to_publish=True,
            photo__isnull=False,
        )
        .first()
    )
    if t is None:
        raise Http404
    response = HttpResponse(bytes(t.photo.data), content_type=t.photo.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response

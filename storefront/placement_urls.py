"""The browser-callable API routes of placements, the prompt and the lookup (``/api/v1/``)."""

from django.urls import path

from . import lookup, placements, prompt

urlpatterns = [
    path("placement-events", placements.PlacementEventApi.as_view(), name="placement-events"),
    path("post-purchase", prompt.PromptOpenApi.as_view(), name="post-purchase"),
    path("post-purchase/enrol", prompt.PromptEnrolApi.as_view(), name="post-purchase-enrol"),
    path("advocate-lookup", lookup.AdvocateLookupApi.as_view(), name="advocate-lookup"),
]

"""``GET /api/v1/metrics`` and its breakdowns (secret key): thin views over the selectors."""

from datetime import UTC

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound, ServiceError
from recruitment.models import Segment

from . import daily, selectors
from .segments import segment_keys

PERIOD = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (UTC), YYYY-MM-DD."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (UTC), included."),
]


def _period(request) -> selectors.Period:
    today = timezone.now().astimezone(UTC).date()
    # A date given empty is not a date (the schema's format); left out, it defaults.
    empty = [name for name in ("from", "to") if request.query_params.get(name) == ""]
    if empty:
        raise ServiceError(
            "invalid_period",
            "The period's dates are not valid.",
            fields={name: ["Use a date as YYYY-MM-DD, or leave it out."] for name in empty},
        )
    return selectors.period_parse(
        request.query_params.get("from"), request.query_params.get("to"), today=today
    )


def _segment_keys(request) -> frozenset[str] | None:
    slug = request.query_params.get("segment")
    if not slug:
        return None
    segment = Segment.objects.filter(program=request.program, slug=slug).first()
    if segment is None:
        raise NotFound("unknown_segment", f"No segment {slug!r} in this program.")
    return segment_keys(segment)


class MetricsApi(APIView):
    @extend_schema(
        parameters=[
            *PERIOD,
            OpenApiParameter(
                "segment", str, description="A segment's slug: customer numbers for it only."
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        period = _period(request)
        with daily.memoized():
            answer = selectors.program_metrics(
                program=request.program,
                date_from=period.date_from,
                date_to=period.date_to,
                segment_keys=_segment_keys(request),
            )
        return Response(answer)


BREAKDOWNS = {
    "day": selectors.daily_series,
    "advocate": selectors.top_advocates,
    "channel": selectors.channels,
}


class MetricsBreakdownApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("by", str, OpenApiParameter.PATH, enum=list(BREAKDOWNS)),
            *PERIOD,
        ],
        responses={200: OpenApiTypes.OBJECT},
        operation_id="metrics_by",
    )
    def get(self, request, by):
        if by not in BREAKDOWNS:
            raise ServiceError(
                "invalid_breakdown", f"Break down by one of: {', '.join(BREAKDOWNS)}.", status=404
            )
        period = _period(request)
        rows = BREAKDOWNS[by](request.program, period)
        return Response(
            {
                "from": period.date_from.isoformat(),
                "to": period.date_to.isoformat(),
                "results": rows,
            }
        )

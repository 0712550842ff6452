from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .serializers import (
    AdvocateCreateInput,
    AdvocateOutput,
    advocate_detail_payload,
    advocate_payload,
)


class AdvocateCreateApi(APIView):
    @extend_schema(
        request=AdvocateCreateInput, responses={200: AdvocateOutput, 201: AdvocateOutput}
    )
    def post(self, request):
        data = AdvocateCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        advocate, created = services.advocate_enroll(program=request.program, **data.validated_data)
        link = services.advocate_primary_link(advocate)
        return Response(
            advocate_payload(advocate, link),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AdvocateDetailApi(APIView):
    @extend_schema(responses={200: AdvocateOutput})
    def get(self, request, advocate_id):
        advocate = selectors.advocate_get(program=request.program, advocate_id=advocate_id)
        link = services.advocate_primary_link(advocate)
        stats = selectors.advocate_stats(advocate=advocate)
        return Response(advocate_detail_payload(advocate, link, stats))

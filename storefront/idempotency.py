"""``Idempotency-Key`` support: a retried request gets the first answer back (as 200).

The stored record replays answers; the real guarantee against doubles is
the database unique constraint of each operation (order id, refund key).
"""

from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from core.errors import Conflict, ServiceError
from core.hashing import fingerprint
from referrals.models import IdempotencyRecord

HEADER = "Idempotency-Key"


def idempotency_key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise ServiceError("invalid_idempotency_key", f"{HEADER} must be 1-200 characters.")
    return key


def _replay(record: IdempotencyRecord, fp: str) -> Response:
    if record.request_fingerprint != fp:
        raise Conflict(
            "idempotency_key_reused",
            f"This {HEADER} was used for a different request.",
        )
    # A replay answers like a repeated order id: 200 with the original body.
    response = Response(record.response_body, status=200)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request, data: dict, handler: Callable[[], Response]) -> Response:
    key = idempotency_key(request)
    if key is None:
        return handler()
    program = request.program
    fp = fingerprint({"method": request.method, "path": request.path, "data": data})
    record = IdempotencyRecord.objects.filter(program=program, key=key).first()
    if record:
        return _replay(record, fp)
    response = handler()
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                program=program,
                key=key,
                request_fingerprint=fp,
                response_status=response.status_code,
                response_body=response.data,
            )
    except IntegrityError:
        # A concurrent duplicate stored its answer first. If this request is the
        # one that created the object, its own 201 stands; otherwise replay.
        record = IdempotencyRecord.objects.get(program=program, key=key)
        if response.status_code == 201 and record.request_fingerprint == fp:
            return response
        return _replay(record, fp)
    return response

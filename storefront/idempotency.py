"""``Idempotency-Key`` support: the key is claimed before the work, the answer kept after.

1. The key is stored first, in a transaction of its own, with the request's
   fingerprint and no answer yet (in flight). Of two concurrent requests with
   one key, exactly one stores it; the other waits a moment for the answer and
   replays it, or answers 409 ``in_flight`` (409 ``idempotency_key_reused``
   when its body differs).
2. The work and its answer are committed together, so a key never holds an
   answer for work that did not happen. A request that fails releases its key.

The database unique constraints of each operation (order id, refund key)
remain the final guarantee against doubles.
"""

import time
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from core.errors import Conflict, ServiceError
from core.hashing import fingerprint
from referrals.models import IdempotencyRecord

HEADER = "Idempotency-Key"
# How long a second request waits for the first one's answer before giving up.
WAIT_FOR_ANSWER = 5.0
# A claim this old with no answer belongs to a request that died: it may be retaken.
ABANDONED_AFTER = timedelta(minutes=2)


def idempotency_key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise ServiceError("invalid_idempotency_key", f"{HEADER} must be 1-200 characters.")
    return key


def _replay(record: IdempotencyRecord) -> Response:
    # A replay answers like a repeated order id: 200 with the original body.
    response = Response(record.response_body, status=200)
    response["Idempotent-Replayed"] = "true"
    return response


def _claim(program, key: str, fp: str) -> tuple[IdempotencyRecord, bool]:
    """(record, True) when this request now owns the key; (record, False) when another does."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                program=program, key=key, request_fingerprint=fp
            ), True
    except IntegrityError:
        record = IdempotencyRecord.objects.get(program=program, key=key)
    stale = timezone.now() - ABANDONED_AFTER
    retaken = IdempotencyRecord.objects.filter(
        pk=record.pk, response_status__isnull=True, created_at__lt=stale
    ).update(request_fingerprint=fp, created_at=timezone.now())
    if retaken:
        record.refresh_from_db()
        return record, True
    return record, False


def _answer_of_other(record: IdempotencyRecord, fp: str) -> Response:
    if record.request_fingerprint != fp:
        raise Conflict("idempotency_key_reused", f"This {HEADER} was used for a different request.")
    deadline = time.monotonic() + WAIT_FOR_ANSWER
    while record.response_status is None and time.monotonic() < deadline:
        time.sleep(0.05)
        record = IdempotencyRecord.objects.filter(pk=record.pk).first()
        if record is None:
            raise Conflict("in_flight", f"A request with this {HEADER} just failed; send it again.")
    if record.response_status is None:
        raise Conflict("in_flight", f"A request with this {HEADER} is still being processed.")
    return _replay(record)


def idempotent(request, data: dict, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` once per ``Idempotency-Key``; without the header, just run it."""
    key = idempotency_key(request)
    if key is None:
        return handler()
    fp = fingerprint({"method": request.method, "path": request.path, "data": data})
    record, owned = _claim(request.program, key, fp)
    if not owned:
        return _answer_of_other(record, fp)
    try:
        with transaction.atomic():
            response = handler()
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                response_status=response.status_code, response_body=response.data
            )
    except BaseException:
        # Nothing of the work was committed: free the key for a corrected retry.
        IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()
        raise
    return response

"""A local fake of the Stripe HTTP API for the test suite (stdlib only).

It speaks enough of Stripe's v1 API for Connect payouts and coupons, with Stripe's
object shapes, error shapes and idempotency semantics, so the real ``stripe`` SDK
(16.1.0) can be pointed at it.

Running it
==========

In-process (pytest)::

    fake = FakeStripe().start()   # or: with FakeStripe() as fake: ...
    fake.url                      # "http://127.0.0.1:PORT"
    fake.reset()                  # forget objects, requests, idempotency keys, failure rules
    fake.stop()

As a separate process (survives a killed worker; state is inspected over HTTP)::

    python -m tests.fake_stripe --port 0   # prints "http://127.0.0.1:PORT" and flushes

or ``with FakeStripeProcess() as fake: ...`` which does exactly that and offers the same
control methods (``fail``, ``hang``, ``drop``, ``onboard``, ``state``, ``requests_log``,
``reset``) over HTTP.

Pointing the SDK at it (checked against stripe 16.1.0)
======================================================

Global style (``stripe.Account.create(...)``, ``stripe.Transfer.create(...)``)::

    stripe.api_key = "sk_test_fake"
    stripe.api_base = fake.url        # read at every request, so it can be set any time

Client style::

    client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})

``StripeClient`` does NOT read ``stripe.api_base``: without ``base_addresses`` it talks to
the real https://api.stripe.com. Connect calls made "as" a connected account
(``stripe_account="acct_..."`` on a call, or ``StripeClient(..., stripe_account=...)``)
go to the same ``api`` base with a ``Stripe-Account`` header, so nothing else needs
pointing; ``connect_api_base`` / ``base_addresses["connect"]`` is only used for OAuth.
The fake scopes objects and idempotency keys by that header like Stripe does. API keys
must look like ``sk_test_...`` / ``rk_test_...`` (anything else gets a 401).

Retries: the global style defaults to ``stripe.max_network_retries = 2``;
``StripeClient`` defaults to 0 retries unless ``max_network_retries=`` is given. When
retrying, the SDK reuses the same ``Idempotency-Key`` (it generates one for every POST
that has none) and retries on connection errors/timeouts, 409 and any status >= 500,
or when the response has ``Stripe-Should-Retry: true``. A 429 is NOT retried by 16.1.0
unless ``should_retry=True`` is set on the injected failure. Each retry sleeps at least
``stripe._http_client.HTTPClient.INITIAL_DELAY`` (0.5 s); monkeypatch it (and
``MAX_DELAY``) in fast tests. Errors map to SDK exceptions as: 400/404 ->
``stripe.InvalidRequestError`` (``type == "idempotency_error"`` ->
``stripe.IdempotencyError``), 401 -> ``AuthenticationError``, 402 -> ``CardError``,
403 -> ``PermissionError``, 429 -> ``RateLimitError``, anything else (409, 5xx) ->
``APIError``; no response or a client timeout -> ``APIConnectionError``. (All are also
under ``stripe.error``.) A client timeout is ``stripe.RequestsClient(timeout=seconds)``
passed as ``StripeClient(..., http_client=...)`` or set as ``stripe.default_http_client``;
close such clients (``.close()``) in fixtures to keep their sockets from leaking.

Endpoints
=========

``POST /v1/accounts``, ``GET /v1/accounts[/{id}]``, ``POST /v1/accounts/{id}``, ``GET /v1/account``;
``POST /v1/account_links`` (its ``url`` points at ``GET /onboarding/{acct}``, which marks the
account onboarded and 302-redirects to ``return_url``; a link works once and expires after
300 s, after which it redirects to ``refresh_url`` like Stripe);
``POST/GET /v1/transfers[/{id}]``, ``POST/GET /v1/transfers/{id}/reversals``;
``POST/GET/DELETE /v1/coupons[/{id}]``; ``POST/GET /v1/promotion_codes[/{id}]``;
``GET /v1/events[/{id}]``. Anything else: 404 with Stripe's error shape.

Behaviour worth knowing:

* A transfer needs an existing destination whose ``transfers`` capability is ``active``
  (i.e. onboarded) -- else 400 ``insufficient_capabilities_for_transfer``; turn off with
  ``control({"settings": {"enforce_capabilities": False}})``.
* Promotion codes follow the API version the SDK sends (16.1.0 pins 2026-10-28.endive):
  from 2025-09-30 on, create with ``promotion={"type": "coupon", "coupon": coupon_id}``
  and read ``promo.promotion.coupon``; the old top-level ``coupon`` parameter is rejected
  ("Received unknown parameter: coupon") exactly as Stripe does. With an older
  ``Stripe-Version`` the legacy ``coupon`` parameter/field is used.
* Unknown parameters are rejected on transfers, reversals, coupons, promotion codes and
  account links. ``expand`` is honoured for ids of objects the fake knows.
* Events ``account.updated`` (with ``account``, as Connect events have),
  ``transfer.created`` and ``transfer.reversed`` are recorded in ``fake.events``.
  Connect events are only visible with the matching ``Stripe-Account`` header.
  Nothing is delivered to webhooks: use ``make_event`` + ``sign_payload``.

Idempotency
===========

A POST whose ``Idempotency-Key`` (scoped by ``Stripe-Account``) was seen before with the
same method, path and parameters gets the stored response byte for byte (same status,
same object id) plus ``Idempotent-Replayed: true`` / ``Original-Request`` headers, and
nothing new is created. Same key with another path or other parameters: 400
``idempotency_error``. Same key while the first request is still running: 409
``idempotency_error``. Like Stripe, results of requests that failed parameter validation
(the fake's own 4xx) are not saved, so retrying them with the same key executes again.
Replays and 409s are answered before failure rules are consulted (they consume none).

Failure injection
=================

Python: ``fake.fail("/v1/transfers", 500)``, ``fake.fail("/v1/transfers", 400,
code="account_invalid")``, ``fake.hang("/v1/transfers", 2.0)``, ``fake.drop(...)``,
``fake.clear_failures()``. HTTP: ``POST /_fake/control`` with JSON, e.g.::

    {"fail": {"path": "/v1/transfers", "status": 500, "times": 1}}
    {"fail": [{"path": "/v1/", "status": 429, "should_retry": true, "times": 2}]}
    {"hang": {"path": "/v1/transfers", "seconds": 5, "when": "after"}}
    {"drop": {"path": "/v1/transfers", "when": "after"}}
    {"onboard": "acct_..."}
    {"update_account": {"id": "acct_...", "payouts_enabled": false}}
    {"event": {"type": "...", "object": {...}, "account": null}}
    {"settings": {"enforce_capabilities": false}}       {"clear_failures": true}

A rule matches the next ``times`` requests (default 1; ``null`` = forever) whose path
starts with ``path`` (default ``/v1/``) and whose method is ``method`` (default any).
Rule keys: ``status``, ``type`` (default ``api_error`` for >= 500, ``card_error`` for 402,
else ``invalid_request_error``; 429 defaults to code ``rate_limit``), ``code``,
``message``, ``param``, ``should_retry`` (sends ``Stripe-Should-Retry``), ``hang``
(seconds), ``drop`` (close the connection without a response), ``when`` and ``store``.

``when="before"`` (default for ``status``): the request is rejected before anything
happens (not saved for idempotency unless ``store: true``, so an SDK retry with the same
key runs for real). ``when="after"`` (default for ``hang`` and ``drop``): the request is
executed and its real response saved under its idempotency key first, then the fake
sleeps / drops / answers with the injected status -- "Stripe did it but the caller never
heard back"; a retry with the same key then gets the saved success replayed. Hangs end
early when the fake stops.

Inspection
==========

In-process: ``fake.accounts``, ``fake.account_links``, ``fake.transfers``,
``fake.reversals``, ``fake.coupons``, ``fake.promotion_codes``, ``fake.events`` (dicts
id -> object), ``fake.requests`` (list of {method, path, idempotency_key, params,
stripe_account, status, replayed, ...}), ``fake.requests_to(path_prefix, method)``,
``fake.state()`` and ``fake.errors`` (exceptions raised inside the fake; should stay
empty). Over HTTP: ``GET /_fake/state`` (counts and objects), ``GET /_fake/requests``
(optionally ``?path=/v1/transfers&method=POST``), ``POST /_fake/reset``.

Webhooks: ``sign_payload(payload, secret, timestamp=None)`` gives a ``Stripe-Signature``
value accepted by ``stripe.Webhook.construct_event``; ``make_event(type, obj, ...)``
builds an event dict; ``signed_event(...)`` gives ``(body_bytes, signature)``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import hmac
import json
import re
import secrets
import select
import signal
import socket
import socketserver
import string
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 sends as Stripe-Version
PROMOTION_HASH_VERSION = "2025-09-30"  # promotion_code.coupon -> promotion.coupon
ACCOUNT_LINK_TTL = 300
DOC_URL = "https://stripe.com/docs/error-codes"

_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits
_ROOT = Path(__file__).resolve().parent.parent

COLLECTIONS = (
    "accounts",
    "account_links",
    "transfers",
    "reversals",
    "coupons",
    "promotion_codes",
    "events",
)


def new_id(prefix: str) -> str:
    return f"{prefix}_1{''.join(secrets.choice(_ALNUM) for _ in range(23))}"


def _code(n: int = 8) -> str:
    return "".join(secrets.choice(_UPPER) for _ in range(n))


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- webhooks


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``: ``t=<ts>,v1=<hex hmac>``."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    ts = _now() if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{ts}.".encode() + payload, hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def make_event(
    type: str,
    obj: dict,
    id: str | None = None,
    created: int | None = None,
    account: str | None = None,
    previous_attributes: dict | None = None,
) -> dict:
    """An Event object as Stripe sends it to webhooks (Connect events carry ``account``)."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    event: dict[str, Any] = {
        "id": id or new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": _now() if created is None else created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }
    if account is not None:
        event["account"] = account
    return event


def signed_event(
    type: str, obj: dict, secret: str, *, timestamp: int | None = None, **kwargs: Any
) -> tuple[bytes, str]:
    """``(body, Stripe-Signature)`` of a fresh event, ready to POST to a webhook view."""
    body = json.dumps(make_event(type, obj, **kwargs)).encode()
    return body, sign_payload(body, secret, timestamp)


# --------------------------------------------------------------------------- form parsing

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_form(data: str | bytes) -> dict:
    """Parse Stripe's form encoding (``a[b][0][c]=1``) into nested dicts and lists."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    root: dict = {}
    for key, value in urllib.parse.parse_qsl(data, keep_blank_values=True):
        m = _KEY_RE.match(key)
        parts = [m.group(1), *_PART_RE.findall(m.group(2))] if m else [key]
        node = root
        for i, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if i == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise ValueError(f"Invalid value for {key}: conflicting parameters")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ValueError(f"Invalid value for {key}: conflicting parameters")
                node = child
    return _listify(root)


def _listify(node: Any, parent: str | None = None) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v, k) for k, v in node.items()}
    if out and parent != "metadata" and set(out) == {str(i) for i in range(len(out))}:
        return [out[str(i)] for i in range(len(out))]
    return out


# --------------------------------------------------------------------------- errors


class StripeHTTPError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type, code, param)
        self.headers = headers or {}


def error_body(message: str, type: str, code: str | None = None, param: str | None = None):
    error: dict[str, Any] = {"type": type, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"{DOC_URL}#{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return {"error": error}


def _missing(kind: str, id: str, param: str = "id") -> StripeHTTPError:
    return StripeHTTPError(404, f"No such {kind}: '{id}'", code="resource_missing", param=param)


class _Response:
    def __init__(self, status: int, body: Any = None, headers: dict | None = None):
        self.status = status
        self.body = body if isinstance(body, bytes | type(None)) else json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.drop = False


def _drop() -> _Response:
    r = _Response(0)
    r.drop = True
    return r


# --------------------------------------------------------------------------- params


def _api_key(auth: str) -> str:
    """The key from ``Bearer <key>`` (the SDK) or ``Basic base64(<key>:)`` (curl -u)."""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        with contextlib.suppress(ValueError):
            return base64.b64decode(value).decode().partition(":")[0]
    return ""


def _check_known(params: dict, allowed: set[str]) -> None:
    for key in params:
        if key not in allowed and key != "expand":
            raise StripeHTTPError(400, f"Received unknown parameter: {key}", param=key)


def _str(params: dict, name: str, required: bool = False) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise StripeHTTPError(
                400, f"Missing required param: {name}.", code="parameter_missing", param=name
            )
        return None
    if not isinstance(value, str):
        raise StripeHTTPError(400, f"Invalid string: {value!r}", param=name)
    return value


def _int(params: dict, name: str, required: bool = False, minimum: int | None = None):
    raw = _str(params, name, required)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise StripeHTTPError(400, f"Invalid integer: {raw}", param=name) from None
    if minimum is not None and value < minimum:
        raise StripeHTTPError(
            400, f"This value must be greater than or equal to {minimum}.", param=name
        )
    return value


def _float(params: dict, name: str) -> float | None:
    raw = _str(params, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise StripeHTTPError(400, f"Invalid decimal: {raw}", param=name) from None


def _bool(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes")


def _metadata(params: dict, existing: dict | None = None) -> dict:
    meta = dict(existing or {})
    raw = params.get("metadata")
    if raw in (None, ""):
        return {} if raw == "" else meta
    if not isinstance(raw, dict):
        raise StripeHTTPError(400, "Invalid object", param="metadata")
    for k, v in raw.items():
        if v == "":
            meta.pop(k, None)
        else:
            meta[k] = str(v)
    return meta


def _currency(params: dict, required: bool = False) -> str | None:
    value = _str(params, "currency", required)
    return value.lower() if value else None


def _list(data: list, url: str, params: dict) -> dict:
    limit = max(1, min(100, _int(params, "limit") or 10))
    start = params.get("starting_after")
    if start:
        ids = [o["id"] for o in data]
        data = data[ids.index(start) + 1 :] if start in ids else []
    return {
        "object": "list",
        "data": data[:limit],
        "has_more": len(data) > limit,
        "url": url,
    }


_COUNTRY_CURRENCY = {
    "US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "CH": "chf", "SE": "sek",
    "DK": "dkk", "NO": "nok", "PL": "pln", "JP": "jpy", "NZ": "nzd", "SG": "sgd",
}  # fmt: skip
_EURO = {"AT", "BE", "DE", "EE", "ES", "FI", "FR", "GR", "IE", "IT", "LT", "LU", "LV", "NL", "PT"}


# --------------------------------------------------------------------------- rules


class _Rule:
    def __init__(self, spec: dict):
        spec = dict(spec)
        self.path = spec.pop("path", "/v1/")
        self.method = (spec.pop("method", None) or "").upper() or None
        self.times = spec.pop("times", 1)
        if self.times is not None and int(self.times) < 1:
            raise ValueError("times must be >= 1 (or null for every request)")
        self.status = spec.pop("status", None)
        self.hang = float(spec.pop("hang", spec.pop("seconds", 0)) or 0)
        self.drop = bool(spec.pop("drop", False))
        when = spec.pop("when", None) or ("before" if self.status else "after")
        if when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        self.when = when
        self.store = bool(spec.pop("store", False))
        self.should_retry = spec.pop("should_retry", None)
        status = self.status or 500
        default_type = "invalid_request_error"
        if status >= 500:
            default_type = "api_error"
        elif status == 402:
            default_type = "card_error"
        self.type = spec.pop("type", None) or default_type
        self.code = spec.pop("code", None) or ("rate_limit" if status == 429 else None)
        self.message = spec.pop("message", None) or (
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits."
            if status == 429
            else "An unknown error occurred (injected by FakeStripe)."
            if status >= 500
            else f"Injected error (HTTP {status}) from FakeStripe."
        )
        self.param = spec.pop("param", None)
        if spec:
            raise ValueError(f"unknown failure rule keys: {sorted(spec)}")
        if not (self.status or self.hang or self.drop):
            raise ValueError("a failure rule needs status, hang or drop")

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path) and self.method in (None, method)

    def response(self) -> _Response:
        headers = {}
        if self.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if self.should_retry else "false"
        body = error_body(self.message, self.type, self.code, self.param)
        return _Response(int(self.status), body, headers)


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, fake: _FakeCore):
        self.fake = fake
        self._conns: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self):
        # Skip HTTPServer.server_bind's getfqdn() (a reverse DNS lookup).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def process_request(self, request, client_address):
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            daemon=True,
            name="fake-stripe-conn",
        )
        with self._conn_lock:
            self._conns.add(request)
            self._conn_threads.add(t)
        t.start()

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.discard(request)
                self._conn_threads.discard(threading.current_thread())

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError) or self.fake._stopping.is_set():
            return
        self.fake.errors.append(exc)
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float = 5.0):
        with self._conn_lock:
            conns, threads = list(self._conns), list(self._conn_threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeStripe/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format, *args):
        if self.server.fake.verbose:
            sys.stderr.write(f"fake_stripe: {format % args}\n")

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        resp = self.server.fake.dispatch(self.command, self.path, self.headers, body)
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = resp.body or b""
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _serve


# --------------------------------------------------------------------------- control API


class _ControlMixin:
    """Failure-injection helpers shared by the in-process and the remote fake."""

    def control(self, spec: dict) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def fail(
        self,
        path: str = "/v1/",
        status: int = 500,
        *,
        type: str | None = None,
        code: str | None = None,
        message: str | None = None,
        param: str | None = None,
        times: int | None = 1,
        method: str | None = None,
        when: str = "before",
        store: bool = False,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with a Stripe error."""
        rule = {"path": path, "status": status, "times": times, "when": when, "store": store}
        extra = {"type": type, "code": code, "message": message, "param": param}
        extra |= {"method": method, "should_retry": should_retry}
        rule.update({k: v for k, v in extra.items() if v is not None})
        self.control({"fail": rule})

    def hang(
        self,
        path: str = "/v1/",
        seconds: float = 5.0,
        *,
        times: int | None = 1,
        method: str | None = None,
        when: str = "after",
        status: int | None = None,
    ) -> None:
        """Sleep ``seconds`` before answering (by default after the work is done and saved)."""
        rule = {"path": path, "hang": seconds, "times": times, "when": when}
        if method:
            rule["method"] = method
        if status:
            rule["status"] = status
        self.control({"fail": rule})

    def drop(
        self, path: str = "/v1/", *, times: int | None = 1, method: str | None = None, when="after"
    ) -> None:
        """Close the connection without answering (by default after the work is done)."""
        rule = {"path": path, "drop": True, "times": times, "when": when}
        if method:
            rule["method"] = method
        self.control({"fail": rule})

    def clear_failures(self) -> None:
        self.control({"clear_failures": True})

    def onboard(self, account_id: str) -> dict:
        return self.control({"onboard": account_id})["account"]

    def update_account(self, account_id: str, **fields: Any) -> dict:
        return self.control({"update_account": {"id": account_id, **fields}})["account"]

    def create_event(self, type: str, obj: dict, account: str | None = None) -> dict:
        return self.control({"event": {"type": type, "object": obj, "account": account}})["event"]


class _FakeCore(_ControlMixin):
    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self.url = ""
        self.errors: list[BaseException] = []
        self.requests: list[dict] = []
        self.accounts: dict[str, dict] = {}
        self.account_links: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self.reversals: dict[str, dict] = {}
        self.coupons: dict[str, dict] = {}
        self.promotion_codes: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.settings = {"enforce_capabilities": True}
        self._owner: dict[str, str | None] = {}
        self._links: dict[str, dict] = {}
        self._idem: dict[tuple[str, str], dict] = {}
        self._inflight: set[tuple[str, str]] = set()
        self._rules: list[_Rule] = []
        self._routes = [
            ("POST", r"/v1/accounts", self._create_account),
            ("GET", r"/v1/accounts", self._list_accounts),
            ("GET", r"/v1/account", self._current_account),
            ("GET", r"/v1/accounts/([^/]+)", self._get_account),
            ("POST", r"/v1/accounts/([^/]+)", self._update_account_api),
            ("POST", r"/v1/account_links", self._create_account_link),
            ("POST", r"/v1/transfers", self._create_transfer),
            ("GET", r"/v1/transfers", self._list_transfers),
            ("GET", r"/v1/transfers/([^/]+)", self._get_transfer),
            ("POST", r"/v1/transfers/([^/]+)", self._update_transfer),
            ("POST", r"/v1/transfers/([^/]+)/reversals", self._create_reversal),
            ("GET", r"/v1/transfers/([^/]+)/reversals", self._list_reversals),
            ("GET", r"/v1/transfers/([^/]+)/reversals/([^/]+)", self._get_reversal),
            ("POST", r"/v1/coupons", self._create_coupon),
            ("GET", r"/v1/coupons", self._list_coupons),
            ("GET", r"/v1/coupons/([^/]+)", self._get_coupon),
            ("DELETE", r"/v1/coupons/([^/]+)", self._delete_coupon),
            ("POST", r"/v1/promotion_codes", self._create_promotion_code),
            ("GET", r"/v1/promotion_codes", self._list_promotion_codes),
            ("GET", r"/v1/promotion_codes/([^/]+)", self._get_promotion_code),
            ("GET", r"/v1/events", self._list_events),
            ("GET", r"/v1/events/([^/]+)", self._get_event),
        ]
        self._routes = [(m, re.compile(p + "$"), f) for m, p, f in self._routes]

    # ------------------------------------------------------------------ public helpers

    def reset(self) -> None:
        with self._lock:
            for name in COLLECTIONS:
                getattr(self, name).clear()
            self.requests.clear()
            self.errors.clear()
            self._owner.clear()
            self._links.clear()
            self._idem.clear()
            self._rules.clear()
            self.settings = {"enforce_capabilities": True}

    def requests_to(self, path: str = "/v1/", method: str | None = None) -> list[dict]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r["path"].startswith(path) and method in (None, r["method"])
            ]

    def state(self) -> dict:
        with self._lock:
            snap = {name: copy.deepcopy(getattr(self, name)) for name in COLLECTIONS}
            snap["counts"] = {name: len(getattr(self, name)) for name in COLLECTIONS}
            snap["counts"]["requests"] = len(self.requests)
            snap["settings"] = dict(self.settings)
            snap["pending_failures"] = len(self._rules)
            snap["errors"] = [repr(e) for e in self.errors]
            return snap

    def control(self, spec: dict) -> dict:
        result: dict[str, Any] = {"ok": True}
        with self._lock:
            if spec.get("reset"):
                self.reset()
            if spec.get("clear_failures"):
                self._rules.clear()
            for key in ("fail", "hang", "drop"):
                if key not in spec:
                    continue
                specs = spec[key] if isinstance(spec[key], list) else [spec[key]]
                for s in specs:
                    s = dict(s)
                    if key == "drop":
                        s["drop"] = True
                    if key == "hang" and "seconds" in s:
                        s["hang"] = s.pop("seconds")
                    self._rules.append(_Rule(s))
            if "settings" in spec:
                self.settings.update(spec["settings"])
            if "onboard" in spec:
                result["account"] = self._onboard(spec["onboard"])
            if "update_account" in spec:
                fields = dict(spec["update_account"])
                result["account"] = self._set_account(fields.pop("id"), fields)
            if "event" in spec:
                e = spec["event"]
                result["event"] = self._emit(e["type"], e["object"], e.get("account"))
        return result

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, method: str, target: str, headers, body: bytes) -> _Response:
        split = urllib.parse.urlsplit(target)
        path = split.path.rstrip("/") or "/"
        try:
            if path.startswith("/_fake/"):
                return self._fake_endpoint(method, path, split.query, body)
            if path.startswith("/onboarding/"):
                return self._onboarding_page(path, split.query)
        except Exception as exc:
            self.errors.append(exc)
            return _Response(500, {"error": {"type": "api_error", "message": repr(exc)}})
        record: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": split.query,
            "idempotency_key": headers.get("Idempotency-Key"),
            "stripe_account": headers.get("Stripe-Account"),
            "stripe_version": headers.get("Stripe-Version"),
            "params": {},
            "status": None,
            "replayed": False,
            "time": time.time(),
        }
        with self._lock:
            self.requests.append(record)
        request_id = new_id("req")
        try:
            resp = self._api(method, path, split.query, headers, body, record)
        except Exception as exc:  # a bug in the fake: answer like Stripe would
            self.errors.append(exc)
            traceback.print_exc()
            resp = _Response(500, error_body(f"FakeStripe internal error: {exc!r}", "api_error"))
        resp.headers.setdefault("Request-Id", request_id)
        resp.headers.setdefault("Stripe-Version", record["stripe_version"] or API_VERSION)
        if record["idempotency_key"] and method == "POST":
            resp.headers["Idempotency-Key"] = record["idempotency_key"]
        record["status"] = None if resp.drop else resp.status
        return resp

    def _api(self, method, path, query, headers, body, record) -> _Response:
        try:
            params = parse_form(body if method == "POST" else query)
        except (ValueError, UnicodeDecodeError) as exc:
            return _Response(400, error_body(str(exc), "invalid_request_error"))
        record["params"] = params
        key = _api_key(headers.get("Authorization") or "")
        if not key.startswith(("sk_test_", "rk_test_")):
            msg = "Invalid API Key provided: " + (key[:12] + "****" if key else "(none)")
            return _Response(401, error_body(msg, "invalid_request_error"))

        scope = None
        if method == "POST" and record["idempotency_key"]:
            scope = (record["stripe_account"] or "", record["idempotency_key"])
            with self._lock:
                entry = self._idem.get(scope)
                if entry is not None:
                    return self._replay(entry, method, path, params, record)
                if scope in self._inflight:
                    msg = (
                        "There is currently another in-progress request using this "
                        "Idempotent Key (that probably means you submitted twice, and the "
                        f"other request is still going through): {scope[1]}. "
                        "Please try again later."
                    )
                    return _Response(409, error_body(msg, "idempotency_error"))
                self._inflight.add(scope)

        with self._lock:
            rule = next((r for r in self._rules if r.matches(method, path)), None)
            if rule is not None and rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
        try:
            resp = self._execute(method, path, params, record, rule, scope)
        finally:
            if scope is not None:
                with self._lock:
                    self._inflight.discard(scope)
        if rule is not None and rule.when == "after" and not resp.drop:
            if rule.hang and self._stopping.wait(rule.hang):
                return _drop()
            if rule.drop:
                return _drop()
            if rule.status:
                return rule.response()
        return resp

    def _execute(self, method, path, params, record, rule, scope) -> _Response:
        if rule is not None and rule.when == "before":
            if rule.hang and self._stopping.wait(rule.hang):
                return _drop()
            if rule.drop:
                return _drop()
            if rule.status:
                resp = rule.response()
                if rule.store and scope is not None:
                    with self._lock:
                        self._idem[scope] = self._idem_entry(method, path, params, resp)
                return resp
        resp = self._route(method, path, params, record)
        if scope is not None and resp.status < 400:
            with self._lock:
                self._idem[scope] = self._idem_entry(method, path, params, resp)
        return resp

    @staticmethod
    def _idem_entry(method, path, params, resp: _Response) -> dict:
        return {
            "method": method,
            "path": path,
            "params": params,
            "status": resp.status,
            "body": resp.body,
            "headers": dict(resp.headers),
            "request_id": new_id("req"),
        }

    @staticmethod
    def _replay(entry, method, path, params, record) -> _Response:
        key = record["idempotency_key"]
        if (entry["method"], entry["path"]) != (method, path):
            msg = (
                "Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ('{entry['method']} {entry['path']}' vs "
                f"'{method} {path}'). Try using a key other than '{key}' if you meant to "
                "execute a different request."
            )
            return _Response(400, error_body(msg, "idempotency_error"))
        if entry["params"] != params:
            msg = (
                "Keys for idempotent requests can only be used with the same parameters "
                f"they were first used with. Try using a key other than '{key}' if you "
                "meant to execute a different request."
            )
            return _Response(400, error_body(msg, "idempotency_error"))
        record["replayed"] = True
        headers = dict(entry["headers"])
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = entry["request_id"]
        return _Response(entry["status"], entry["body"], headers)

    def _route(self, method, path, params, record) -> _Response:
        for m, pattern, func in self._routes:
            match = pattern.match(path)
            if m != method or not match:
                continue
            try:
                with self._lock:
                    obj = func(params, record, *match.groups())
                    obj = self._expand(copy.deepcopy(obj), params.get("expand"))
                return _Response(200, obj)
            except StripeHTTPError as exc:
                return _Response(exc.status, exc.body, exc.headers)
        msg = (
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/."
        )
        return _Response(404, error_body(msg, "invalid_request_error"))

    def _expand(self, obj: dict, expand: Any) -> dict:
        if not expand:
            return obj
        for dotted in expand if isinstance(expand, list) else [expand]:
            self._expand_path(obj, str(dotted).split("."))
        return obj

    def _expand_path(self, node: Any, parts: list[str]) -> None:
        if isinstance(node, dict) and node.get("object") == "list" and parts[0] == "data":
            for item in node.get("data", []):
                self._expand_path(item, parts[1:])
            return
        if not isinstance(node, dict) or not parts or parts[0] not in node:
            return
        head, rest = parts[0], parts[1:]
        value = node[head]
        if isinstance(value, str) and not rest:
            found = self._find(value)
            if found is not None:
                node[head] = copy.deepcopy(found)
        elif rest:
            if isinstance(value, str):
                found = self._find(value)
                if found is None:
                    return
                node[head] = value = copy.deepcopy(found)
            self._expand_path(value, rest)

    def _find(self, id: str) -> dict | None:
        for name in COLLECTIONS:
            obj = getattr(self, name).get(id)
            if obj is not None:
                return obj
        return None

    def _visible(self, id: str, record: dict) -> bool:
        return self._owner.get(id) == record["stripe_account"]

    def _store(self, collection: str, obj: dict, record: dict) -> dict:
        getattr(self, collection)[obj["id"]] = obj
        self._owner[obj["id"]] = record["stripe_account"] if record else None
        return obj

    # ------------------------------------------------------------------ /_fake and onboarding

    def _fake_endpoint(self, method, path, query, body) -> _Response:
        if (method, path) == ("GET", "/_fake/state"):
            return _Response(200, self.state())
        if (method, path) == ("GET", "/_fake/requests"):
            q = dict(urllib.parse.parse_qsl(query))
            return _Response(200, self.requests_to(q.get("path", "/"), q.get("method")))
        if (method, path) == ("POST", "/_fake/reset"):
            self.reset()
            return _Response(200, {"ok": True})
        if (method, path) == ("POST", "/_fake/control"):
            try:
                return _Response(200, self.control(json.loads(body or b"{}")))
            except (ValueError, KeyError, TypeError) as exc:
                return _Response(400, {"ok": False, "error": repr(exc)})
        return _Response(404, error_body(f"Unknown fake endpoint {method} {path}", "fake_error"))

    def _onboarding_page(self, path, query) -> _Response:
        account_id = path.split("/")[2]
        q = dict(urllib.parse.parse_qsl(query))
        with self._lock:
            link = self._links.get(q.get("link", ""))
            if link is not None:
                return_url, refresh_url = link["return_url"], link["refresh_url"]
                stale = link["used"] or _now() > link["expires_at"]
                link["used"] = True
                if stale:
                    if refresh_url:
                        return _Response(302, b"", {"Location": refresh_url})
                    return _Response(410, b"Link expired", {"Content-Type": "text/plain"})
            else:
                return_url = q.get("return_url")
            if account_id not in self.accounts:
                return _Response(404, b"No such account", {"Content-Type": "text/plain"})
            self._onboard(account_id)
        if return_url:
            return _Response(302, b"", {"Location": return_url})
        page = f"<html><body><h1>Onboarding of {account_id} complete</h1></body></html>"
        return _Response(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    # ------------------------------------------------------------------ events

    def _emit(self, type: str, obj: dict, account: str | None = None, previous=None) -> dict:
        event = make_event(type, copy.deepcopy(obj), account=account, previous_attributes=previous)
        self.events[event["id"]] = event
        self._owner[event["id"]] = account
        return event

    def _list_events(self, params, record):
        data = [e for e in self.events.values() if self._visible(e["id"], record)]
        if params.get("type"):
            data = [e for e in data if e["type"] == params["type"]]
        return _list(data[::-1], "/v1/events", params)

    def _get_event(self, params, record, id):
        if id not in self.events or not self._visible(id, record):
            raise _missing("event", id)
        return self.events[id]

    # ------------------------------------------------------------------ accounts

    def _create_account(self, params, record):
        if record["stripe_account"]:
            raise StripeHTTPError(
                400, "You cannot create connected accounts as a connected account."
            )
        acct_type = _str(params, "type") or "express"
        if acct_type not in ("express", "standard", "custom", "none"):
            raise StripeHTTPError(400, f"Invalid type: {acct_type}", param="type")
        country = (_str(params, "country") or "US").upper()
        caps = params.get("capabilities") or {}
        if not isinstance(caps, dict):
            raise StripeHTTPError(400, "Invalid object", param="capabilities")
        requested = [
            k for k, v in caps.items() if isinstance(v, dict) and _bool(v.get("requested"))
        ]
        due = ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]
        account = {
            "id": new_id("acct"),
            "object": "account",
            "business_profile": params.get("business_profile") or {},
            "business_type": _str(params, "business_type"),
            "capabilities": {name: "inactive" for name in requested},
            "charges_enabled": False,
            "controller": {"type": "application", "is_controller": True},
            "country": country,
            "created": _now(),
            "default_currency": _COUNTRY_CURRENCY.get(country)
            or ("eur" if country in _EURO else "usd"),
            "details_submitted": False,
            "email": _str(params, "email"),
            "external_accounts": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": "",
            },
            "future_requirements": {"currently_due": [], "eventually_due": [], "past_due": []},
            "livemode": False,
            "metadata": _metadata(params),
            "payouts_enabled": False,
            "requirements": {
                "currently_due": due,
                "eventually_due": due,
                "past_due": due,
                "pending_verification": [],
                "disabled_reason": "requirements.past_due",
                "errors": [],
                "current_deadline": None,
            },
            "settings": {"payouts": {"schedule": {"interval": "daily", "delay_days": 2}}},
            "tos_acceptance": {"date": None, "ip": None},
            "type": acct_type,
        }
        account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
        return self._store("accounts", account, {"stripe_account": None})

    def _account_or_404(self, id, record):
        if id not in self.accounts or record["stripe_account"] not in (None, id):
            raise StripeHTTPError(
                403 if id in self.accounts else 404,
                f"The provided key does not have access to account '{id}' (or that account "
                "does not exist). Application access may have been revoked.",
                type="invalid_request_error",
                code="account_invalid",
            )
        return self.accounts[id]

    def _get_account(self, params, record, id):
        return self._account_or_404(id, record)

    def _current_account(self, params, record):
        if record["stripe_account"]:
            return self._account_or_404(record["stripe_account"], record)
        return {
            "id": "acct_fakeplatform",
            "object": "account",
            "type": "standard",
            "country": "US",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "livemode": False,
            "created": 0,
            "metadata": {},
        }

    def _list_accounts(self, params, record):
        if record["stripe_account"]:
            raise StripeHTTPError(403, "Only platforms can list connected accounts.")
        return _list(list(self.accounts.values())[::-1], "/v1/accounts", params)

    def _update_account_api(self, params, record, id):
        account = self._account_or_404(id, record)
        fields = {k: v for k, v in params.items() if k in ("email", "business_profile")}
        if "metadata" in params:
            fields["metadata"] = _metadata(params, account["metadata"])
        return self._set_account(id, fields)

    def _set_account(self, id: str, fields: dict) -> dict:
        with self._lock:
            if id not in self.accounts:
                raise KeyError(f"no such account {id}")
            account = self.accounts[id]
            previous = {k: copy.deepcopy(account.get(k)) for k in fields}
            account.update(fields)
            if fields:
                self._emit("account.updated", account, account=id, previous=previous)
            return account

    def _onboard(self, id: str) -> dict:
        with self._lock:
            if id not in self.accounts:
                raise KeyError(f"no such account {id}")
            account = self.accounts[id]
            caps = {name: "active" for name in account["capabilities"]} or {"transfers": "active"}
            requirements = dict(account["requirements"])
            requirements.update(
                currently_due=[], eventually_due=[], past_due=[], disabled_reason=None
            )
            return self._set_account(
                id,
                {
                    "capabilities": caps,
                    "charges_enabled": True,
                    "payouts_enabled": True,
                    "details_submitted": True,
                    "requirements": requirements,
                    "tos_acceptance": {"date": _now(), "ip": "127.0.0.1"},
                },
            )

    # ------------------------------------------------------------------ account links

    def _create_account_link(self, params, record):
        _check_known(
            params,
            {"account", "type", "refresh_url", "return_url", "collect", "collection_options"},
        )
        account_id = _str(params, "account", required=True)
        link_type = _str(params, "type", required=True)
        if link_type not in ("account_onboarding", "account_update"):
            raise StripeHTTPError(400, f"Invalid type: {link_type}", param="type")
        if account_id not in self.accounts:
            raise StripeHTTPError(
                400,
                f"No such account: '{account_id}'",
                code="resource_missing",
                param="account",
            )
        created = _now()
        token = secrets.token_urlsafe(12)
        return_url = _str(params, "return_url")
        refresh_url = _str(params, "refresh_url")
        query = {"link": token}
        if return_url:
            query["return_url"] = return_url
        url = f"{self.url}/onboarding/{account_id}?{urllib.parse.urlencode(query)}"
        link = {
            "object": "account_link",
            "created": created,
            "expires_at": created + ACCOUNT_LINK_TTL,
            "url": url,
        }
        self._links[token] = {
            "account": account_id,
            "return_url": return_url,
            "refresh_url": refresh_url,
            "expires_at": created + ACCOUNT_LINK_TTL,
            "used": False,
        }
        self.account_links[token] = {**link, "account": account_id, "type": link_type}
        return link

    # ------------------------------------------------------------------ transfers

    def _create_transfer(self, params, record):
        _check_known(
            params,
            {
                "amount",
                "currency",
                "destination",
                "description",
                "metadata",
                "source_transaction",
                "source_type",
                "transfer_group",
            },
        )
        amount = _int(params, "amount", required=True, minimum=1)
        currency = _currency(params, required=True)
        destination = _str(params, "destination", required=True)
        metadata = _metadata(params)
        account = self.accounts.get(destination)
        if account is None:
            raise StripeHTTPError(
                400,
                f"No such destination: '{destination}'",
                code="resource_missing",
                param="destination",
            )
        if (
            self.settings.get("enforce_capabilities")
            and account["capabilities"].get("transfers") != "active"
        ):
            raise StripeHTTPError(
                400,
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        tr_id = new_id("tr")
        transfer = {
            "id": tr_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": new_id("txn"),
            "created": _now(),
            "currency": currency,
            "description": _str(params, "description"),
            "destination": destination,
            "destination_payment": new_id("py"),
            "livemode": False,
            "metadata": metadata,
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{tr_id}/reversals",
            },
            "reversed": False,
            "source_transaction": _str(params, "source_transaction"),
            "source_type": _str(params, "source_type") or "card",
            "transfer_group": _str(params, "transfer_group"),
        }
        self._store("transfers", transfer, record)
        self._emit("transfer.created", transfer, account=record["stripe_account"])
        return transfer

    def _transfer_or_404(self, id, record):
        if id not in self.transfers or not self._visible(id, record):
            raise _missing("transfer", id)
        return self.transfers[id]

    def _get_transfer(self, params, record, id):
        return self._transfer_or_404(id, record)

    def _list_transfers(self, params, record):
        data = [t for t in self.transfers.values() if self._visible(t["id"], record)]
        for field in ("destination", "transfer_group"):
            if params.get(field):
                data = [t for t in data if t[field] == params[field]]
        return _list(data[::-1], "/v1/transfers", params)

    def _update_transfer(self, params, record, id):
        transfer = self._transfer_or_404(id, record)
        _check_known(params, {"description", "metadata"})
        transfer["metadata"] = _metadata(params, transfer["metadata"])
        if "description" in params:
            transfer["description"] = _str(params, "description")
        return transfer

    def _create_reversal(self, params, record, id):
        transfer = self._transfer_or_404(id, record)
        _check_known(params, {"amount", "description", "metadata", "refund_application_fee"})
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = _int(params, "amount", minimum=1)
        amount = remaining if amount is None else amount
        if remaining <= 0:
            raise StripeHTTPError(
                400, f"Transfer {id} has already been fully reversed.", param="amount"
            )
        if amount > remaining:
            raise StripeHTTPError(
                400,
                f"You cannot reverse more than the remaining amount of the transfer "
                f"({remaining}). Requested: {amount}.",
                param="amount",
            )
        reversal = {
            "id": new_id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "balance_transaction": new_id("txn"),
            "created": _now(),
            "currency": transfer["currency"],
            "destination_payment_refund": new_id("pyr"),
            "metadata": _metadata(params),
            "source_refund": None,
            "transfer": id,
        }
        self._store("reversals", reversal, record)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        transfer["reversals"]["total_count"] += 1
        self._emit("transfer.reversed", transfer, account=record["stripe_account"])
        return reversal

    def _list_reversals(self, params, record, id):
        transfer = self._transfer_or_404(id, record)
        return _list(list(transfer["reversals"]["data"]), f"/v1/transfers/{id}/reversals", params)

    def _get_reversal(self, params, record, id, reversal_id):
        self._transfer_or_404(id, record)
        reversal = self.reversals.get(reversal_id)
        if reversal is None or reversal["transfer"] != id:
            raise _missing("transfer reversal", reversal_id)
        return reversal

    # ------------------------------------------------------------------ coupons

    def _create_coupon(self, params, record):
        _check_known(
            params,
            {
                "id",
                "amount_off",
                "currency",
                "currency_options",
                "duration",
                "duration_in_months",
                "max_redemptions",
                "metadata",
                "name",
                "percent_off",
                "redeem_by",
                "applies_to",
            },
        )
        percent_off = _float(params, "percent_off")
        amount_off = _int(params, "amount_off", minimum=1)
        currency = _currency(params)
        if (percent_off is None) == (amount_off is None):
            raise StripeHTTPError(
                400, "You must pass exactly one of percent_off or amount_off.", param="percent_off"
            )
        if percent_off is not None and not 0 < percent_off <= 100:
            raise StripeHTTPError(
                400, "Percent off must be between 0 and 100.", param="percent_off"
            )
        if amount_off is not None and not currency:
            raise StripeHTTPError(
                400,
                "You must specify a currency when creating a coupon with amount_off.",
                param="currency",
            )
        duration = _str(params, "duration") or "once"
        if duration not in ("once", "repeating", "forever"):
            raise StripeHTTPError(400, f"Invalid duration: {duration}", param="duration")
        months = _int(params, "duration_in_months", minimum=1)
        if (duration == "repeating") != (months is not None):
            raise StripeHTTPError(
                400,
                "duration_in_months is required (only) when duration is 'repeating'.",
                param="duration_in_months",
            )
        coupon_id = _str(params, "id") or _code()
        if coupon_id in self.coupons:
            raise StripeHTTPError(
                400,
                "Coupon already exists.",
                code="resource_already_exists",
                param="id",
            )
        coupon = {
            "id": coupon_id,
            "object": "coupon",
            "amount_off": amount_off,
            "created": _now(),
            "currency": currency,
            "duration": duration,
            "duration_in_months": months,
            "livemode": False,
            "max_redemptions": _int(params, "max_redemptions", minimum=1),
            "metadata": _metadata(params),
            "name": _str(params, "name"),
            "percent_off": percent_off,
            "redeem_by": _int(params, "redeem_by"),
            "times_redeemed": 0,
            "valid": True,
        }
        return self._store("coupons", coupon, record)

    def _coupon_or_404(self, id, record, param="id"):
        if id not in self.coupons or not self._visible(id, record):
            raise _missing("coupon", id, param)
        return self.coupons[id]

    def _get_coupon(self, params, record, id):
        return self._coupon_or_404(id, record)

    def _list_coupons(self, params, record):
        data = [c for c in self.coupons.values() if self._visible(c["id"], record)]
        return _list(data[::-1], "/v1/coupons", params)

    def _delete_coupon(self, params, record, id):
        self._coupon_or_404(id, record)
        del self.coupons[id]
        return {"id": id, "object": "coupon", "deleted": True}

    # ------------------------------------------------------------------ promotion codes

    def _create_promotion_code(self, params, record):
        new_shape = (record["stripe_version"] or API_VERSION) >= PROMOTION_HASH_VERSION
        common = {
            "active",
            "code",
            "customer",
            "customer_account",
            "expires_at",
            "max_redemptions",
            "metadata",
            "restrictions",
        }
        _check_known(params, common | ({"promotion"} if new_shape else {"coupon"}))
        if new_shape:
            promotion = params.get("promotion")
            if not isinstance(promotion, dict):
                raise StripeHTTPError(
                    400,
                    "Missing required param: promotion.",
                    code="parameter_missing",
                    param="promotion",
                )
            if promotion.get("type") != "coupon":
                raise StripeHTTPError(400, "Invalid promotion[type]", param="promotion[type]")
            coupon_id = _str(promotion, "coupon") or ""
            coupon = self._coupon_or_404(coupon_id, record, "promotion[coupon]")
        else:
            coupon = self._coupon_or_404(_str(params, "coupon", True), record, "coupon")
        code = _str(params, "code") or _code()
        if not re.fullmatch(r"[A-Za-z0-9-]+", code):
            raise StripeHTTPError(
                400, "Invalid characters in code: use a-z, A-Z, 0-9 and dashes.", param="code"
            )
        for other in self.promotion_codes.values():
            if other["active"] and other["code"].lower() == code.lower():
                raise StripeHTTPError(
                    400,
                    f"An active promotion code with `code: {code}` already exists.",
                    code="resource_already_exists",
                    param="code",
                )
        promo = {
            "id": new_id("promo"),
            "object": "promotion_code",
            "active": _bool(params.get("active", "true")),
            "code": code,
            "created": _now(),
            "customer": _str(params, "customer"),
            "expires_at": _int(params, "expires_at"),
            "livemode": False,
            "max_redemptions": _int(params, "max_redemptions", minimum=1),
            "metadata": _metadata(params),
            "restrictions": {
                "first_time_transaction": False,
                "minimum_amount": None,
                "minimum_amount_currency": None,
            },
            "times_redeemed": 0,
        }
        if new_shape:
            promo["promotion"] = {"type": "coupon", "coupon": coupon["id"]}
        else:
            promo["coupon"] = copy.deepcopy(coupon)
        return self._store("promotion_codes", promo, record)

    def _get_promotion_code(self, params, record, id):
        if id not in self.promotion_codes or not self._visible(id, record):
            raise _missing("promotion code", id)
        return self.promotion_codes[id]

    def _list_promotion_codes(self, params, record):
        data = [p for p in self.promotion_codes.values() if self._visible(p["id"], record)]
        if params.get("code"):
            data = [p for p in data if p["code"].lower() == str(params["code"]).lower()]
        return _list(data[::-1], "/v1/promotion_codes", params)


class FakeStripe(_FakeCore):
    """The fake Stripe API served by a ThreadingHTTPServer in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        super().__init__(verbose=verbose)
        self.host = host
        self.port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeStripe:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
            name="fake-stripe",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(5)
        self._httpd = self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the ``python -m`` mode)."""
        self._stopping.clear()
        self._httpd = _Server((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        print(self.url, flush=True)
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            pass
        finally:
            self._stopping.set()
            self._httpd.close_connections(timeout=1)
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- process mode


class FakeStripeProcess(_ControlMixin):
    """``python -m tests.fake_stripe`` in a child process, controlled over HTTP."""

    def __init__(self, port: int = 0, startup_timeout: float = 10.0, verbose: bool = False):
        self.port = port
        self.startup_timeout = startup_timeout
        self.verbose = verbose
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> FakeStripeProcess:
        cmd = [sys.executable, "-m", "tests.fake_stripe", "--port", str(self.port)]
        if self.verbose:
            cmd.append("--verbose")
        self.proc = subprocess.Popen(cmd, cwd=_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.startup_timeout)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"fake stripe process did not start (got {line!r})")
        self.url = line
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> FakeStripeProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, method: str, path: str, payload: dict | None = None) -> Any:
        return fake_request(self.url, method, path, payload)

    def control(self, spec: dict) -> dict:
        return self._call("POST", "/_fake/control", spec)

    def reset(self) -> None:
        self._call("POST", "/_fake/reset", {})

    def state(self) -> dict:
        return self._call("GET", "/_fake/state")

    def requests_log(self, path: str = "/v1/", method: str | None = None) -> list[dict]:
        query = urllib.parse.urlencode({"path": path, **({"method": method} if method else {})})
        return self._call("GET", f"/_fake/requests?{query}")


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fake_request(url: str, method: str, path: str, payload: dict | None = None) -> Any:
    """Call a ``/_fake/...`` endpoint of a running fake (no proxies); returns the JSON."""
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Stripe API until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    FakeStripe(args.host, args.port, verbose=args.verbose).serve_forever()


if __name__ == "__main__":
    main()

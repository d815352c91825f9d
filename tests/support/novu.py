"""A local HTTP server that speaks the part of Novu's API that `novu-py` uses, for tests.

Point the real SDK (or the daemon, through GOPHERPAY_NOVU_SERVER_URL) at `NovuStandIn.url`.
It behaves like Novu where GopherPay depends on it:

- `POST /v1/events/trigger` needs `Authorization: ApiKey <secret>` and answers
  `201 {"data": {"acknowledged": true, "status": "processed", "transactionId": ...}}`.
- Idempotency-Key: a repeated key with the same body gets the stored answer again (plus
  `Idempotency-Replay: true`) and triggers nothing; with another body it is a 422; while the
  first request is still being answered, a 409 with `Retry-After: 1`.
- A repeated transactionId under a new idempotency key is acknowledged (Novu checks it after
  answering) but never notifies anyone: it is recorded in `duplicates`, not in `triggers`.
- `POST /v1/events/trigger/bulk` takes `{"events": [...]}`, at most 100 triggers that each
  follow the rules above, and answers `201 {"data": [one trigger answer per event]}`; one
  invalid event makes the whole request a 422 (Novu validates the body before anything runs).
  `refuse_in_bulk(transaction_ids)` makes those events' answers `acknowledged: false`.
- `POST /v2/subscribers` creates or updates a subscriber (409 with `?failIfExists=true` when it
  exists); `GET /v2/subscribers/{id}` reads one. A trigger's `to` upserts its subscriber too.

Injected faults (`fail_next`, `fail_always`, `fail_for`) stand for failures in front of Novu's
API (gateway errors, an outage): they come before authentication and are never stored under an
idempotency key, so a retry with the same key succeeds once the fault is gone. (Real Novu does
store the answer its own handler gave, errors included, for 24 hours.)
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TRIGGER_PATH = "/v1/events/trigger"
BULK_TRIGGER_PATH = "/v1/events/trigger/bulk"
MAX_BULK_EVENTS = 100
SUBSCRIBERS_PATH = "/v2/subscribers"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class NovuCall:
    """One HTTP request as the stand-in saw it, and how it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    body: Any
    """Parsed JSON, or None."""
    status: int
    outcome: str
    """accepted, replayed, duplicate, failed (injected fault), rejected (Novu would refuse it too)."""
    received_at: datetime
    received_monotonic: float

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def transaction_ids(self) -> list[str]:
        """The transactionIds a trigger (one) or a bulk trigger (one per event) carried."""
        if not isinstance(self.body, dict):
            return []
        if self.path == BULK_TRIGGER_PATH:
            events = self.body.get("events")
            items = events if isinstance(events, list) else []
        else:
            items = [self.body] if self.path == TRIGGER_PATH else []
        return [
            str(item["transactionId"]) for item in items if isinstance(item, dict) and "transactionId" in item
        ]


@dataclass(frozen=True)
class NovuTrigger:
    """One accepted workflow trigger: a notification Novu would send."""

    workflow: str
    recipients: tuple[dict[str, Any], ...]
    payload: dict[str, Any]
    transaction_id: str
    idempotency_key: str | None
    body: dict[str, Any]
    received_at: datetime
    received_monotonic: float

    @property
    def recipient(self) -> dict[str, Any]:
        if len(self.recipients) != 1:
            raise AssertionError(
                f"{self.workflow} went to {len(self.recipients)} recipients: {self.recipients}"
            )
        return self.recipients[0]

    @property
    def subscriber_id(self) -> str:
        return str(self.recipient["subscriberId"])

    @property
    def email(self) -> str | None:
        return self.recipient.get("email")

    @property
    def first_name(self) -> str | None:
        return self.recipient.get("firstName")


_Triggered = tuple[NovuTrigger, bool]
"""A trigger a request carried, and whether its transactionId had been seen before."""


@dataclass
class _Fault:
    status: int
    remaining: int | None = None
    """Calls left to fail; None: until recover() (or the deadline)."""
    until: float | None = None
    """time.monotonic() after which the fault is over."""
    path: str | None = None

    def over(self, now: float) -> bool:
        expired = self.until is not None and now >= self.until
        return expired or (self.remaining is not None and self.remaining <= 0)

    def applies(self, path: str, now: float) -> bool:
        return not self.over(now) and (self.path is None or self.path == path)


@dataclass
class _Stored:
    """What the idempotency store keeps per key."""

    body: Any
    status: int | None = None  # None while the first request is in progress
    answer: Any = None


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    received_at: datetime
    received_monotonic: float


@dataclass
class _Response:
    status: int
    body: Any
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(status: int, path: str, message: str, **extra: Any) -> dict[str, Any]:
    """Novu's error shape (novu-py's ErrorDto)."""
    return {"statusCode": status, "timestamp": _now_iso(), "path": path, "message": message, **extra}


class NovuStandIn:
    """The stand-in server; use as a context manager, or start() / stop()."""

    def __init__(self, secret_key: str = "novu-test-secret", *, latency: float = 0.0) -> None:
        self.secret_key = secret_key
        self.latency = latency
        """Seconds Novu takes to process each request (for timeout and in-progress tests)."""
        self.organization_id = secrets.token_hex(12)
        self.environment_id = secrets.token_hex(12)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[NovuCall] = []
        self._triggers: list[NovuTrigger] = []
        self._duplicates: list[NovuTrigger] = []
        self._subscribers: dict[str, dict[str, Any]] = {}
        self._transaction_ids: set[str] = set()
        self._idempotency: dict[str, _Stored] = {}
        self._faults: list[_Fault] = []
        self._refused_in_bulk: set[str] = set()
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NovuStandIn:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="novu-stand-in",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            # Close kept-alive connections too, or their threads would go on answering.
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> NovuStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what was received ----------------------------------------------------------------

    @property
    def calls(self) -> list[NovuCall]:
        with self._lock:
            return list(self._calls)

    @property
    def triggers(self) -> list[NovuTrigger]:
        with self._lock:
            return list(self._triggers)

    @property
    def replays(self) -> list[NovuCall]:
        """Requests answered from the idempotency store: they triggered nothing new."""
        return [call for call in self.calls if call.outcome == "replayed"]

    @property
    def duplicates(self) -> list[NovuTrigger]:
        """Triggers with an already used transactionId under a new idempotency key: dropped by Novu."""
        with self._lock:
            return list(self._duplicates)

    @property
    def failures(self) -> list[NovuCall]:
        """Requests answered by an injected fault."""
        return [call for call in self.calls if call.outcome == "failed"]

    @property
    def subscribers(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {key: dict(value) for key, value in self._subscribers.items()}

    def triggers_for(
        self, workflow: str | None = None, subscriber_id: str | None = None
    ) -> list[NovuTrigger]:
        return [
            trigger
            for trigger in self.triggers
            if (workflow is None or trigger.workflow == workflow)
            and (subscriber_id is None or trigger.subscriber_id == subscriber_id)
        ]

    def wait_for_triggers(
        self, count: int, timeout: float = 10.0, *, settle: float = 0.0
    ) -> list[NovuTrigger]:
        """Wait until at least count triggers arrived, then `settle` seconds more for stragglers
        (so a caller can assert that no extra ones follow). Returns every trigger so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._triggers) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} Novu triggers within {timeout}s, got {len(self._triggers)}: "
                        f"{[(t.workflow, t.transaction_id) for t in self._triggers]}; "
                        f"{sum(c.outcome == 'failed' for c in self._calls)} injected failures, "
                        f"{len(self._calls)} calls in all"
                    )
                self._changed.wait(left)
        if settle:
            time.sleep(settle)
        return self.triggers

    def reset(self) -> None:
        """Forget every call, trigger, subscriber, stored idempotency key and fault."""
        with self._lock:
            self._calls.clear()
            self._triggers.clear()
            self._duplicates.clear()
            self._subscribers.clear()
            self._transaction_ids.clear()
            self._idempotency.clear()
            self._faults.clear()
            self._refused_in_bulk.clear()

    # -- faults ---------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, *, path: str | None = None) -> None:
        """Answer the next n requests (to `path`, or to any path) with status."""
        with self._lock:
            self._faults.append(_Fault(status=status, remaining=n, path=path))

    def fail_always(self, status: int = 503, *, path: str | None = None) -> None:
        """Answer every request with status until recover()."""
        with self._lock:
            self._faults.append(_Fault(status=status, path=path))

    def fail_for(self, seconds: float, status: int = 503, *, path: str | None = None) -> None:
        """Answer every request with status for the next `seconds`."""
        with self._lock:
            self._faults.append(_Fault(status=status, until=time.monotonic() + seconds, path=path))

    def recover(self) -> None:
        with self._lock:
            self._faults.clear()
            self._refused_in_bulk.clear()

    def refuse_in_bulk(self, transaction_ids: set[str]) -> None:
        """Answer these events, when they come in a bulk request, with `acknowledged: false`
        (status `error`), triggering nothing; until recover()."""
        with self._lock:
            self._refused_in_bulk |= transaction_ids

    # -- request handling (called from the server's threads) -----------------------------

    def _injected_fault(self, path: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            self._faults = [fault for fault in self._faults if not fault.over(now)]
            for fault in self._faults:
                if fault.applies(path, now):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault.status
        return None

    def _take_time(self) -> None:
        """Novu's processing time: a request with an idempotency key is in progress meanwhile."""
        if self.latency:
            time.sleep(self.latency)

    def _record(self, call: NovuCall, triggers: list[_Triggered]) -> None:
        with self._changed:
            self._calls.append(call)
            for trigger, duplicate in triggers:
                (self._duplicates if duplicate else self._triggers).append(trigger)
            self._changed.notify_all()

    def _handle(self, request: _Request) -> tuple[_Response, list[_Triggered]]:
        path = request.path
        fault = self._injected_fault(path)
        if fault is not None:
            message = f"stand-in fault: {HTTPStatus(fault).phrase}"
            return _Response(fault, error_body(fault, path, message), "failed"), []
        if request.headers.get("authorization") != f"ApiKey {self.secret_key}":
            return _Response(401, error_body(401, path, "API Key not found"), "rejected"), []
        if request.method == "POST" and path == TRIGGER_PATH:
            return self._idempotent(request, lambda: self._trigger(request))
        if request.method == "POST" and path == BULK_TRIGGER_PATH:
            return self._idempotent(request, lambda: self._bulk_trigger(request))
        if request.method == "POST" and path == SUBSCRIBERS_PATH:
            fail_if_exists = request.query.get("failIfExists", ["false"])[0] == "true"
            return self._idempotent(request, lambda: (self._create_subscriber(request, fail_if_exists), []))
        if request.method == "GET" and path.startswith(SUBSCRIBERS_PATH + "/"):
            self._take_time()
            return self._get_subscriber(unquote(path.removeprefix(SUBSCRIBERS_PATH + "/")), path), []
        return _Response(404, error_body(404, path, f"Cannot {request.method} {path}"), "rejected"), []

    def _idempotent(
        self, request: _Request, handle: Callable[[], tuple[_Response, list[_Triggered]]]
    ) -> tuple[_Response, list[_Triggered]]:
        """Novu's Idempotency-Key rules around handle()."""
        key, path = request.headers.get("idempotency-key"), request.path
        if not key:
            self._take_time()
            return handle()
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            message = f'idempotencyKey "{key}" has exceeded the maximum allowed length of 255 characters'
            return _Response(400, error_body(400, path, message), "rejected"), []
        echo = {"Idempotency-Key": key}
        with self._lock:
            stored = self._idempotency.get(key)
            if stored is None:
                self._idempotency[key] = _Stored(body=request.body)
        if stored is not None:
            if stored.status is None:
                message = (
                    f'Request with key "{key}" is currently being processed. Please retry after 1 second'
                )
                headers = {**echo, "Retry-After": "1"}
                return _Response(409, error_body(409, path, message), "rejected", headers), []
            if stored.body != request.body:
                message = f'Request with key "{key}" is being reused for a different body'
                return _Response(422, error_body(422, path, message, errors={}), "rejected", echo), []
            headers = {**echo, "Idempotency-Replay": "true"}
            return _Response(stored.status, stored.answer, "replayed", headers), []
        try:
            self._take_time()
            response, triggers = handle()
        except BaseException:
            with self._lock:
                del self._idempotency[key]
            raise
        with self._lock:
            self._idempotency[key] = _Stored(body=request.body, status=response.status, answer=response.body)
        response.headers.update(echo)
        return response, triggers

    def _trigger(self, request: _Request) -> tuple[_Response, list[_Triggered]]:
        body, path = request.body, request.path
        problems = _trigger_problems(body)
        if problems:
            errors = {name: {"messages": [message], "value": None} for name, message in problems.items()}
            return _Response(422, error_body(422, path, "Validation Error", errors=errors), "rejected"), []
        answer, triggered = self._one_trigger(request, body)
        outcome = "duplicate" if triggered[1] else "accepted"
        return _Response(201, {"data": answer}, outcome), [triggered]

    def _bulk_trigger(self, request: _Request) -> tuple[_Response, list[_Triggered]]:
        body, path = request.body, request.path
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BULK_EVENTS:
            message = f"events must be a list of 1 to {MAX_BULK_EVENTS} triggers"
            errors = {"events": {"messages": [message], "value": None}}
            return _Response(422, error_body(422, path, "Validation Error", errors=errors), "rejected"), []
        problems = {
            f"events.{index}.{name}": message
            for index, event in enumerate(events)
            for name, message in _trigger_problems(event).items()
        }
        if problems:
            errors = {name: {"messages": [message], "value": None} for name, message in problems.items()}
            return _Response(422, error_body(422, path, "Validation Error", errors=errors), "rejected"), []
        answers: list[dict[str, Any]] = []
        triggered: list[_Triggered] = []
        for event in events:
            with self._lock:
                refused = str(event.get("transactionId")) in self._refused_in_bulk
            if refused:
                answers.append(
                    {
                        "acknowledged": False,
                        "status": "error",
                        "error": ["stand-in refusal"],
                        "transactionId": event.get("transactionId"),
                    }
                )
                continue
            answer, one = self._one_trigger(request, event)
            answers.append(answer)
            triggered.append(one)
        return _Response(201, {"data": answers}, "accepted"), triggered

    def _one_trigger(self, request: _Request, body: dict[str, Any]) -> tuple[dict[str, Any], _Triggered]:
        """One valid trigger's effect: (its answer, (the trigger, whether it is a duplicate))."""
        to = body["to"] if isinstance(body["to"], list) else [body["to"]]
        transaction_id = str(body.get("transactionId") or uuid.uuid4())
        trigger = NovuTrigger(
            workflow=body["name"],
            recipients=tuple(_recipient(item) for item in to),
            payload=dict(body.get("payload") or {}),
            transaction_id=transaction_id,
            idempotency_key=request.headers.get("idempotency-key"),
            body=body,
            received_at=request.received_at,
            received_monotonic=request.received_monotonic,
        )
        with self._lock:
            duplicate = transaction_id in self._transaction_ids
            self._transaction_ids.add(transaction_id)
            if not duplicate:
                for recipient in trigger.recipients:
                    self._upsert_subscriber_locked(recipient)
        return {"acknowledged": True, "status": "processed", "transactionId": transaction_id}, (
            trigger,
            duplicate,
        )

    def _create_subscriber(self, request: _Request, fail_if_exists: bool) -> _Response:
        body = request.body
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("subscriberId"), str)
            or not body["subscriberId"]
        ):
            errors = {"subscriberId": {"messages": ["subscriberId should not be empty"], "value": None}}
            return _Response(
                422, error_body(422, request.path, "Validation Error", errors=errors), "rejected"
            )
        with self._lock:
            existing = self._subscribers.get(body["subscriberId"])
            if existing is not None and fail_if_exists:
                return _Response(409, dict(existing), "rejected")
            subscriber = self._upsert_subscriber_locked(body)
        return _Response(201, subscriber, "accepted")

    def _get_subscriber(self, subscriber_id: str, path: str) -> _Response:
        with self._lock:
            found = self._subscribers.get(subscriber_id)
        if found is None:
            message = f"Subscriber '{subscriber_id}' was not found"
            return _Response(404, error_body(404, path, message), "rejected")
        return _Response(200, dict(found), "accepted")

    def _upsert_subscriber_locked(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = _now_iso()
        subscriber = self._subscribers.get(fields["subscriberId"]) or {
            "_id": secrets.token_hex(12),
            "subscriberId": fields["subscriberId"],
            "_organizationId": self.organization_id,
            "_environmentId": self.environment_id,
            "deleted": False,
            "createdAt": now,
        }
        for name in ("firstName", "lastName", "email", "phone", "avatar", "locale", "timezone", "data"):
            if name in fields:
                subscriber[name] = fields[name]
        subscriber["updatedAt"] = now
        self._subscribers[fields["subscriberId"]] = subscriber
        return dict(subscriber)


def _trigger_problems(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "body must be a JSON object"}
    problems = {}
    if not isinstance(body.get("name"), str) or not body["name"]:
        problems["name"] = "name should not be empty"
    to = body.get("to")
    items = to if isinstance(to, list) else [to]
    if not to or not all(
        isinstance(item, str) or (isinstance(item, dict) and item.get("subscriberId")) for item in items
    ):
        problems["to"] = "to must name subscribers (a subscriberId or objects with one)"
    if "payload" in body and not isinstance(body["payload"], dict):
        problems["payload"] = "payload must be an object"
    return problems


def _recipient(item: str | dict[str, Any]) -> dict[str, Any]:
    return {"subscriberId": item} if isinstance(item, str) else dict(item)


def _handler_for(stand_in: NovuStandIn) -> type[BaseHTTPRequestHandler]:
    class NovuHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
        # Headers and body go out as two writes; without this, Nagle plus delayed ACK
        # hold every answer back ~40 ms and the stand-in, not GopherPay, sets the pace.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with stand_in._lock:
                stand_in._connections.add(self.connection)

        def finish(self) -> None:
            with stand_in._lock:
                stand_in._connections.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def _serve(self) -> None:
            received_at, received_monotonic = datetime.now(UTC), time.monotonic()
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            request = _Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                received_at=received_at,
                received_monotonic=received_monotonic,
            )
            triggers: list[_Triggered] = []
            if isinstance(body, str):
                response = _Response(400, error_body(400, split.path, "body is not JSON"), "rejected")
            else:
                response, triggers = stand_in._handle(request)
            call = NovuCall(
                method=request.method,
                path=request.path,
                query=request.query,
                headers=request.headers,
                body=body,
                status=response.status,
                outcome=response.outcome,
                received_at=received_at,
                received_monotonic=received_monotonic,
            )
            stand_in._record(call, triggers)
            self._answer(response)

        def _answer(self, response: _Response) -> None:
            data = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            # The client may have given up waiting (a timeout test).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    return NovuHandler

"""The GopherPay HTTP API client (httpx, synchronous).

- Sends `Authorization: Bearer <access token>` from the credential store.
- Turns RFC 9457 problem+json answers into `ApiError(status, code, detail)`.
- Refreshes an expired access token transparently, once per request.
- Network failures raise `DaemonUnreachable`. A money-moving request (one with
  an `Idempotency-Key`) is sent again a few times with the same key after a
  network failure, a read timeout or a 500/502/503/504 answer, so none of them
  ever moves money twice. When it gives up, the error says whether anything
  may have reached the daemon and, if so, the command that retries it safely.
- `event_stream` opens a long-lived Server-Sent Events response and hands over
  its body chunk by chunk as it arrives; reconnecting is the caller's business.
"""

from __future__ import annotations

import shlex
import ssl
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# httpx's own command line (httpx._main) imports click, pygments and rich as httpx itself is
# imported, whenever click happens to be installed: about 60 ms of every gopherpay start, for
# code the CLI never runs. A None entry makes httpx take its fallback for a missing httpx[cli].
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402

from gopherpay_cli.credentials import Credentials, CredentialStore  # noqa: E402
from gopherpay_cli.errors import (  # noqa: E402
    LOGIN_AGAIN,
    ApiError,
    DaemonUnreachable,
    ExitCode,
    GopherPayError,
    UsageError,
)
from gopherpayd import __version__  # noqa: E402

MONEY_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0)
"""Pauses before each resend of a money-moving request after a network failure or a 5xx."""

REQUEST_TIMEOUT = 15.0
"""Seconds to wait for a connection, or for the next bytes of an answer."""

RESENT_STATUSES = frozenset({500, 502, 503, 504})
"""Answers after which a money-moving request is sent again with the same key: the
daemon stores an outcome only with a committed transfer, so a failed one left none."""

REFRESHABLE_CODES = frozenset({"token_expired", "invalid_token"})
NETWORK_ERRORS = (
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.TimeoutException,
)
TOKEN_ENV_HINT = (
    "The token in GOPHERPAY_TOKEN was refused. Set it to a live API token "
    "(gopherpay tokens create), or unset it to use your stored login."
)
EVENT_STREAM_TYPE = "text/event-stream"
UNREACHABLE_HINT = (
    "Is the daemon running (gopherpayd serve)? Point the CLI at it with --server or GOPHERPAY_SERVER."
)
NOTHING_SENT = "Nothing was sent, so nothing was done: once the daemon is reachable, run the command again."
MAYBE_DONE = (
    "The request may or may not have been carried out. To retry it safely "
    "(the daemon does it at most once per key), run:"
)
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before a connection was made: the request never left this machine."""


@dataclass(frozen=True)
class MoneyReply:
    """The answer to a money-moving request; `replayed` when the daemon had done it before."""

    data: Any
    replayed: bool


class ApiClient:
    """One connection pool to one daemon, authenticated from one credential store."""

    def __init__(
        self,
        server: str,
        credentials: CredentialStore,
        *,
        ca_bundle: str | None = None,
        timeout: float | None = None,
        retry_delays: Sequence[float] = MONEY_RETRY_DELAYS,
    ) -> None:
        self.server = server
        self.credentials = credentials
        self.retry_delays = tuple(retry_delays)
        self.timeout = REQUEST_TIMEOUT if timeout is None else timeout
        verify: ssl.SSLContext | bool = True
        if ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as error:
                raise UsageError(f"Cannot load the CA bundle {ca_bundle}: {error}") from error
        if server.startswith("http://"):
            # Plain HTTP to the daemon: this client never speaks TLS (it follows no redirects),
            # so it needs no certificate store, whose loading costs ~40 ms of every start.
            verify = False
        self._http = httpx.Client(
            base_url=server,
            verify=verify,
            timeout=self.timeout,
            # The version constant, not importlib.metadata: reading the metadata costs ~30 ms a start.
            headers={"User-Agent": f"gopherpay/{__version__}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def get(
        self, path: str, params: Mapping[str, str | int] | None = None, *, authenticated: bool = True
    ) -> Any:
        return _body(self._send("GET", path, params=params, authenticated=authenticated))

    def get_pages(
        self,
        path: str,
        params: Mapping[str, str | int],
        *,
        limit: int,
        page_size: int = 200,
        cursor: str | None = None,
        authenticated: bool = True,
    ) -> dict[str, Any]:
        """Up to `limit` items of a paginated list, following `next_cursor` (from `cursor` on).

        Answers in the list's own shape, `{"items": [...], "next_cursor": ...}`, where
        `next_cursor` continues after the last item returned.
        """
        items: list[Any] = []
        pages = self.iter_pages(
            path, params, limit=limit, page_size=page_size, cursor=cursor, authenticated=authenticated
        )
        for page in pages:
            items.extend(page["items"])
            cursor = page["next_cursor"]
        return {"items": items, "next_cursor": cursor}

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, str | int],
        *,
        limit: int | None = None,
        page_size: int = 200,
        cursor: str | None = None,
        authenticated: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """The pages of a paginated list, each fetched only when the one before was used,
        so a caller that writes each page out holds one page at a time. `limit` None: all.

        Each page is `{"items": [...], "next_cursor": ...}`; the last one's cursor is None
        when the list is exhausted, else where to go on from (`--cursor`).
        """
        fetched = 0
        while limit is None or fetched < limit:
            size = page_size if limit is None else min(limit - fetched, page_size)
            query: dict[str, str | int] = {**params, "limit": size}
            if cursor:
                query["cursor"] = cursor
            page = self.get(path, query, authenticated=authenticated)
            items = list(page.get("items", []))[:size]
            fetched += len(items)
            cursor = page.get("next_cursor") or None
            yield {"items": items, "next_cursor": cursor}
            if not cursor or not items:
                return

    def post(self, path: str, body: Any = None, *, authenticated: bool = True) -> Any:
        return _body(self._send("POST", path, body=body, authenticated=authenticated))

    def delete(self, path: str) -> Any:
        return _body(self._send("DELETE", path))

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Any request (`gopherpay api`); with a key it is resent like `move_money`."""
        return _body(self._send(method, path, body=body, params=params, idempotency_key=idempotency_key))

    def move_money(self, path: str, body: Any, idempotency_key: str) -> MoneyReply:
        """POST a money-moving request; network failures and 5xx answers are retried with the same key."""
        response = self._send("POST", path, body=body, idempotency_key=idempotency_key)
        replayed = response.headers.get("Idempotency-Replayed", "").lower() == "true"
        return MoneyReply(data=_body(response), replayed=replayed)

    def preview(self, path: str, body: Any) -> Any:
        """POST a money-moving request with `dry_run=true`: what it would do now; nothing moves."""
        return _body(self._send("POST", path, body=body, params={"dry_run": "true"}))

    def move_money_batch(self, path: str, body: Any) -> Any:
        """POST a batch whose items carry their own idempotency keys; sent again like
        `move_money` after a network failure or a 5xx, since no item can move twice.

        An atomic batch that moved nothing answers 409 with one result per item: that
        body is returned like a success, for the caller to read item by item.
        """
        response = self._send("POST", path, body=body, resend=True, results_on_conflict=True)
        return _body(response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str | int] | None = None,
        idempotency_key: str | None = None,
        authenticated: bool = True,
        resend: bool = False,
        results_on_conflict: bool = False,
    ) -> httpx.Response:
        credentials = self._logged_in() if authenticated else None
        response = self._transmit(method, path, body, params, idempotency_key, credentials, resend=resend)
        renewed = self._renewed_after(response, credentials)
        if renewed is not None:
            response = self._transmit(method, path, body, params, idempotency_key, renewed, resend=resend)
        if response.is_error and not (results_on_conflict and _is_batch_results(response)):
            raise self._error(response, credentials)
        return response

    @contextmanager
    def event_stream(
        self, path: str, *, last_event_id: str | None, read_timeout: float
    ) -> Iterator[Iterator[bytes]]:
        """Open a Server-Sent Events stream; yields its body as chunks, each as soon as it arrives.

        An expired access token is refreshed once, as for any request. An error answer
        raises its ApiError; a network failure, while connecting or while reading,
        raises DaemonUnreachable. `read_timeout` bounds the silence between two chunks.
        """
        credentials = self._logged_in()
        response = self._open_stream(path, credentials, last_event_id, read_timeout)
        try:
            if response.is_error:
                response.read()
                renewed = self._renewed_after(response, credentials)
                if renewed is not None:
                    response.close()
                    response = self._open_stream(path, renewed, last_event_id, read_timeout)
            if response.is_error:
                response.read()
                raise self._error(response, credentials)
            content_type = response.headers.get("Content-Type", "")
            if not content_type.startswith(EVENT_STREAM_TYPE):
                raise GopherPayError(
                    f"The daemon at {self.server} answered {path} with {content_type or 'no content type'}, "
                    "not an event stream",
                    ExitCode.FAILURE,
                    hint="Is the daemon a version with real-time history (GET /v1/stream)?",
                )
            yield self._chunks(response)
        finally:
            response.close()

    def _open_stream(
        self, path: str, credentials: Credentials, last_event_id: str | None, read_timeout: float
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {credentials.access_token}",
            "Accept": EVENT_STREAM_TYPE,
            "Cache-Control": "no-cache",
        }
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        request = self._http.build_request("GET", path, headers=headers, timeout=timeout)
        try:
            return self._http.send(request, stream=True)
        except NETWORK_ERRORS as error:
            raise self._unreachable(error, None, 1) from None

    def _chunks(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except NETWORK_ERRORS as error:
            raise self._unreachable(error, None, 1) from None

    def _logged_in(self) -> Credentials:
        """The credentials to send, or the error that says how to log in."""
        credentials = self.credentials.load()
        if credentials is None:
            # Not being logged in to a daemon that is not there is not the news: say it is
            # unreachable (exit 7), so a wrong --server is not mistaken for a lost login.
            self._transmit("GET", "/healthz", None, None, None, None)
            raise GopherPayError(f"You are not logged in to {self.server}", ExitCode.AUTH, hint=LOGIN_AGAIN)
        return credentials

    def _renewed_after(self, response: httpx.Response, credentials: Credentials | None) -> Credentials | None:
        """Fresh credentials when `response` refused an access token that a refresh can renew."""
        if (
            credentials is not None
            and response.status_code == 401
            and _problem_code(response) in REFRESHABLE_CODES
            and not self.credentials.from_environment
        ):
            return self._refresh(credentials)
        return None

    def _error(self, response: httpx.Response, credentials: Credentials | None) -> ApiError:
        error = api_error_from(response)
        if response.status_code == 401 and credentials is not None and self.credentials.from_environment:
            # Logging in would not help: GOPHERPAY_TOKEN takes precedence over any stored login.
            error.hint = TOKEN_ENV_HINT
        return error

    def _transmit(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, str | int] | None,
        idempotency_key: str | None,
        credentials: Credentials | None,
        *,
        resend: bool = False,
    ) -> httpx.Response:
        """Send once; a money-moving request (one with a key, or `resend`: a batch of keyed
        items) is sent again after a network failure or a 5xx.

        Resending stops at the first answer that is not worth another try; when the
        tries run out, the error says how to retry safely (see `_unreachable`).
        """
        headers: dict[str, str] = {}
        if credentials is not None:
            headers["Authorization"] = f"Bearer {credentials.access_token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        safe_to_resend = idempotency_key is not None or resend
        delays = self.retry_delays if safe_to_resend else ()
        maybe_sent = False
        for attempt, delay in enumerate((*delays, None), start=1):
            try:
                response = self._http.request(method, path, json=body, params=params, headers=headers)
            except NETWORK_ERRORS as error:
                maybe_sent = maybe_sent or not isinstance(error, NOT_SENT_ERRORS)
                if delay is None or _is_certificate_error(error):
                    raise self._unreachable(
                        error, idempotency_key, attempt, maybe_sent=maybe_sent, resend=resend
                    ) from None
            else:
                if not safe_to_resend or not _worth_resending(response, attempt):
                    return response
                if delay is None:
                    raise _gave_up(response, idempotency_key, attempt)
                maybe_sent = True
            time.sleep(delay)
        raise AssertionError("the last attempt returns or raises")

    def _refresh(self, rejected: Credentials) -> Credentials | None:
        """New credentials after the access token was refused, or None if there is no way."""
        with self.credentials.refresh_lock():
            stored = self.credentials.load_stored()
            if stored is None or not stored.refresh_token:
                return None
            if stored.access_token != rejected.access_token:
                return stored  # another gopherpay process refreshed in the meantime
            # Not retried: a refresh token is spent by the first attempt that arrives.
            response = self._transmit(
                "POST", "/v1/auth/refresh", {"refresh_token": stored.refresh_token}, None, None, None
            )
            if response.is_error:
                raise api_error_from(response)
            pair = _body(response)
            renewed = Credentials.from_token_pair(pair, fallback_email=stored.email)
            self.credentials.save(renewed, announce=False)
            return renewed

    def _unreachable(
        self,
        error: httpx.HTTPError,
        idempotency_key: str | None,
        attempts: int,
        *,
        maybe_sent: bool = True,
        resend: bool = False,
    ) -> DaemonUnreachable:
        """The error for a network failure; for a money movement, also whether the request
        may have reached the daemon (`maybe_sent`) and, if so, how to retry it safely."""
        reason = str(error) or type(error).__name__
        if _is_certificate_error(error):
            return DaemonUnreachable(
                f"Cannot verify the TLS certificate of {self.server}: {reason}",
                hint="If the daemon uses a private CA, pass --ca-bundle PATH (or set GOPHERPAY_CA_BUNDLE).",
                transient=False,
            )
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            message = f"Cannot reach the GopherPay daemon at {self.server}: {reason}"
        elif isinstance(error, httpx.TimeoutException):
            message = f"The GopherPay daemon at {self.server} did not answer in time"
        else:
            message = f"Lost the connection to the GopherPay daemon at {self.server}: {reason}"
        if resend:
            # The caller (a batch of keyed items) says how to run it again safely.
            return DaemonUnreachable(f"{message} (tried {attempts} times)", hint=UNREACHABLE_HINT)
        if idempotency_key is None:
            return DaemonUnreachable(message, hint=UNREACHABLE_HINT)
        if not maybe_sent:
            return DaemonUnreachable(
                f"{message} (tried {attempts} times)", hint=f"{NOTHING_SENT}\n{UNREACHABLE_HINT}"
            )
        return DaemonUnreachable(f"{message} (tried {attempts} times)", hint=retry_hint(idempotency_key))


def retry_hint(idempotency_key: str) -> str:
    """What to do after a money movement whose outcome is unknown: the command to run."""
    return f"{MAYBE_DONE}\n  {retry_command(idempotency_key)}"


def retry_command(idempotency_key: str, argv: Sequence[str] | None = None) -> str:
    """The user's command line (`sys.argv`) with `--idempotency-key KEY` added, shell-quoted.

    An `--idempotency-key` already given with this key is taken out and the option is
    put last, where it cannot be read as the value of another option. Whatever else
    differs, the daemon refuses a different request under the same key (409).
    """
    given = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    position = 0
    while position < len(given):
        token = given[position]
        following = given[position + 1] if position + 1 < len(given) else None
        if token == "--idempotency-key" and following == idempotency_key:
            position += 2
            continue
        if token != f"--idempotency-key={idempotency_key}":
            kept.append(token)
        position += 1
    return " ".join(shell_quote(word) for word in ["gopherpay", *kept, "--idempotency-key", idempotency_key])


def shell_quote(word: str) -> str:
    """`shlex.quote`, or bash/zsh `$'…'` quoting for a word with characters that are not
    printable (a newline, an escape, a bidi control), so they are neither printed raw nor lost."""
    if word.isprintable():
        return shlex.quote(word)
    escaped = []
    for char in word:
        if char in "\\'":
            escaped.append("\\" + char)
        elif char.isprintable():
            escaped.append(char)
        elif ord(char) < 0x80:
            escaped.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(f"\\U{ord(char):08x}")
    return "$'" + "".join(escaped) + "'"


def _worth_resending(response: httpx.Response, attempt: int) -> bool:
    """A 5xx, or (on a resend) the daemon still working on the first attempt with this key."""
    if response.status_code in RESENT_STATUSES:
        return True
    return attempt > 1 and _problem_code(response) == "idempotency_request_in_progress"


def _gave_up(response: httpx.Response, idempotency_key: str | None, attempts: int) -> ApiError:
    """The last answer's error, saying how often it was tried and how to retry it safely
    (for a batch, `idempotency_key` is None and the caller says how)."""
    error = api_error_from(response)
    error.message = f"{error.message} (tried {attempts} times)"
    if idempotency_key is not None:
        error.hint = retry_hint(idempotency_key)
    return error


def _is_batch_results(response: httpx.Response) -> bool:
    """A 409 that carries a batch's results (an atomic batch that moved nothing), not a problem."""
    if response.status_code != 409:
        return False
    body = _json_or_none(response)
    return isinstance(body, dict) and isinstance(body.get("results"), list)


def api_error_from(response: httpx.Response) -> ApiError:
    """The ApiError for an error answer; tolerates answers that are not problem+json."""
    problem = _json_or_none(response)
    retry_after = _retry_after(response)
    if isinstance(problem, dict) and isinstance(problem.get("code"), str):
        detail = problem.get("detail") or problem.get("title") or response.reason_phrase
        return ApiError(
            response.status_code,
            problem["code"],
            str(detail),
            field_errors=_field_errors(problem.get("errors")),
            retry_after=retry_after,
            problem=problem,
        )
    detail = f"The daemon answered {response.status_code} {response.reason_phrase}"
    if isinstance(problem, dict) and isinstance(problem.get("detail"), str):
        detail = f"{detail}: {problem['detail']}"
    return ApiError(response.status_code, f"http_{response.status_code}", detail, retry_after=retry_after)


def _field_errors(errors: Any) -> tuple[str, ...]:
    """`loc: msg` for each entry of a 422 answer; the rejected input is never echoed."""
    if not isinstance(errors, list):
        return ()
    lines = []
    for error in errors:
        if isinstance(error, dict):
            location = ".".join(str(part) for part in error.get("loc", []) if part != "body")
            message = str(error.get("msg", "invalid"))
            lines.append(f"{location}: {message}" if location else message)
    return tuple(lines)


def _body(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    data = _json_or_none(response)
    if data is None:
        raise GopherPayError(
            f"The daemon answered {response.status_code} with a body that is not JSON",
            ExitCode.FAILURE,
        )
    return data


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _problem_code(response: httpx.Response) -> str | None:
    if not response.is_error:
        return None
    problem = _json_or_none(response)
    code = problem.get("code") if isinstance(problem, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(response: httpx.Response) -> int | None:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None


def _is_certificate_error(error: httpx.HTTPError) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)

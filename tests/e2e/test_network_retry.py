"""A lost answer (a dropped connection, a gateway's 502) never sends money twice;
an absent daemon is reported as such, and as one that nothing was sent to.

A small HTTP/1.1 proxy sits between the CLI and the daemon. It forwards each
request, reads the daemon's whole answer, and for the first N transfers closes
the CLI's connection, or answers 502 Bad Gateway, instead of passing the answer
on: the money has moved, but the CLI cannot know it.
"""

from __future__ import annotations

import re
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.helpers import UNREACHABLE_HINT, UUID, Cli, CliFactory, Operator, Run, sign_up
from tests.support.daemon import RunningDaemon, free_port

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"
REPLAYED = "The daemon had already done this request (same idempotency key); nothing was done twice."
MAYBE_DONE = (
    "The request may or may not have been carried out. To retry it safely "
    "(the daemon does it at most once per key), run:"
)
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Exchange:
    """One request the proxy forwarded, and what became of the daemon's answer."""

    method: str
    path: str
    idempotency_key: str | None
    status: int
    replayed: bool
    dropped: bool


def read_message(connection: socket.socket, buffered: bytes) -> tuple[bytes, dict[str, str], bytes, bytes]:
    """One HTTP/1.1 message with a Content-Length body: (head, headers, body, bytes left over).

    An empty head means the peer closed the connection first.
    """
    while b"\r\n\r\n" not in buffered:
        chunk = connection.recv(65536)
        if not chunk:
            return b"", {}, b"", b""
        buffered += chunk
    head, buffered = buffered.split(b"\r\n\r\n", 1)
    head += b"\r\n\r\n"
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    assert "chunked" not in headers.get("transfer-encoding", ""), "the proxy reads Content-Length bodies only"
    length = int(headers.get("content-length", "0"))
    while len(buffered) < length:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the peer closed the connection in the middle of a body")
        buffered += chunk
    return head, headers, buffered[:length], buffered[length:]


class DroppingProxy:
    """Forwards to the daemon; swallows the answers to the first `drop_transfers` POST /v1/transfers,
    closing the connection or, with `bad_gateway`, answering 502 in their place."""

    def __init__(self, upstream_port: int, drop_transfers: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop_transfers = drop_transfers
        self.bad_gateway = False
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def transfers(self) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if (e.method, e.path) == ("POST", "/v1/transfers")]

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            buffered = b""
            while True:
                head, headers, body, buffered = read_message(client, buffered)
                if not head:
                    return
                method, path, _ = head.decode("latin-1").split(" ", 2)
                with socket.create_connection(self.upstream) as upstream:
                    upstream.sendall(head + body)
                    answer_head, answer_headers, answer_body, _ = read_message(upstream, b"")
                with self._lock:
                    drop = (method, path) == ("POST", "/v1/transfers") and self.drop_transfers > 0
                    if drop:
                        self.drop_transfers -= 1
                    self.exchanges.append(
                        Exchange(
                            method,
                            path,
                            headers.get("idempotency-key"),
                            int(answer_head.split(b" ", 2)[1]),
                            answer_headers.get("idempotency-replayed") == "true",
                            drop,
                        )
                    )
                if drop:
                    if self.bad_gateway:
                        client.sendall(BAD_GATEWAY)
                    return  # close without passing the answer on: the daemon has done the transfer
                client.sendall(answer_head + answer_body)


@pytest.fixture
def proxy(daemon: RunningDaemon) -> Iterator[DroppingProxy]:
    running = DroppingProxy(int(daemon.url.rsplit(":", 1)[1]), drop_transfers=1)
    yield running
    running.close()


@dataclass
class Pair:
    """A sender who reaches the daemon through the proxy, and a recipient who does not."""

    sender: Cli
    recipient: Cli
    recipient_email: str


@pytest.fixture
def pair(
    daemon: RunningDaemon,
    operator: Operator,
    proxy: DroppingProxy,
    new_cli: CliFactory,
) -> Pair:
    tag = uuid.uuid4().hex[:8]
    sender, recipient = f"sender-{tag}@example.com", f"recipient-{tag}@example.com"
    sender_cli: Cli = new_cli(proxy.url, "sender")
    recipient_cli: Cli = new_cli(daemon.url, "recipient")
    sign_up(sender_cli, sender, "Sam Sender", PASSWORD)
    sign_up(recipient_cli, recipient, "Rita Recipient", PASSWORD)
    operator.deposit(sender, 2000)
    return Pair(sender_cli, recipient_cli, recipient)


def assert_one_transfer_of_five_dollars(pair: Pair, transfer_id: str) -> None:
    received = pair.recipient("--json", "balance", "USD")
    assert received.returncode == 0, received.transcript()
    assert received.json()["balance"] == 500
    sent = pair.sender("--json", "history", "--direction", "out")
    assert sent.returncode == 0, sent.transcript()
    assert [(t["id"], t["amount"], t["currency"]) for t in sent.json()["items"]] == [
        (transfer_id, 500, "USD")
    ]


def assert_done_on_the_first_attempt_and_replayed_on_the_second(
    pair: Pair, proxy: DroppingProxy, sent: Run
) -> None:
    """The first attempt did the transfer but its answer never arrived; the resend, with
    the same key, got the stored outcome back; exactly one transfer exists."""
    assert sent.returncode == 0, sent.transcript()
    sent_line, replay_line = sent.stderr_lines
    match = re.fullmatch(
        rf"Sent 5\.00 USD to {re.escape(pair.recipient_email)} \(transfer ({UUID})\)", sent_line
    )
    assert match, sent.stderr
    assert replay_line == REPLAYED
    first, second = proxy.transfers()
    assert first.idempotency_key is not None
    assert re.fullmatch(UUID, first.idempotency_key)
    assert (first.idempotency_key, first.status, first.replayed, first.dropped) == (
        second.idempotency_key, 201, False, True,
    )  # fmt: skip
    assert (second.status, second.replayed, second.dropped) == (201, True, False)
    assert_one_transfer_of_five_dollars(pair, match.group(1))


def test_a_transfer_whose_answer_is_lost_is_sent_again_and_done_once(
    pair: Pair, proxy: DroppingProxy
) -> None:
    sent = pair.sender("transfer", "--yes", "5.00", "USD", "--to", pair.recipient_email)

    assert_done_on_the_first_attempt_and_replayed_on_the_second(pair, proxy, sent)


def test_after_the_retries_run_out_the_same_key_finishes_the_transfer_once(
    pair: Pair, proxy: DroppingProxy
) -> None:
    proxy.drop_transfers = 99

    lost = pair.sender("transfer", "--yes", "5.00", "USD", "--to", pair.recipient_email)

    assert (lost.returncode, lost.stdout) == (7, "")
    first_line, hint, command = lost.stderr_lines
    assert first_line == (
        f"Error: Lost the connection to the GopherPay daemon at {proxy.url}: "
        "Server disconnected without sending a response. (tried 4 times)"
    )
    assert hint == MAYBE_DONE
    key = retry_key(command, f"transfer --yes 5.00 USD --to {pair.recipient_email}")
    assert [(e.idempotency_key, e.replayed) for e in proxy.transfers()] == [
        (key, False), (key, True), (key, True), (key, True),
    ]  # fmt: skip

    proxy.drop_transfers = 0
    retried = pair.sender.sh(command.removeprefix("  gopherpay "))

    assert retried.returncode == 0, retried.transcript()
    assert retried.stderr_lines[1] == REPLAYED
    transfer_id = re.fullmatch(rf"Sent 5\.00 USD to \S+ \(transfer ({UUID})\)", retried.stderr_lines[0])
    assert transfer_id, retried.stderr
    assert_one_transfer_of_five_dollars(pair, transfer_id.group(1))


def retry_key(command: str, command_line: str) -> str:
    """The idempotency key in the printed retry command, which must be `command_line` plus the key."""
    match = re.fullmatch(rf"  gopherpay {re.escape(command_line)} --idempotency-key ({UUID})", command)
    assert match, command
    return match.group(1)


def test_a_transfer_whose_answer_a_gateway_replaced_by_502_is_sent_again_and_done_once(
    pair: Pair, proxy: DroppingProxy
) -> None:
    proxy.bad_gateway = True

    sent = pair.sender("transfer", "--yes", "5.00", "USD", "--to", pair.recipient_email)

    assert_done_on_the_first_attempt_and_replayed_on_the_second(pair, proxy, sent)


def test_after_502s_run_out_the_printed_command_finishes_the_transfer_once(
    pair: Pair, proxy: DroppingProxy
) -> None:
    proxy.bad_gateway = True
    proxy.drop_transfers = 99

    lost = pair.sender(
        "transfer", "--yes", "5.00", "USD", "--to", pair.recipient_email, "--memo", "rent & co"
    )

    assert (lost.returncode, lost.stdout) == (1, "")
    first_line, hint, command = lost.stderr_lines
    assert first_line == "Error: The daemon answered 502 Bad Gateway (tried 4 times)"
    assert hint == MAYBE_DONE
    key = retry_key(command, f"transfer --yes 5.00 USD --to {pair.recipient_email} --memo 'rent & co'")
    assert [(e.idempotency_key, e.status, e.replayed) for e in proxy.transfers()] == [
        (key, 201, False), (key, 201, True), (key, 201, True), (key, 201, True),
    ]  # fmt: skip

    proxy.drop_transfers = 0
    retried = pair.sender.sh(command.removeprefix("  gopherpay "))

    assert retried.returncode == 0, retried.transcript()
    assert retried.stderr_lines[1] == REPLAYED
    transfer_id = re.fullmatch(rf"Sent 5\.00 USD to \S+ \(transfer ({UUID})\)", retried.stderr_lines[0])
    assert transfer_id, retried.stderr
    assert_one_transfer_of_five_dollars(pair, transfer_id.group(1))


def test_a_daemon_that_is_not_running_is_reported_as_unreachable(new_cli: CliFactory) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    cli: Cli = new_cli(nowhere, "offline", GOPHERPAY_TOKEN="any-token")

    whoami = cli("whoami")

    assert (whoami.returncode, whoami.stdout) == (7, "")
    first_line, hint = whoami.stderr_lines
    assert first_line.startswith(f"Error: Cannot reach the GopherPay daemon at {nowhere}: "), first_line
    assert "refused" in first_line.lower()
    assert hint == UNREACHABLE_HINT


def test_a_transfer_to_a_daemon_that_is_not_running_says_nothing_was_sent(
    new_cli: CliFactory,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    cli: Cli = new_cli(nowhere, "offline", GOPHERPAY_TOKEN="any-token")

    sent = cli(
        "transfer", "--yes", "5.00", "USD", "--to", "bob@example.com", "--idempotency-key", "rent-2026-11"
    )

    assert (sent.returncode, sent.stdout) == (7, "")
    first_line, *hints = sent.stderr_lines
    assert re.fullmatch(
        rf"Error: Cannot reach the GopherPay daemon at {re.escape(nowhere)}: .+ \(tried 4 times\)", first_line
    ), first_line
    assert "refused" in first_line.lower()
    assert hints == [
        "Nothing was sent, so nothing was done: once the daemon is reachable, run the command again.",
        UNREACHABLE_HINT,
    ]

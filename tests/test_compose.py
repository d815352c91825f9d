"""compose.yaml describes the whole topology, wired the way the daemon expects (Docker is not needed)."""

from __future__ import annotations

import base64
import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from gopherpayd.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
LOCK_FILE = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "data" / "compose-spec" / "compose-spec.json"
SERVICES = {"postgres", "kafka", "kafka-topics", "migrate", "gopherpayd", "relay", "worker"}
EVENT_SERVICES = ("gopherpayd", "relay", "worker")
TOPIC_FAMILIES = ("transfers", "identity", "wallets", "dead-letters")
# Settings the events work adds to the daemon: accepted until gopherpayd.settings has Kafka
# settings at all; from then on the live class alone decides.
PENDING_SETTINGS = {
    "kafka_bootstrap",
    "kafka_topic_prefix",
    "kafka_group_id",
    "novu_secret_key",
    "novu_server_url",
    "require_verified_email",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def compose_validator() -> Draft202012Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", "", DOCKERFILE.read_text())
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_packages() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every pin in requirements.lock."""
    text = re.sub(r"\\\n\s*", " ", LOCK_FILE.read_text())
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --hash=")
        name, _, version = requirement.strip().partition("==")
        assert version, f"not pinned: {line}"
        pins[canonical(name)] = (version, [option.strip() for option in options])
    return pins


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def test_every_service_of_the_topology_is_there_with_an_image_or_a_build(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
    built = [name for name, service in services.items() if "build" in service]
    assert built == ["migrate"]
    assert {services[name]["image"] for name in ("migrate", *EVENT_SERVICES)} == {"gopherpay:local"}
    assert services["postgres"]["image"] == "postgres:16"


def test_the_project_image_is_built_from_the_dockerfile_with_locked_packages(
    services: dict[str, dict[str, Any]],
) -> None:
    build = services["migrate"]["build"]
    assert build == {"context": ".", "dockerfile": "Dockerfile"}
    instructions = dockerfile_instructions()
    assert instructions[0] == "FROM python:3.11-slim"
    # The locked packages first, hashes required, then the project without resolving anything.
    install_lock = instructions.index("RUN pip install --no-cache-dir --require-hashes -r requirements.lock")
    install_project = next(
        i for i, line in enumerate(instructions) if "--no-deps --no-build-isolation ." in line
    )
    assert instructions.index("COPY requirements.lock ./") < install_lock < install_project
    assert "USER gopherpay" in instructions


def test_the_lock_pins_every_dependency_and_the_build_backend_by_version_and_hash() -> None:
    pins = locked_packages()
    pyproject = tomllib.loads(PYPROJECT.read_text())
    project = pyproject["project"]
    # The image runs the daemon: the CLI's packages, the daemon extra's, the build backend.
    wanted = [
        *project["dependencies"],
        *project["optional-dependencies"]["daemon"],
        *pyproject["build-system"]["requires"],
    ]
    for requirement in wanted:
        name = canonical(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0])
        assert name in pins, f"{name} is not in requirements.lock: regenerate it (the command is at its top)"
    for name, (version, hashes) in pins.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), name
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", digest) for digest in hashes), name
    command = LOCK_FILE.read_text().splitlines()[1]
    assert "uv pip compile pyproject.toml requirements-build.in" in command
    assert "--extra daemon" in command


def test_the_locally_built_image_is_never_pulled(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["pull_policy"] == "build"
    for name in EVENT_SERVICES:
        assert services[name]["pull_policy"] == "never", name
    for name in ("postgres", "kafka", "kafka-topics"):
        assert "pull_policy" not in services[name], name


def test_compose_yaml_is_valid_by_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    validator = compose_validator()
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(compose)
    ]
    assert errors == []


@pytest.mark.parametrize(
    ("where", "mistake"),
    [
        (("services", "relay", "pull_policy"), "sometimes"),
        # Numbers may be strings (for ${VARIABLES}), so the wrong type is a list here.
        (("services", "worker", "healthcheck", "retries"), [10]),
        (("services", "gopherpayd", "deploy", "replicas"), [2]),
        (("services", "relay", "depends_on", "migrate", "condition"), "service_finished"),
        (("services", "kafka", "helthcheck"), {"test": ["CMD", "true"]}),
    ],
)
def test_the_schema_check_catches_a_mistake_in_the_file(
    compose: dict[str, Any], where: tuple[str, ...], mistake: object
) -> None:
    broken = copy.deepcopy(compose)
    node = broken
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = mistake
    assert list(compose_validator().iter_errors(broken)), where


def test_kafka_is_the_official_image_in_kraft_mode_as_one_combined_broker_and_controller(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = services["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert tuple(int(part) for part in tag.split(".")[:2]) >= (3, 9)
    env = environment(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    node_id = int(env["KAFKA_NODE_ID"])
    listeners = dict(
        re.fullmatch(r"(\w+)://[\w.-]*:(\d+)", item).groups()  # type: ignore[union-attr]
        for item in env["KAFKA_LISTENERS"].split(",")
    )
    assert listeners == {"PLAINTEXT": "9092", "CONTROLLER": "9093"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:{listeners['CONTROLLER']}"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {"PLAINTEXT": "PLAINTEXT", "CONTROLLER": "PLAINTEXT"}
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16  # a UUID, as kafka-storage wants
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1  # one node cannot hold 3 replicas
    assert not any("ZOOKEEPER" in name for name in env)
    assert kafka["volumes"] == [f"kafka-data:{env['KAFKA_LOG_DIRS']}"]


def test_the_daemons_topics_are_created_up_front_with_three_partitions_each(
    services: dict[str, dict[str, Any]],
) -> None:
    assert environment(services["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    topics = services["kafka-topics"]
    assert topics["image"] == services["kafka"]["image"]
    script = " ".join(topics["command"])
    assert "kafka-topics.sh --bootstrap-server kafka:9092 --create --if-not-exists" in script
    assert "--partitions 3 --replication-factor 1" in script
    assert f"for family in {' '.join(TOPIC_FAMILIES)}; do" in script
    # Compose turns $$ into $: the shell gets the prefix the daemon gets.
    assert '--topic "$${TOPIC_PREFIX}.$${family}"' in script
    prefix = environment(topics)["TOPIC_PREFIX"]
    for name in EVENT_SERVICES:
        assert (
            environment(services[name])["GOPHERPAY_KAFKA_TOPIC_PREFIX"]
            == prefix
            == "${GOPHERPAY_KAFKA_TOPIC_PREFIX:-gopherpay}"
        )


def test_the_daemon_runs_two_replicas_each_on_its_own_host_port(services: dict[str, dict[str, Any]]) -> None:
    daemon = services["gopherpayd"]
    assert daemon["deploy"]["replicas"] == 2
    assert "container_name" not in daemon
    assert daemon["command"][:2] == ["gopherpayd", "serve"]
    assert daemon["command"][daemon["command"].index("--port") + 1] == "8080"
    assert "--no-migrate" in daemon["command"]  # migrate runs once, before the replicas
    (mapping,) = daemon["ports"]
    host, ports, container_port = mapping.rsplit(":", 2)
    first, last = (int(port) for port in ports.split("-"))
    assert (host, container_port, last - first + 1) == ("127.0.0.1", "8080", 2)


def test_relay_and_worker_run_their_commands(services: dict[str, dict[str, Any]]) -> None:
    metrics = ["--metrics-host", "0.0.0.0", "--metrics-port", "9100"]
    assert services["relay"]["command"] == ["gopherpayd", "relay", *metrics]
    assert services["worker"]["command"] == ["gopherpayd", "worker", *metrics]
    assert services["migrate"]["command"] == ["gopherpayd", "migrate"]
    for name in EVENT_SERVICES:
        assert services[name]["restart"] == "unless-stopped"


def test_every_service_is_on_the_one_network(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert list(compose["networks"]) == ["gopherpay"]
    for name, service in services.items():
        assert service["networks"] == ["gopherpay"], name


def test_relay_and_worker_are_checked_on_the_port_where_they_serve_healthz(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("relay", "worker"):
        service = services[name]
        command = service["command"]
        port = command[command.index("--metrics-port") + 1]
        assert command[command.index("--metrics-host") + 1] == "0.0.0.0"  # reachable by Prometheus
        check = service["healthcheck"]
        assert check["test"][:2] == ["CMD", "python"]
        assert f"http://127.0.0.1:{port}/healthz" in check["test"][-1]
        assert check["retries"] >= 3 and check["start_period"]
        assert "ports" not in service  # metrics stay inside the compose network


def test_postgres_kafka_and_the_daemon_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    checks = {
        name: " ".join(services[name]["healthcheck"]["test"]) for name in ("postgres", "kafka", "gopherpayd")
    }
    assert "pg_isready -U gopherpay -d gopherpay" in checks["postgres"]
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092" in checks["kafka"]
    assert "http://127.0.0.1:8080/readyz" in checks["gopherpayd"]
    for name in ("postgres", "kafka", "gopherpayd"):
        assert services[name]["healthcheck"]["retries"] >= 10, name


def test_start_order_is_wired_by_depends_on_conditions(services: dict[str, dict[str, Any]]) -> None:
    def conditions(name: str) -> dict[str, str]:
        return {
            dependency: spec["condition"] for dependency, spec in services[name].get("depends_on", {}).items()
        }

    assert conditions("postgres") == {} and conditions("kafka") == {}
    assert conditions("migrate") == {"postgres": "service_healthy"}
    assert conditions("kafka-topics") == {"kafka": "service_healthy"}
    for name in EVENT_SERVICES:
        assert conditions(name) == {
            "migrate": "service_completed_successfully",
            "kafka": "service_healthy",
            "kafka-topics": "service_completed_successfully",
        }, name


def test_the_environment_wires_database_broker_secret_and_novu(services: dict[str, dict[str, Any]]) -> None:
    postgres = environment(services["postgres"])
    database_url = (
        f"postgresql+psycopg://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    for name in ("migrate", *EVENT_SERVICES):
        env = environment(services[name])
        assert env["GOPHERPAY_DATABASE_URL"] == database_url, name
        # ${VAR:?message}: compose refuses to start without a shared signing key.
        assert env["GOPHERPAY_JWT_SECRET"].startswith("${GOPHERPAY_JWT_SECRET:?"), name
        assert env["GOPHERPAY_LOG_FORMAT"] == "${GOPHERPAY_LOG_FORMAT:-json}", name
    for name in EVENT_SERVICES:
        assert environment(services[name])["GOPHERPAY_KAFKA_BOOTSTRAP"] == "kafka:9092", name
    worker = environment(services["worker"])
    assert worker["GOPHERPAY_KAFKA_GROUP_ID"] == "gopherpay-notifications"
    # No value: compose passes the host's variable through, or leaves it unset (Novu off).
    assert (worker["GOPHERPAY_NOVU_SECRET_KEY"], worker["GOPHERPAY_NOVU_SERVER_URL"]) == (None, None)
    advertised = environment(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")
    assert advertised == worker["GOPHERPAY_KAFKA_BOOTSTRAP"]


def test_every_gopherpay_variable_is_a_setting_the_daemon_knows(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    if "kafka_bootstrap" not in fields:
        fields |= PENDING_SETTINGS
    known = {f"GOPHERPAY_{name.upper()}" for name in fields}
    used = {variable for service in services.values() for variable in environment(service)}
    used |= {line.split()[1].split("=")[0] for line in dockerfile_instructions() if line.startswith("ENV ")}
    gopherpay_variables = {variable for variable in used if variable.startswith("GOPHERPAY_")}
    assert gopherpay_variables - known == set()
    assert {
        "GOPHERPAY_DATABASE_URL",
        "GOPHERPAY_KAFKA_BOOTSTRAP",
        "GOPHERPAY_DATA_DIR",
    } <= gopherpay_variables

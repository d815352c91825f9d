"""HTTPS: the daemon serves it when given a certificate, and the CLI always verifies it."""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.e2e.helpers import Cli, CliFactory, details
from tests.support.daemon import RunningDaemon, run_daemon

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"
CA_BUNDLE_HINT = "If the daemon uses a private CA, pass --ca-bundle PATH (or set GOPHERPAY_CA_BUNDLE)."


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


def self_signed_certificate(directory: Path) -> Certificate:
    """A certificate for the address 127.0.0.1 only, signed by its own key (like `openssl req -x509`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gopherpayd test")])
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths.key.chmod(0o600)
    return paths


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_daemon(
    certificate: Certificate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningDaemon]:
    tls = ["--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key)]
    with run_daemon(tmp_path_factory.mktemp("gopherpayd-tls"), extra_args=tls, scheme="https") as running:
        yield running


def signup_args(*options: str, email: str) -> tuple[str, ...]:
    return (*options, "signup", "--email", email, "--name", "Tess Tls", "--password-stdin")


def test_without_the_ca_bundle_the_self_signed_certificate_is_refused(
    https_daemon: RunningDaemon, new_cli: CliFactory
) -> None:
    cli: Cli = new_cli(https_daemon.url, "tess")

    refused = cli(*signup_args(email="tess@example.com"), input=f"{PASSWORD}\n")

    assert (refused.returncode, refused.stdout) == (7, "")
    first_line, hint = refused.stderr_lines
    assert re.fullmatch(
        rf"Error: Cannot verify the TLS certificate of {re.escape(https_daemon.url)}: "
        r".*CERTIFICATE_VERIFY_FAILED.*self-signed certificate.*",
        first_line,
    ), first_line
    assert hint == CA_BUNDLE_HINT
    assert cli.stored_login() is None


def test_with_the_ca_bundle_signup_and_whoami_work_over_https(
    https_daemon: RunningDaemon, certificate: Certificate, new_cli: CliFactory
) -> None:
    assert https_daemon.url.startswith("https://127.0.0.1:")
    cli: Cli = new_cli(https_daemon.url, "uma")

    bundle = str(certificate.cert)
    signed_up = cli(*signup_args("--ca-bundle", bundle, email="uma@example.com"), input=f"{PASSWORD}\n")
    whoami = cli("--ca-bundle", bundle, "whoami")
    from_environment = cli("whoami", GOPHERPAY_CA_BUNDLE=bundle)

    assert (signed_up.returncode, signed_up.stdout) == (0, ""), signed_up.transcript()
    assert signed_up.stderr_lines == [f"Signed up and logged in to {https_daemon.url} as uma@example.com."]
    assert (whoami.returncode, whoami.stderr) == (0, ""), whoami.transcript()
    assert details(whoami.stdout)["Email"] == "uma@example.com"
    assert (from_environment.returncode, from_environment.stdout) == (0, whoami.stdout)


def test_the_ca_bundle_does_not_make_a_certificate_valid_for_another_host_name(
    https_daemon: RunningDaemon, certificate: Certificate, new_cli: CliFactory
) -> None:
    as_localhost = https_daemon.url.replace("127.0.0.1", "localhost")
    cli: Cli = new_cli(as_localhost, "vic")

    bundle = str(certificate.cert)
    refused = cli(*signup_args("--ca-bundle", bundle, email="vic@example.com"), input=f"{PASSWORD}\n")

    assert (refused.returncode, refused.stdout) == (7, "")
    first_line, hint = refused.stderr_lines
    assert re.fullmatch(
        rf"Error: Cannot verify the TLS certificate of {re.escape(as_localhost)}: "
        r".*CERTIFICATE_VERIFY_FAILED.*mismatch.*'localhost'.*",
        first_line,
    ), first_line
    assert hint == CA_BUNDLE_HINT

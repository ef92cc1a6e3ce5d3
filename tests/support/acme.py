"""A real ACME server on loopback: Debian's pebble, with pebble-challtestsrv as its DNS.

pebble validates http-01 challenges by asking challtestsrv's DNS where a name is (it
answers 127.0.0.1 for every name unless told otherwise) and then fetching the challenge
from that address on `http_port`: the port of the daemon-under-test's nginx. Its own TLS
certificate is made here; its roots (which sign what it issues) come from its management
API.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .daemon import free_port
from .waiting import wait_for

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")


@dataclass
class Pebble:
    directory: str
    """The ACME directory URL (https)."""
    ca_bundle: Path
    """Trusts pebble's own TLS: certbot's REQUESTS_CA_BUNDLE."""
    dns_server: str
    """host:port of challtestsrv's DNS: DEPLOYD_DNS_SERVERS, and pebble's resolver."""
    management: str
    challenges: str
    base: Path

    def roots(self) -> Path:
        """pebble's root certificate(s): what its certificates chain to."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context) as reply:
            pem = reply.read()
        path = self.base / "pebble-root.pem"
        path.write_bytes(pem)
        return path

    def set_a(self, host: str, addresses: list[str]) -> None:
        self._challtestsrv("add-a", {"host": host.rstrip(".") + ".", "addresses": addresses})

    def clear_a(self, host: str) -> None:
        self._challtestsrv("clear-a", {"host": host.rstrip(".") + "."})

    def _challtestsrv(self, path: str, body: dict[str, object]) -> None:
        request = urllib.request.Request(
            f"{self.challenges}/{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request) as reply:
            assert reply.status == 200


def _tls_for_localhost(base: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it: (cert, key, ca)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deployd test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = base / "pebble-cert.pem", base / "pebble-key.pem", base / "pebble-ca.pem"
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths


@contextmanager
def pebble(http_port: int, *, refuse: bool = False) -> Iterator[Pebble]:
    """pebble validating http-01 on 127.0.0.1:`http_port`. With `refuse`, every
    certificate request is refused (an external account binding nobody has)."""
    assert PEBBLE and CHALLTESTSRV, "apt-get install pebble"
    base = Path(tempfile.mkdtemp(prefix="deployd-pebble-"))
    base.chmod(0o755)
    cert, key, ca = _tls_for_localhost(base)
    acme, management = free_port(), free_port()
    dns, challenges = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": refuse,
            "externalAccountMACKeys": {
                "nobody": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
            }
            if refuse
            else {},
        }
    }
    (base / "pebble.json").write_text(json.dumps(config))
    env = {"PATH": "/usr/bin:/bin", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    log = (base / "pebble.log").open("w")
    processes = [
        subprocess.Popen(
            [
                CHALLTESTSRV,
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                f"127.0.0.1:{dns}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                f"127.0.0.1:{challenges}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [PEBBLE, "-config", str(base / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        ),
    ]
    server = Pebble(
        directory=f"https://127.0.0.1:{acme}/dir",
        ca_bundle=ca,
        dns_server=f"127.0.0.1:{dns}",
        management=f"https://127.0.0.1:{management}",
        challenges=f"http://127.0.0.1:{challenges}",
        base=base,
    )
    context = ssl.create_default_context(cafile=str(ca))

    def up() -> bool:
        try:
            with urllib.request.urlopen(server.directory, context=context, timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_for(up, timeout=30)
        yield server
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        log.close()
        shutil.rmtree(base, ignore_errors=True)

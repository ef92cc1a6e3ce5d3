"""Certificates from an ACME server, through certbot with the webroot (http-01) method.

certbot runs as an argument list, non-interactively, against the configured directory and
account e-mail, with config, work and log directories of deployd's own (never the host's
/etc/letsencrypt); it registers an account on first use. The challenge files land in a
webroot that nginx serves for every host name, so a certificate can be issued before its
domain is attached to anything.

After an issuance or a renewal deployd writes one PEM per domain, the chain and then the
key, by atomic rename. nginx reads it at each TLS handshake (the site names it through a
variable), so a renewed certificate is served from the next handshake on, and no reload
ever closes a client's connection for it. nginx reads the file twice in a handshake
(certificate, then key): renewals keep the key, so whichever version each read sees, the
two match.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from deployd import atomic

TIMEOUT_SECONDS = 300


class AcmeError(RuntimeError):
    """certbot could not get the certificate; the message says what the CA said."""


@dataclass(frozen=True, slots=True)
class Certificate:
    domain: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime


def describe(pem: bytes, domain: str) -> Certificate:
    cert = x509.load_pem_x509_certificate(pem)
    return Certificate(
        domain=domain,
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


class Certbot:
    def __init__(
        self,
        *,
        binary: str,
        directory: str,
        email: str | None,
        ca_bundle: Path | None,
        acme_dir: Path,
        logs_dir: Path,
        webroot: Path,
        certs_dir: Path,
        reader_gid: int | None,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.email = email
        self.ca_bundle = ca_bundle
        self.acme_dir = acme_dir
        self.logs_dir = logs_dir
        self.webroot = webroot
        self.certs_dir = certs_dir
        self.reader_gid = reader_gid
        """The group of nginx's workers, which read the PEM at each handshake."""

    def prepare(self) -> None:
        for directory in (self.webroot / ".well-known" / "acme-challenge", self.certs_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for directory in (self.webroot, self.webroot / ".well-known", self.certs_dir):
            directory.chmod(0o755 if directory != self.certs_dir else 0o750)
        (self.webroot / ".well-known" / "acme-challenge").chmod(0o755)
        if self.reader_gid is not None:
            os.chown(self.certs_dir, -1, self.reader_gid)

    def pem_path(self, domain: str) -> Path:
        return self.certs_dir / f"{domain}.pem"

    def issue(self, domain: str, *, renew: bool = False) -> Certificate:
        """Get (or with `renew`, get again) the certificate of `domain`, and install it."""
        self.prepare()
        args = [
            "certonly",
            "--webroot",
            "--webroot-path",
            str(self.webroot),
            "--cert-name",
            domain,
            "--domain",
            domain,
            "--key-type",
            "ecdsa",
        ]
        # A renewal keeps the key: nginx opens the PEM twice per handshake (certificate,
        # then key), and a renewal may land between the two; with one key any pair matches.
        args += ["--force-renewal", "--reuse-key"] if renew else ["--keep-until-expiring"]
        args += (
            ["--email", self.email, "--no-eff-email"]
            if self.email
            else ["--register-unsafely-without-email"]
        )
        self._run(args)
        return self.install(domain)

    def install(self, domain: str) -> Certificate:
        live = self.acme_dir / "config" / "live" / domain
        try:
            chain = (live / "fullchain.pem").read_bytes()
            key = (live / "privkey.pem").read_bytes()
            certificate = describe(chain, domain)
            path = self.pem_path(domain)
            owner = (os.getuid(), self.reader_gid) if self.reader_gid is not None else None
            atomic.write(path, chain + key, mode=0o640, owner=owner)
        except (OSError, ValueError) as exc:
            raise AcmeError(
                f"certbot's certificate for {domain} cannot be installed: {exc}"
            ) from None
        return certificate

    def installed(self, domain: str) -> Certificate | None:
        try:
            return describe(self.pem_path(domain).read_bytes(), domain)
        except (OSError, ValueError):
            return None

    def delete(self, domain: str) -> None:
        """Forget a detached domain's certificate (best effort: nothing serves it now)."""
        self.pem_path(domain).unlink(missing_ok=True)
        with contextlib.suppress(AcmeError):
            self._run(["delete", "--cert-name", domain], check=False)

    def _run(self, args: list[str], check: bool = True) -> None:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        env["HOME"] = str(self.acme_dir)
        if self.ca_bundle is not None:
            env["REQUESTS_CA_BUNDLE"] = str(self.ca_bundle)
        command = [
            self.binary,
            *args,
            "--non-interactive",
            "--agree-tos",
            "--server",
            self.directory,
            "--config-dir",
            str(self.acme_dir / "config"),
            "--work-dir",
            str(self.acme_dir / "work"),
            "--logs-dir",
            str(self.logs_dir),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=TIMEOUT_SECONDS
            )
        except FileNotFoundError:
            raise AcmeError(f"{self.binary} is not installed: `apt-get install certbot`") from None
        except subprocess.TimeoutExpired:
            raise AcmeError(f"certbot gave no answer within {TIMEOUT_SECONDS}s") from None
        if check and done.returncode != 0:
            raise AcmeError(_reason(done.stderr or done.stdout))


UNREACHABLE = re.compile(r"ConnectionError: HTTPS?ConnectionPool\(host='([^']+)'")
ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def _reason(output: str) -> str:
    """The lines of certbot's output that say what went wrong (a server it cannot reach in
    words, not as the repr of a Python exception)."""
    if unreachable := UNREACHABLE.search(output):
        why = ERRNO.search(output)
        return f"cannot reach the ACME server {unreachable[1]}" + (
            f": {why[1].strip()}" if why else ""
        )
    keep = [
        line.strip()
        for line in output.splitlines()
        if line.strip()
        and not line.startswith(("Saving debug log", "Ask for help", "See the logfile"))
        and "logfile" not in line
    ]
    detail = [line for line in keep if line.startswith(("Detail:", "Type:", "Error"))]
    chosen = detail or keep[-3:]
    return " ".join(chosen)[:1000] or "certbot failed without saying why"

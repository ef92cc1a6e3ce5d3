"""Webhook deliveries as GitHub's Hookshot makes them: signed, one at a time, recorded.

Deliveries go out from one worker thread in the order they were made, apart from the
request that caused them (GitHub delivers asynchronously too): a receiver that calls back
into the API while it handles a delivery finds the server free.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.support.github.world import Delivery, Hook, Repository, World

HOOKSHOT = "GitHub-Hookshot/5f6a2b1"
ENTERPRISE_VERSION = "3.14.0"
TIMEOUT = 10.0  # GitHub gives a receiver ten seconds


def signature_256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_1(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


@dataclass(frozen=True)
class Answer:
    status_code: int  # 0 when no HTTP answer came
    status: str
    headers: dict[str, str]
    body: str
    duration: float


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT) -> Answer:
    """POST `body` to `url`; what came back, never an exception."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    start = time.monotonic()
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(1 << 20).decode(errors="replace")
        code = response.status
        status = "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
        return Answer(code, status, dict(response.getheaders()), text, time.monotonic() - start)
    except TimeoutError:
        return Answer(0, "timed out", {}, "", time.monotonic() - start)
    except OSError:
        return Answer(0, "failed to connect to host", {}, "", time.monotonic() - start)
    except http.client.HTTPException as exc:
        return Answer(0, f"invalid HTTP response: {exc!r}", {}, "", time.monotonic() - start)
    finally:
        connection.close()


@dataclass(frozen=True)
class Job:
    hook_id: int
    repo: str
    repository_id: int
    guid: str
    event: str
    action: str | None
    url: str
    headers: dict[str, str]
    body: bytes
    redelivery: bool
    done: threading.Event


class Dispatcher:
    def __init__(self, world: World, enterprise_host: str) -> None:
        self.world = world
        self.enterprise_host = enterprise_host
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="hookshot", daemon=True)
        self._worker.start()

    def request(
        self, hook: Hook, repo: Repository, event: str, guid: str, payload: dict[str, Any]
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body GitHub would send `hook` for this event."""
        compact = json.dumps(payload, separators=(",", ":")).encode()
        if hook.content_type == "form":
            body = urlencode({"payload": compact.decode()}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body, content_type = compact, "application/json"
        headers = {
            "Accept": "*/*",
            "Content-Type": content_type,
            "User-Agent": HOOKSHOT,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Event": event,
            "X-GitHub-Hook-ID": str(hook.id),
            "X-GitHub-Hook-Installation-Target-ID": str(repo.id),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Enterprise-Host": self.enterprise_host,
            "X-GitHub-Enterprise-Version": ENTERPRISE_VERSION,
        }
        if hook.secret:
            headers["X-Hub-Signature"] = signature_1(hook.secret, body)
            headers["X-Hub-Signature-256"] = signature_256(hook.secret, body)
        return headers, body

    def emit(
        self, repo: Repository, event: str, payload: dict[str, Any], *, only: Hook | None = None
    ) -> list[threading.Event]:
        """Queue the event for every hook on `repo` that wants it; one guid for all of them."""
        guid = str(uuid.uuid4())
        action = payload.get("action") if isinstance(payload.get("action"), str) else None
        done: list[threading.Event] = []
        with self.world.lock:
            hooks = (
                [only]
                if only
                else [h for h in self.world.hooks.values() if h.repo == repo.full_name]
            )
            for hook in hooks:
                if not hook.wants(event):
                    continue
                headers, body = self.request(hook, repo, event, guid, payload)
                job = Job(
                    hook.id,
                    repo.full_name,
                    repo.id,
                    guid,
                    event,
                    action,
                    hook.url,
                    headers,
                    body,
                    False,
                    threading.Event(),
                )
                self._jobs.put(job)
                done.append(job.done)
        return done

    def redeliver(self, delivery: Delivery) -> threading.Event:
        """The same request again, with the same X-GitHub-Delivery."""
        job = Job(
            delivery.hook_id,
            delivery.repo,
            delivery.repository_id,
            delivery.guid,
            delivery.event,
            delivery.action,
            delivery.url,
            dict(delivery.request_headers),
            delivery.request_body,
            True,
            threading.Event(),
        )
        self._jobs.put(job)
        return job.done

    def drain(self, timeout: float = 30.0) -> None:
        """Return once every delivery queued so far has been made."""
        marker = threading.Event()
        self._jobs.put(
            Job(0, "", 0, "", "", None, "", {}, b"", False, marker)
        )  # a no-op job: the queue is ordered
        if not marker.wait(timeout):
            raise TimeoutError("webhook deliveries still pending")

    def stop(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=TIMEOUT + 5)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if job.hook_id:
                    self._deliver(job)
            finally:
                job.done.set()

    def _deliver(self, job: Job) -> None:
        delivered_at = self.world.now()
        answer = post(job.url, job.body, job.headers)
        with self.world.lock:
            self.world.deliveries.append(
                Delivery(
                    id=self.world.new_id(),
                    guid=job.guid,
                    hook_id=job.hook_id,
                    repo=job.repo,
                    repository_id=job.repository_id,
                    event=job.event,
                    action=job.action,
                    url=job.url,
                    delivered_at=delivered_at,
                    redelivery=job.redelivery,
                    duration=answer.duration,
                    status=answer.status,
                    status_code=answer.status_code,
                    request_headers=job.headers,
                    request_body=job.body,
                    response_headers=answer.headers,
                    response_body=answer.body,
                )
            )
            hook = self.world.hooks.get(job.hook_id)
            if hook is not None:
                hook.last_response = {
                    "code": answer.status_code or None,
                    "status": "active" if 200 <= answer.status_code < 300 else "failed",
                    "message": answer.status,
                }

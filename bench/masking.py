"""How fast secrets are masked out of a log stream (issue 5: at least 100 MB/s, one core).

A 64 MiB stream of log-like lines, one line in a thousand holding one of 50 secrets, is
masked in the 64 KiB chunks the slot launcher reads, beside a plain copy of the same
chunks. Then the launcher itself, end to end: an app that writes the stream to stdout, the
launcher masking it into the log file, beside the same launcher with no config to mask.
Also shown: one regular expression over all 50 secrets, the approach `Masker` avoids.
"""

from __future__ import annotations

import os
import random
import re
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deployd.domain.envfile import render
from deployd.domain.masking import Masker, StreamMasker

SIZE = 64 * 1024 * 1024
CHUNK = 64 * 1024
SECRETS = 50


def make_stream(secrets: list[str]) -> bytes:
    rng = random.Random(7)
    words = ["GET", "/api/orders", "200", "user=42", "served", "in", "12ms", "INFO", "worker-3"]
    lines = []
    size = 0
    while size < SIZE:
        line = " ".join(rng.choices(words, k=10))
        if rng.random() < 0.001:
            line += " token=" + rng.choice(secrets)
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def rate(seconds: float, size: int) -> str:
    return f"{size / seconds / 1e6:8.0f} MB/s"


def in_process(data: bytes, values: dict[str, str]) -> None:
    parts = chunks(data)
    started = time.perf_counter()
    copied = b"".join(bytes(p) for p in parts)
    plain = time.perf_counter() - started
    stream = StreamMasker(Masker(values))
    started = time.perf_counter()
    masked = b"".join(stream.feed(p) for p in parts) + stream.flush()
    masking = time.perf_counter() - started
    assert len(copied) == len(data) and not any(v.encode() in masked for v in values.values())
    pattern = re.compile(b"|".join(re.escape(v.encode()) for v in values.values()))
    started = time.perf_counter()
    pattern.sub(b"****", data[: SIZE // 8])
    regex = (time.perf_counter() - started) * 8
    print(f"plain copy of the chunks            {rate(plain, len(data))}")
    print(f"StreamMasker, {len(values)} secrets            {rate(masking, len(data))}")
    print(f"one regex over all secrets          {rate(regex, len(data))}")


def through_launcher(data: bytes, values: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        stream = base / "stream"
        stream.write_bytes(data)
        for label, config in (("no config", {}), (f"{len(values)} secrets", values)):
            env_file = base / "slot.env"
            env_file.write_text(render({"PATH": "/usr/bin:/bin"}, config, "bench"))
            log = base / "slot.log"
            log.unlink(missing_ok=True)
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-I",
                    "-m",
                    "deployd.runtime.launch",
                    "--env-file",
                    str(env_file),
                    "--log",
                    str(log),
                    "--",
                    "cat",
                    str(stream),
                ],
                check=True,
            )
            took = time.perf_counter() - started
            assert log.stat().st_size >= len(data) * 0.9
            print(f"launcher, app → log, {label:<14}{rate(took, len(data))}")
        started = time.perf_counter()
        with (base / "direct.log").open("wb") as out:
            subprocess.run(["cat", str(stream)], stdout=out, check=True)
        took = time.perf_counter() - started
        print(f"app → log directly (cat > file)     {rate(took, len(data))}")


def main() -> None:
    rng = random.Random(1)
    alphabet = string.ascii_letters + string.digits
    values = {
        f"SECRET_{i}": "".join(rng.choices(alphabet, k=rng.randint(12, 48))) for i in range(SECRETS)
    }
    data = make_stream(list(values.values()))
    print(
        f"stream: {len(data) / 1e6:.0f} MB, {SECRETS} secrets, {CHUNK // 1024} KiB chunks, "
        f"pid {os.getpid()}"
    )
    in_process(data, values)
    through_launcher(data, values)


if __name__ == "__main__":
    main()

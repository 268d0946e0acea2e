"""The real components of capturing on many machines, started on loopback for tests and benchmarks:
Debian's `redis-server` on a free port, moto's S3 server, and `warcache worker` processes, each
with a working directory of its own standing for a machine.

Everything listens on 127.0.0.1 and is stopped when the test is done (workers run in a session
of their own, so a test can SIGKILL one with its browser, as a machine dies).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

#: Waits short enough for tests: a tiny page needs no scrolling and little quiet time.
FAST = ["--no-scroll", "--idle-timeout", "0.3", "--timeout", "20", "--no-screenshot"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


class RedisServer:
    """`redis-server` on 127.0.0.1 and a free port; `appendonly` keeps the queue across a restart."""

    def __init__(self, *, appendonly: bool = False) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(exe):
            pytest.fail("redis-server is not installed: scripts/_setup.sh installs it "
                        "(Debian/Ubuntu: sudo apt-get install redis-server)")
        self.exe = exe
        self.port = free_port()
        self.appendonly = appendonly
        self.dir = tempfile.mkdtemp(prefix="warcache-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
                "--daemonize", "no", "--loglevel", "warning"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        _wait_port(self.port, self.proc, "redis-server")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


class MotoS3:
    """moto's S3 server mode (an S3-compatible server that installs with pip) on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store_url(self, bucket: str, prefix: str = "deliveries") -> str:
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}"

    def start(self) -> MotoS3:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(cmd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **S3_ENV})
        _wait_port(self.port, self.proc, "moto server")
        return self

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def warcache_cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "warcache", "--root", str(root), *args]


class Worker:
    """`warcache worker` in a working directory of its own (its root: spool and all)."""

    def __init__(self, name: str, broker: str, workdir: Path, *, jobs: int = 2,
                 visibility_timeout: float = 15, env: dict | None = None) -> None:
        self.name = name
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "worker.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            warcache_cmd(workdir, "worker", "--broker", broker, "-j", str(jobs), "--name", name,
                         "--visibility-timeout", str(visibility_timeout)),
            cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **S3_ENV, **(env or {})})

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready: " in self.log:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited {self.proc.returncode}:\n{self.log[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"worker {self.name} not ready in {timeout:g} s:\n{self.log[-3000:]}")

    def jobs(self, word: str) -> list[str]:
        """Ids of the jobs whose log line has `word` ("capturing", "ok", "FAILED")."""
        out = []
        for line in self.log.splitlines():
            if "warcache.worker: job " in line and f": {word} " in line:
                out.append(line.split("warcache.worker: job ", 1)[1].split(":", 1)[0])
        return out

    def kill(self) -> None:
        """SIGKILL the worker and its browser, as when its machine dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of its browser is left
        self.proc.wait(10)
        self._log.close()


@contextlib.contextmanager
def workers(n: int, broker: str, base: Path, **kwargs):
    """`n` ready workers, w1..wn, each in base/wI; stopped afterwards."""
    started = []
    try:
        for i in range(1, n + 1):
            started.append(Worker(f"w{i}", broker, base / f"w{i}", **kwargs))
        for w in started:
            w.wait_ready()
        yield started
    finally:
        for w in started:  # all at once: each finishes its pages and closes its browser
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in started:
            w.stop()

"""Real S3 servers on loopback for the tests and the benchmark: the embedded s3s-fs of
`s3cache server`, and moto with SigV4 verification on. Both check every signature."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{what} did not listen on port {port} within 30 s")


def s3cache_binary() -> str:
    path = os.environ.get("S3CACHE_BIN") or str(REPO / "target" / "release" / "s3cache")
    if not Path(path).exists():
        raise RuntimeError(
            f"no s3cache binary at {path}: run `cargo build --release` or set S3CACHE_BIN"
        )
    return path


@dataclass
class Server:
    """A running S3 server and the credentials it accepts."""

    name: str
    endpoint: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen
    cleanup: List[str] = field(default_factory=list)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)

    def boto3(self):
        """A boto3 S3 client for this server: the independent client the tests check with."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )


class S3CacheServer:
    @staticmethod
    def start() -> Server:
        """`s3cache server` over a temporary data directory, with fresh credentials."""
        data = tempfile.mkdtemp(prefix="s3cache-data-")
        port = free_port()
        key, secret = "key-" + secrets.token_hex(4), "secret-" + secrets.token_hex(8)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        process = subprocess.Popen(
            [s3cache_binary(), "server", "--addr", f"127.0.0.1:{port}", "--data-dir", data],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, process, "s3cache server")
        return Server("s3cache-server", f"http://127.0.0.1:{port}", key, secret, process, [data])


class MotoServer:
    @staticmethod
    def start() -> Server:
        """moto's server with SigV4 checks: its first three requests (unauthenticated) create
        an IAM user, its policy and an access key; every later request must be signed with it.
        It runs through moto_serve.py, which makes its conditional writes atomic as S3's are."""
        import boto3

        port = free_port()
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
        launcher = str(Path(__file__).with_name("moto_serve.py"))
        process = subprocess.Popen(
            [sys.executable, launcher, "127.0.0.1", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, process, "moto")
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name="us-east-1",
        )
        iam.create_user(UserName="s3cache")
        iam.put_user_policy(
            UserName="s3cache",
            PolicyName="s3",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
        )
        created = iam.create_access_key(UserName="s3cache")["AccessKey"]
        return Server("moto", endpoint, created["AccessKeyId"], created["SecretAccessKey"], process)


def serve(name: str) -> int:
    """Starts a server, prints its endpoint and credentials as one JSON line, and stops it when
    standard input closes: how the Rust test suites start moto (their exit closes the pipe)."""
    server = {"s3cache-server": S3CacheServer.start, "moto": MotoServer.start}[name]()
    try:
        print(
            json.dumps(
                {
                    "endpoint": server.endpoint,
                    "access_key_id": server.access_key_id,
                    "secret_access_key": server.secret_access_key,
                }
            ),
            flush=True,
        )
        sys.stdin.read()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: servers.py serve moto|s3cache-server")
    sys.exit(serve(sys.argv[2]))

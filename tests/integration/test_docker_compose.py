"""``docker-compose.yml`` and the ``Dockerfile`` as an operator meets them, without a
Docker engine (none on these machines): the file is valid against the Compose
Specification's own schema (vendored in ``data/compose_spec``), and its services' commands
run as compose would run them, in its order, against a fresh PostgreSQL database, until
``/health`` is 200 and an event is processed.

What "as compose would" means here, and where it must differ:

- each service's command line is the image's ``ENTRYPOINT`` (read from the Dockerfile)
  followed by the service's ``command``; its environment is the image's ``ENV``, then
  ``env_file``, then ``environment`` (compose's order of precedence), with ``${VAR:-x}``
  interpolated from the operator's ``.env`` as compose does;
- ``depends_on`` conditions are honoured: ``migrate`` must exit 0 before the others start;
- named volumes are folders shared by the services that mount them; the image's
  ``WORKDIR`` is the working directory; any other absolute path (``/tmp``) is a folder of
  each replica's own, as a container's filesystem is;
- a container has a network of its own, so every router listens on 8000; here all share
  the host's, so the Smart Router's container port is moved to a free port, in its command and
  its health check alike;
- the worker runs twice, as ``--scale phoenix-data-flywheel=2`` would;
- health checks run their ``CMD`` with the service's environment, ``python`` and
  ``phoenix-flywheel`` being this environment's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from tests.pgbouncer import free_port

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "data" / "compose_spec" / "compose-spec.json"
TOKEN = "compose-token"
ROUTER, WORKER, MIGRATE = "phoenix-smart-router", "phoenix-data-flywheel", "migrate"
WORKER_REPLICAS = 2


def compose_file() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_the_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose_file())
    ]
    assert errors == []
    # The schema itself catches a mistake of this kind (the test would not pass vacuously).
    broken = compose_file()
    broken["services"][WORKER]["depends_on"][MIGRATE]["condition"] = "service_finished"
    assert list(validator.iter_errors(broken))


def test_the_file_and_the_image_keep_what_an_operator_needs() -> None:
    services = compose_file()["services"]
    assert set(services) == {MIGRATE, ROUTER, WORKER}
    for name, service in services.items():
        assert service.get("build") == ".", f"{name} has no build: an image nobody built"
        assert service["image"] == services[MIGRATE]["image"]
        assert "flywheel-data:/data" in service["volumes"]
    for name in (ROUTER, WORKER):
        assert services[name]["depends_on"] == {
            MIGRATE: {"condition": "service_completed_successfully"}
        }
        assert "test" in services[name]["healthcheck"], f"{name} has no health check"
    assert "container_name" not in services[WORKER], "a fixed name forbids --scale"
    ports = [interpolate(port, {}) for port in services[ROUTER]["ports"]]
    assert ports == ["127.0.0.1:8000:8000"], "published beyond loopback by default"
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-[a-z]+-[a-z]+|[^@]+@sha256:[0-9a-f]{64}", base[1])
    assert instruction(dockerfile, "USER") == ["flywheel"]
    assert instruction(dockerfile, "WORKDIR")[-1] == "/data"
    assert "chown flywheel:flywheel /data" in dockerfile
    example = env_file(ROOT / ".env.example")
    assert "DATABASE_URL" in example
    assert "FLYWHEEL_API_TOKEN" not in example, "an empty token stops every service"


def instruction(dockerfile: str, name: str) -> list[str]:
    """The arguments of each ``name`` instruction of the Dockerfile, in order."""
    return re.findall(rf"^{name}\s+(.+)$", dockerfile, re.MULTILINE)


def image_env(dockerfile: str) -> dict[str, str]:
    joined = dockerfile.replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in instruction(joined, "ENV"):
        env.update(dict(pair.split("=", 1) for pair in line.split()))
    return env


def env_file(path: Path) -> dict[str, str]:
    """A compose ``env_file``: ``KEY=VALUE`` lines; ``#`` comments and blanks skipped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's interpolation: ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``$$``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, default = match.group(1), match.group(2), match.group(3) or ""
        value = variables.get(name)
        if operator == ":-" and not value:
            return default
        if operator == "-" and value is None:
            return default
        return value or ""

    return re.sub(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}", substitute, text)


@dataclass
class Container:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    healthcheck: list[str] | None
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: list[int] = field(default_factory=list)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=log
            )

    def healthy(self) -> bool:
        if self.healthcheck is None:
            return True
        check = subprocess.run(
            self.healthcheck, cwd=self.cwd, env=self.env, capture_output=True, timeout=30
        )
        return check.returncode == 0


class Compose:
    """Turns the compose file into containers (processes) and supervises them."""

    def __init__(self, root: Path, operator_env: dict[str, str]) -> None:
        self.root = root
        self.file = compose_file()
        self.dockerfile = (ROOT / "Dockerfile").read_text()
        self.operator_env = operator_env
        self.router_port = free_port()
        self.containers: list[Container] = []

    def volume_dir(self, name: str) -> Path:
        folder = self.root / "volumes" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def container(self, service_name: str, replica: int) -> Container:
        service = self.file["services"][service_name]
        name = f"{service_name}-{replica}"
        own_root = self.root / "containers" / name
        mounts = {
            target: self.volume_dir(source)
            for source, target in (v.split(":")[:2] for v in service.get("volumes", []))
        }

        def host_path(path: str) -> str:
            for target, folder in mounts.items():
                if path == target or path.startswith(target + "/"):
                    return str(folder / path[len(target) :].lstrip("/"))
            (own_root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            return str(own_root / path.lstrip("/"))

        env = image_env(self.dockerfile)
        for env_path in _as_list(service.get("env_file")):
            env.update(env_file(self.root / env_path))
        env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
        env = {k: interpolate(v, self.operator_env) for k, v in env.items()}
        env = {k: host_path(v) if v.startswith("/") else v for k, v in env.items()}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        env["HOME"] = str(own_root)
        entrypoint = json.loads(instruction(self.dockerfile, "ENTRYPOINT")[-1])
        argv = self.localise([*entrypoint, *service.get("command", [])])
        check = (service.get("healthcheck") or {}).get("test")
        healthcheck = self.localise(check[1:]) if check and check[0] == "CMD" else None
        own_root.mkdir(parents=True, exist_ok=True)
        workdir = instruction(self.dockerfile, "WORKDIR")[-1]
        return Container(name, argv, env, Path(host_path(workdir)), healthcheck, own_root / "log")

    def localise(self, argv: list[str]) -> list[str]:
        """This environment's executables, and the Smart Router's container port moved."""
        programs = {
            "python": sys.executable,
            "phoenix-flywheel": str(Path(sys.executable).with_name("phoenix-flywheel")),
        }
        moved = [programs.get(argv[0], argv[0]), *argv[1:]]
        return [
            arg.replace(":8000/", f":{self.router_port}/") if "8000" in arg else arg
            for arg in (str(self.router_port) if a == "8000" else a for a in moved)
        ]

    def run_to_completion(self, service_name: str) -> int:
        container = self.container(service_name, 1)
        container.start()
        assert container.process is not None
        self.containers.append(container)
        return container.process.wait(timeout=120)

    def start(self, service_name: str, replicas: int = 1) -> list[Container]:
        started = []
        for replica in range(1, replicas + 1):
            container = self.container(service_name, replica)
            container.start()
            self.containers.append(container)
            started.append(container)
        return started

    def exited(self) -> list[str]:
        """Long-running containers that died (``restart: unless-stopped`` would hide it)."""
        return [
            f"{c.name} exited {c.process.returncode}: {c.log.read_text()[-2000:]}"
            for c in self.containers
            if c.process is not None
            and c.process.poll() is not None
            and not c.name.startswith(MIGRATE)
        ]

    def down(self) -> dict[str, int | None]:
        """SIGTERM to each, as ``docker compose down`` sends, within its grace period."""
        codes: dict[str, int | None] = {}
        for container in self.containers:
            if container.process is not None and container.process.poll() is None:
                container.process.send_signal(signal.SIGTERM)
        for container in self.containers:
            if container.process is None:
                continue
            try:
                codes[container.name] = container.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                container.process.kill()
                codes[container.name] = container.process.wait()
        return codes


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[union-attr]


def wait_until(condition: Any, what: str, compose: Compose, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert compose.exited() == [], compose.exited()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.mark.postgres
def test_the_services_run_as_compose_runs_them_until_an_event_is_processed(
    postgres_url: str, tmp_path: Path
) -> None:
    # The operator's .env: the example, with their database and a token.
    dotenv = tmp_path / ".env"
    text = (ROOT / ".env.example").read_text()
    text = re.sub(r"^DATABASE_URL=.*$", f"DATABASE_URL={postgres_url}", text, flags=re.M)
    dotenv.write_text(text + f"FLYWHEEL_API_TOKEN={TOKEN}\nPOLL_INTERVAL_SECONDS=0.5\n")
    compose = Compose(tmp_path, env_file(dotenv))
    try:
        # A fresh database: without the migrate step both services would stay 503.
        assert compose.run_to_completion(MIGRATE) == 0, compose.containers[0].log.read_text()
        router = compose.start(ROUTER)[0]
        workers = compose.start(WORKER, replicas=WORKER_REPLICAS)
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{compose.router_port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )

        def router_answers() -> bool:
            try:
                return router.healthy()
            except subprocess.TimeoutExpired:
                return False

        wait_until(router_answers, "the Smart Router's health check", compose)
        assert http.get("/health").json()["database"] == "ok"
        for worker in workers:
            wait_until(worker.healthy, f"{worker.name}'s health check", compose)
        event = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}
        assert http.post("/api/events", json=event).status_code == 202
        wait_until(
            lambda: http.get("/api/events/queue-status").json()["processed"] == 1,
            "the event to be processed",
            compose,
        )
        assert http.get("/api/users/u1/journey").status_code == 200
        http.close()
    finally:
        codes = compose.down()
    assert all(code in (0, -signal.SIGTERM) for code in codes.values()), codes
    for container in compose.containers:
        assert "Traceback" not in container.log.read_text(), container.name
    # The worker's health check goes stale once its loop is gone.
    stale = subprocess.run(
        [*workers[0].healthcheck[:-1], "0"] if workers[0].healthcheck else ["false"],
        cwd=workers[0].cwd,
        env=workers[0].env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert stale.returncode == 1, stale.stdout
    shutil.rmtree(tmp_path / "containers", ignore_errors=True)

"""The deployment files fit together and run the commands the flywheel has.

The schemas say each file is well formed; these say the pieces name each other right
(a selector, a Secret key, a scale target), the pods meet the restricted Pod Security
Standard their namespace enforces, and each container's command line is one that
``phoenix-flywheel`` accepts, parsed by its own parser.
"""

from __future__ import annotations

import shlex

import pytest
import yaml

from src.entrypoints.cli.parser import build_parser
from tests.deploy.manifests import (
    KUBERNETES,
    containers,
    find,
    manifest_files,
    pod_specs,
)

SECRET = "phoenix-flywheel"
EXAMPLE_SECRET = "secret.example.yaml"


def kustomization() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return loaded


def test_the_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    resources = kustomization()["resources"]
    assert isinstance(resources, list)
    on_disk = {path.name for path in manifest_files()} - {"kustomization.yaml"}
    assert set(resources) == on_disk - {EXAMPLE_SECRET}
    # Applying the kustomization must never overwrite the real Secret with placeholders.
    assert EXAMPLE_SECRET not in resources


def test_everything_goes_to_the_namespace_the_kustomization_names() -> None:
    namespace = kustomization()["namespace"]
    labels = find("Namespace", str(namespace))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # The example Secret is applied on its own, so it names the namespace itself.
    secret = find("Secret", SECRET)
    assert secret["metadata"]["namespace"] == namespace


def test_every_container_runs_the_image_the_kustomization_sets() -> None:
    images = kustomization()["images"]
    assert isinstance(images, list)
    names = {image["name"] for image in images}
    used = {container["image"] for _, container in containers()}
    assert used == names == {"phoenix-flywheel"}


def test_the_service_selects_the_api_pods_on_their_named_port() -> None:
    service = find("Service", "phoenix-smart-router")
    api = find("Deployment", "phoenix-smart-router")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert api["spec"]["selector"]["matchLabels"].items() <= labels.items()
    worker = find("Deployment", "phoenix-flywheel-worker")
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    (port,) = service["spec"]["ports"]
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}


def test_keda_scales_the_worker_deployment_on_the_scaling_signal() -> None:
    scaled = find("ScaledObject", "phoenix-flywheel-worker")
    worker = find("Deployment", "phoenix-flywheel-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
    # KEDA owns the count: a `replicas` in the Deployment would reset it on every apply.
    assert "replicas" not in worker["spec"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"]["query"] == "SELECT useful_workers FROM phoenix_scaling_signal()"
    assert trigger["metadata"]["targetQueryValue"] == "1"
    authentication = find("TriggerAuthentication", trigger["authenticationRef"]["name"])
    (reference,) = authentication["spec"]["secretTargetRef"]
    assert reference["parameter"] == "connection"
    assert reference["name"] == SECRET
    assert reference["key"] in find("Secret", SECRET)["stringData"]
    assert 0 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]


def test_secrets_come_from_the_secret_and_settings_from_the_config_map() -> None:
    secret_keys = set(find("Secret", SECRET)["stringData"])
    config = find("ConfigMap", "phoenix-flywheel-config")["data"]
    assert not {"DATABASE_URL", "FLYWHEEL_API_TOKEN"} & set(config)
    for workload, container in containers():
        assert {"configMapRef": {"name": "phoenix-flywheel-config"}} in container["envFrom"]
        env = {variable["name"]: variable for variable in container["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": SECRET,
            "key": "DATABASE_URL",
        }, workload
        for variable in env.values():
            assert "value" not in variable, f"{workload}: {variable['name']} in plain text"
            assert variable["valueFrom"]["secretKeyRef"]["key"] in secret_keys
    (api,) = find("Deployment", "phoenix-smart-router")["spec"]["template"]["spec"]["containers"]
    assert "FLYWHEEL_API_TOKEN" in {variable["name"] for variable in api["env"]}


def test_the_example_secret_holds_placeholders_only() -> None:
    values = find("Secret", SECRET)["stringData"].values()
    assert all("USER:PASSWORD@HOST" in v or v.startswith("REPLACE-") for v in values)


@pytest.mark.parametrize(
    "workload", ["phoenix-smart-router", "phoenix-flywheel-worker", "phoenix-flywheel-migrate"]
)
def test_every_pod_meets_the_restricted_pod_security_standard(workload: str) -> None:
    pod = dict(pod_specs())[workload]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
        assert "memory" in container["resources"]["limits"]


def test_a_stopping_worker_has_time_to_finish_its_batch() -> None:
    """The worker cancels a batch still running 10 s after SIGTERM and gives its events
    back; the pod must outlive that, or the events wait for their lease instead."""
    pod = find("Deployment", "phoenix-flywheel-worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30


def command_line(workload: str) -> list[str]:
    (container,) = dict(pod_specs())[workload]["containers"]
    assert container["command"] == ["phoenix-flywheel"]
    args: list[str] = container["args"]
    return args


@pytest.mark.parametrize(
    ("workload", "command"),
    [("phoenix-flywheel-worker", "worker"), ("phoenix-flywheel-migrate", "migrate")],
)
def test_the_command_lines_are_ones_the_cli_accepts(workload: str, command: str) -> None:
    arguments = build_parser().parse_args(command_line(workload))
    assert arguments.command == command


def test_the_api_runs_serve_on_the_port_its_probes_and_service_use() -> None:
    arguments = command_line("phoenix-smart-router")
    assert arguments[0] == "serve"
    assert "--no-worker" in arguments
    without_flag = [argument for argument in arguments if argument != "--no-worker"]
    parsed = build_parser().parse_args(without_flag)
    assert parsed.host == "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    (container,) = find("Deployment", "phoenix-smart-router")["spec"]["template"]["spec"][
        "containers"
    ]
    assert parsed.port == container["ports"][0]["containerPort"]


def test_the_api_command_line_with_no_worker_is_one_the_cli_accepts() -> None:
    arguments = command_line("phoenix-smart-router")
    try:
        parsed = build_parser().parse_args(arguments)
    except SystemExit as error:  # argparse's answer to an unknown option
        raise AssertionError(f"phoenix-flywheel refuses {shlex.join(arguments)}") from error
    assert parsed.command == "serve"

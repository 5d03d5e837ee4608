"""The deployment files under ``deploy/kubernetes/`` and the schemas they are held to.

Kubernetes' own kinds are checked against the JSON schemas that the PyPI package
``kubernetes-validate`` ships (Apache-2.0; made from Kubernetes' OpenAPI documents), in
their strict form: an object refuses a field its schema does not declare, as
``kubectl apply --validate=strict`` does on a cluster.

KEDA's kinds are checked against JSON schemas in ``keda/`` beside this file, made strict the
same way by ``vendor_keda_schemas.sh`` from the PyPI package ``cloudcoil.models.keda``
(Apache-2.0: models generated from KEDA's released CustomResourceDefinitions); the script
recreates them, ``keda/VERSION`` and ``keda/LICENSE`` say from what.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KEDA_API = "keda.sh/v1alpha1"
KEDA_SCHEMAS = Path(__file__).resolve().parent / "keda"
# KEDA 2.16 (the schemas' release) supports Kubernetes 1.29 to 1.31; the newest schemas
# the package ships say whether anything used here was dropped since.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())

Document = dict[str, Any]


def manifest_files() -> list[Path]:
    """Every YAML file of the directory, the kustomization and the example Secret too."""
    return sorted(KUBERNETES.glob("*.yaml"))


def documents(path: Path) -> list[Document]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def all_documents() -> Iterator[tuple[Path, Document]]:
    for path in manifest_files():
        if path.name != "kustomization.yaml":
            for document in documents(path):
                yield path, document


def find(kind: str, name: str) -> Document:
    for _, document in all_documents():
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise LookupError(f"no {kind} named {name} under {KUBERNETES}")


def validate(document: Document, kubernetes_version: str) -> None:
    """Raise ``jsonschema.ValidationError`` (or a subclass) if ``document`` breaks its schema."""
    if document.get("apiVersion") == KEDA_API:
        jsonschema.Draft202012Validator(keda_schema(document["kind"])).validate(document)
    else:
        kubernetes_validate.validate(document, kubernetes_version, strict=True)


@cache
def keda_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (KEDA_SCHEMAS / f"{kind.lower()}-keda-v1alpha1.json").read_text()
    )
    return schema


def pod_specs() -> Iterator[tuple[str, Document]]:
    """(workload name, pod spec) of every Deployment and Job."""
    for _, document in all_documents():
        if document["kind"] in ("Deployment", "Job"):
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def containers() -> Iterator[tuple[str, Document]]:
    for workload, pod in pod_specs():
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            yield workload, container

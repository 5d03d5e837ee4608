"""Every deployment file holds to the Kubernetes or KEDA schema of its kind, offline."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from tests.deploy.manifests import (
    KEDA_API,
    KEDA_SCHEMAS,
    KUBERNETES,
    KUBERNETES_VERSIONS,
    all_documents,
    documents,
    validate,
)

DOCUMENTS = [
    pytest.param(document, id=f"{path.name}:{document['kind']}/{document['metadata']['name']}")
    for path, document in all_documents()
]


def test_the_directory_holds_every_kind_it_should() -> None:
    kinds = {document["kind"] for _, document in all_documents()}
    assert kinds >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "ScaledObject",
        "TriggerAuthentication",
    }


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_each_manifest_holds_to_its_schema(document: dict[str, object], version: str) -> None:
    validate(document, version)


# A typo in a field's name, in a copy of the real file: the schemas must refuse it, or
# the test above could never fail. One per schema source, at several depths.
TYPOS = [
    ("worker-deployment.yaml", "terminationGracePeriodSeconds:", "terminationGracePeriod:"),
    ("api-deployment.yaml", "readinessProbe:", "readynessProbe:"),
    ("api-deployment.yaml", "targetPort: http", "targetport: http"),
    ("migrate-job.yaml", "ttlSecondsAfterFinished:", "ttlSecondAfterFinished:"),
    ("scaledobject.yaml", "pollingInterval:", "pollInterval:"),
    ("scaledobject.yaml", "authenticationRef:", "authRef:"),
    ("scaledobject.yaml", "stabilizationWindowSeconds:", "stabilisationWindowSeconds:"),
    ("scaledobject.yaml", "secretTargetRef:", "secretTargetRefs:"),
]


@pytest.mark.parametrize(("file", "field", "typo"), TYPOS, ids=[typo for *_, typo in TYPOS])
def test_a_typo_in_a_field_name_is_refused(
    file: str, field: str, typo: str, tmp_path: Path
) -> None:
    text = (KUBERNETES / file).read_text()
    assert text.count(field) == 1, f"{field!r} should appear once in {file}"
    copy = tmp_path / file
    copy.write_text(text.replace(field, typo))
    name = typo.removesuffix(":").split(":")[0]
    refused = [document for document in documents(copy) if _refused_for(document, name)]
    assert len(refused) == 1


def test_a_trigger_setting_given_as_a_number_is_refused(tmp_path: Path) -> None:
    """KEDA's trigger metadata is a map of strings: an unquoted 1 is refused on apply."""
    text = (KUBERNETES / "scaledobject.yaml").read_text()
    copy = tmp_path / "scaledobject.yaml"
    copy.write_text(text.replace('targetQueryValue: "1"', "targetQueryValue: 1"))
    scaled_object = next(d for d in documents(copy) if d["kind"] == "ScaledObject")
    assert scaled_object["apiVersion"] == KEDA_API
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'string'"):
        validate(scaled_object, KUBERNETES_VERSIONS[0])


def _refused_for(document: dict[str, object], unknown: str) -> bool:
    """Whether the schema refuses ``document`` because of the field ``unknown``."""
    try:
        validate(document, KUBERNETES_VERSIONS[0])
    except jsonschema.ValidationError as error:
        return any(
            "Additional properties are not allowed" in message and repr(unknown) in message
            for message in _messages(error)
        )
    return False


def _messages(error: jsonschema.ValidationError) -> list[str]:
    """The error's message and those of the alternatives it tried (``anyOf`` branches)."""
    return [error.message, *(m for sub in error.context or [] for m in _messages(sub))]


def test_the_vendored_keda_schemas_say_where_they_come_from() -> None:
    """``vendor_keda_schemas.sh`` recreates them from this package, under this licence."""
    assert (KEDA_SCHEMAS / "VERSION").read_text().split() == ["cloudcoil.models.keda", "2.16.1.0"]
    assert "Apache License" in (KEDA_SCHEMAS / "LICENSE").read_text()
    assert sorted(path.name for path in KEDA_SCHEMAS.glob("*.json")) == [
        "scaledobject-keda-v1alpha1.json",
        "triggerauthentication-keda-v1alpha1.json",
    ]

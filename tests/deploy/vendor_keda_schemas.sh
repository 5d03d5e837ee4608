#!/usr/bin/env bash
# Re-vendors the JSON schemas of KEDA's ScaledObject and TriggerAuthentication that the
# deployment tests hold deploy/kubernetes/ to, from the PyPI package cloudcoil.models.keda
# (Apache-2.0: pydantic models that cloudcoil generates from KEDA's released CRDs), into
# tests/deploy/keda/. Run it by hand to move to another KEDA release; the tests never run
# it: the files are committed. (The package is not a dev dependency: it registers a pytest
# plugin of its own.)
set -euo pipefail
cd "$(dirname "$0")"
KEDA_MODELS_VERSION="${KEDA_MODELS_VERSION:-2.16.1.0}"
OUT=keda
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "cloudcoil.models.keda==$KEDA_MODELS_VERSION"
mkdir -p "$OUT"
"$work/venv/bin/python" - "$OUT" <<'PY'
"""Each kind's model as a JSON schema, made strict as kubernetes-validate's schemas are:
every object that lists its fields refuses any other (``kubectl apply --validate=strict``);
maps and free-form objects stay open. A manifest must name apiVersion, kind and metadata,
which the models default."""
import json
import sys
from pathlib import Path

from cloudcoil.models.keda import v1alpha1 as keda


def strict(schema):
    if isinstance(schema, dict):
        if schema.get("properties") and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)


for model in (keda.ScaledObject, keda.TriggerAuthentication):
    schema = model.model_json_schema(by_alias=True)
    strict(schema)
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    path = Path(sys.argv[1]) / f"{model.__name__.lower()}-keda-v1alpha1.json"
    path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
PY
cp "$work"/venv/lib/python3*/site-packages/cloudcoil_models_keda-*.dist-info/licenses/LICENSE "$OUT/LICENSE"
printf 'cloudcoil.models.keda %s\n' "$KEDA_MODELS_VERSION" > "$OUT/VERSION"
echo "vendored the KEDA schemas of cloudcoil.models.keda $KEDA_MODELS_VERSION into tests/deploy/$OUT"

#!/usr/bin/env bash
# Validate api/openapi.yaml against the OpenAPI 3.1 schema with
# openapi-spec-validator (PyPI), so the document the binary embeds and
# serves is one real tools accept. The validator lives in a venv under
# .tools/ (git-ignored), built on first use and rebuilt only when
# deploy/openapi-check.requirements.txt changes: later runs take a second.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/venv
req=deploy/openapi-check.requirements.txt
# The venv records the requirements it was built from; a mismatch (or a
# half-built venv from an interrupted run) starts it again.
if ! cmp -s "$req" "$venv/.requirements" 2>/dev/null || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$venv/.requirements"
fi
"$venv/bin/openapi-spec-validator" --validation-errors all api/openapi.yaml

#!/usr/bin/env bash
# Validate docker-compose.yml against the Compose specification's schema
# (check-jsonschema's built-in vendor.compose-spec, from PyPI), since no
# Docker engine is at hand to run it, and check that the Grafana dashboard
# and provisioning files are well-formed. The validator lives in a venv
# under .tools/ (git-ignored), built on first use and rebuilt only when
# deploy/compose-check.requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/compose-venv
req=deploy/compose-check.requirements.txt
if ! cmp -s "$req" "$venv/.requirements" 2>/dev/null || [ ! -x "$venv/bin/check-jsonschema" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$venv/.requirements"
fi
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
"$venv/bin/python" -c '
import json, sys
from ruamel.yaml import YAML
for f in sys.argv[1:]:
    with open(f) as fh:
        json.load(fh) if f.endswith(".json") else YAML(typ="safe").load(fh)
print("grafana and prometheus files: ok")
' deploy/grafana/dashboards/*.json deploy/grafana/provisioning/*/*.yml deploy/prometheus/prometheus.yml

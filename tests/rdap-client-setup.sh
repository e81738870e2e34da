#!/usr/bin/env bash
# Installs the independent RDAP client library the RDAP tests validate answers with
# (PyPI `rdap`, the 20C client: pydantic models of RFC 9083 objects) into a virtual
# environment, if it is not there yet. Usage: tests/rdap-client-setup.sh VENV_DIR
# (tests/tests/rdap.rs runs it with TARGET_DIR/rdap-venv).
set -euo pipefail
venv="${1:?usage: $0 VENV_DIR}"
if "$venv/bin/python" -c 'import rdap.schema.rdap' >/dev/null 2>&1; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'rdap==1.7.0'
"$venv/bin/python" -c 'import rdap.schema.rdap'

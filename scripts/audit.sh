#!/usr/bin/env bash
# Audits the installed dependencies for known vulnerabilities (pip-audit, PyPI
# advisory data). Fails when a vulnerability is found. Packages whose advisory
# data cannot be fetched (no route to pypi.org's JSON API) are listed as not
# audited, and the count is printed, so a run that audited nothing says so.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(.venv/bin/pip-audit --progress-spinner off --skip-editable -f json 2>/tmp/pip-audit.err)
status=$?
echo "$out" | .venv/bin/python -c '
import json, sys
data = json.loads(sys.stdin.read() or "{\"dependencies\": []}")
deps = data.get("dependencies", [])
vulns = [(d["name"], d["version"], v["id"], v.get("fix_versions")) for d in deps for v in d.get("vulns", [])]
skipped = [d["name"] for d in deps if d.get("skip_reason")]
print(f"pip-audit: {len(deps) - len(skipped)} packages audited, {len(skipped)} could not be audited, {len(vulns)} known vulnerabilities")
for name, version, vid, fixes in vulns:
    print(f"  {name} {version}: {vid} (fixed in {fixes})")
sys.exit(1 if vulns else 0)
'
found=$?
if [ $found -ne 0 ]; then exit 1; fi
if [ $status -ne 0 ] && [ -s /tmp/pip-audit.err ]; then grep -v "^$" /tmp/pip-audit.err | tail -3; fi
exit 0

#!/usr/bin/env bash
# Audits the installed dependencies for known vulnerabilities (pip-audit, PyPI
# advisory data). Fails when a vulnerability is found. Packages whose advisory
# data cannot be fetched (no route to pypi.org's JSON API) are listed as not
# audited, and the count is printed; the last line says "not run" when nothing
# could be audited, never that the audit passed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(.venv/bin/pip-audit --progress-spinner off --skip-editable -f json 2>/tmp/pip-audit.err)
status=$?
if [ $status -ne 0 ] && [ -s /tmp/pip-audit.err ]; then grep -v "^$" /tmp/pip-audit.err | tail -3; fi
echo "$out" | .venv/bin/python -c '
import json, sys
data = json.loads(sys.stdin.read() or "{\"dependencies\": []}")
deps = data.get("dependencies", [])
vulns = [(d["name"], d["version"], v["id"], v.get("fix_versions")) for d in deps for v in d.get("vulns", [])]
skipped = [d["name"] for d in deps if d.get("skip_reason")]
audited = len(deps) - len(skipped)
print(f"pip-audit: {audited} packages audited, {len(skipped)} could not be audited, {len(vulns)} known vulnerabilities")
for name, version, vid, fixes in vulns:
    print(f"  {name} {version}: {vid} (fixed in {fixes})")
if vulns:
    sys.exit(1)
if audited == 0:
    print("dependency audit: not run (no advisory data could be fetched for any package)")
elif skipped:
    print(f"dependency audit: partial ({audited} of {len(deps)} packages audited, none vulnerable)")
else:
    print(f"dependency audit: passed ({audited} packages, none vulnerable)")
sys.exit(0)
'
found=$?
if [ $found -ne 0 ]; then exit 1; fi
exit 0

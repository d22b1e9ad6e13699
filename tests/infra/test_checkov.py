"""checkov's Bicep policies pass with no failures, no parsing errors and a written reason per skip.

checkov exits 0 when it cannot parse a file, so parsing errors are read from its JSON summary.
Registry modules (br/public:...) are not fetched offline: checkov sees the resources written here
(the function app, its publishing policies, role assignments, the SWA linked backend) and the AVM
modules' inputs are covered by test_bicep_structure.py instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from tests.infra.bicep import INFRA, bicep_files

SKIP_COMMENT = re.compile(r"//\s*checkov:skip=(?P<id>CKV2?_[A-Z0-9_]+)(?::(?P<reason>.*))?$")


def run_checkov(directory: Path) -> dict:
    # --skip-download keeps checkov off the network (it would fetch guideline links otherwise).
    command = [sys.executable, "-m", "checkov.main", "-d", str(directory), "--framework", "bicep"]
    completed = subprocess.run(
        [*command, "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.stdout.strip(), completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    # One framework gives one object; an empty scan gives a bare summary.
    return report[0] if isinstance(report, list) else report


@cache
def infra_report() -> dict:
    return run_checkov(INFRA)


def test_no_failed_checks():
    failed = infra_report()["results"]["failed_checks"]
    assert [(c["check_id"], c["check_name"], c["file_path"], c["resource"]) for c in failed] == []


def test_no_parsing_errors():
    report = infra_report()
    assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")


def test_checkov_actually_checked_the_function_app():
    passed = infra_report()["results"]["passed_checks"]
    assert {"CKV_AZURE_70", "CKV_AZURE_145", "CKV_AZURE_78"} <= {c["check_id"] for c in passed}
    assert any(c["resource"] == "Microsoft.Web/sites.functionApp" for c in passed)


def test_every_skip_has_a_written_reason():
    for check in infra_report()["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason != "No comment provided" and len(reason.strip()) >= 20, check["check_id"]


def source_skips() -> list[tuple[str, str, str]]:
    found = []
    for path in bicep_files():
        for line in path.read_text().splitlines():
            match = SKIP_COMMENT.search(line.strip())
            if match:
                found.append((path.name, match["id"], (match["reason"] or "").strip()))
    return found


def test_every_skip_comment_in_the_templates_is_used_and_explained():
    skipped = {check["check_id"] for check in infra_report()["results"]["skipped_checks"]}
    for file_name, check_id, reason in source_skips():
        assert len(reason) >= 20, f"{file_name}: {check_id} needs a reason after the colon"
        assert check_id in skipped, f"{file_name}: {check_id} is skipped but no longer fires; drop the comment"


INSECURE = """
resource sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: 'stinsecure'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowBlobPublicAccess: true
    minimumTlsVersion: 'TLS1_0'
    supportsHttpsTrafficOnly: false
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: 'func-insecure'
  location: 'westeurope'
  kind: 'functionapp,linux'
  properties: {
    httpsOnly: false
    siteConfig: {
      minTlsVersion: '1.0'
      ftpsState: 'AllAllowed'
      cors: { allowedOrigins: [ '*' ] }
    }
  }
}
"""


def test_the_policy_check_can_fail(tmp_path: Path):
    (tmp_path / "insecure.bicep").write_text(INSECURE)
    report = run_checkov(tmp_path)
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert {"CKV_AZURE_44", "CKV_AZURE_70", "CKV_AZURE_145"} <= failed
    assert report["summary"]["parsing_errors"] == 0


def test_a_file_checkov_cannot_parse_is_counted(tmp_path: Path):
    (tmp_path / "broken.bicep").write_text("resource sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {\n")
    report = run_checkov(tmp_path)
    assert report["summary"]["parsing_errors"] == 1


def test_no_unreviewed_skips():
    # Adding a skip means adding it here too, so a reviewer sees the list grow.
    assert {check_id for _, check_id, _ in source_skips()} == {
        "CKV_AZURE_17",
        "CKV_AZURE_212",
        "CKV_AZURE_213",
        "CKV_AZURE_222",
    }

"""The certificate decision does not depend on how its outcome is written."""

from __future__ import annotations

import subprocess
import sys

OUTPUT_MODULES = ("tlssim.report.model", "tlssim.client.reporting", "tlssim.report.story")


def test_the_policy_imports_no_report_module() -> None:
    probe = (
        "import sys, tlssim.client.policy; "
        f"print(','.join(m for m in {OUTPUT_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "", f"the policy imports {done.stdout.strip()}"

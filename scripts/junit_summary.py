"""Print one closing line 'lidep tests: N passed, N failed, N skipped' over JUnit XML reports.

The serial run and rank 0 of the MPI run are counted; every other rank's report is checked for
failures only (all ranks run the same MPI tests). Exit status 1 if any test failed or errored, or
if a report is missing.
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> tuple[int, int, int]:
    """Return (passed, failed, skipped) from one JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for s in suites:
        total += int(s.get("tests", 0))
        failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def main(paths: list[str]) -> int:
    """Sum the counted reports, print the closing line, and return the exit status."""
    passed = failed = skipped = 0
    missing = [p for p in paths if not Path(p).is_file()]
    for i, p in enumerate(p for p in paths if Path(p).is_file()):
        n_pass, n_fail, n_skip = counts(Path(p))
        failed += n_fail
        if i < 2:
            passed, skipped = passed + n_pass, skipped + n_skip
    for p in missing:
        print(f"missing test report: {p}")
    print(f"lidep tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

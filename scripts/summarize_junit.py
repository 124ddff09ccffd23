"""Adds up CTest JUnit reports (and the fuzz results) into one closing line,
"summary: N passed, N failed, N skipped", listing every skipped and failed
check with its reason. Exit status 1 when anything failed.

  summarize_junit.py FUZZ_PASSED FUZZ_FAILED JUNIT.xml...

Counts checks, not CTest tests: a test that writes its checks (the
integration and operations modules: <dir of JUNIT.xml>/checks/<test>.tsv,
one "STATUS<TAB>NAME<TAB>REASON" line per check, STATUS pass, fail or skip)
counts as those checks; any other test (a unit test) as one. With CI=true a
skip that still reaches this report counts as a failure: the tests turn
their own skips into failures there, so one here is a test that skipped
outside those rules."""
import os
import sys
import xml.etree.ElementTree as ET

STRICT = os.environ.get("CI") == "true"


def read_checks(path):
    """[(status, name, reason)] from a checks file, or None without one."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    checks = []
    for line in lines:
        status, name, reason = (line.split("\t", 2) + ["", ""])[:3]
        if status not in ("pass", "fail", "skip"):
            status, reason = "fail", f"unreadable line in {path}: {line!r}"
        checks.append((status, name, reason))
    return checks


def skip_reason(case):
    """Why CTest skipped `case`: the test's own SKIP line, GoogleTest's
    message after "Skipped", or CTest's reason."""
    lines = (case.findtext("system-out") or "").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("SKIP "):
            return line[len("SKIP "):]
        if line.endswith(": Skipped") and i + 1 < len(lines):
            return lines[i + 1]
    skipped = case.find("skipped")
    return skipped.get("message", "") if skipped is not None else case.get("status", "")


def case_checks(case, checks_dir):
    """[(status, name, reason)] of one CTest test case."""
    name = case.get("name")
    failed = case.find("failure") is not None or case.find("error") is not None
    skipped = case.find("skipped") is not None or case.get("status") in ("notrun", "disabled")
    checks = read_checks(os.path.join(checks_dir, f"{name}.tsv"))
    if checks is None:
        if failed:
            return [("fail", name, "")]
        return [("skip", name, skip_reason(case))] if skipped else [("pass", name, "")]
    checks = [(status, f"{name}.{check}", reason) for status, check, reason in checks]
    if failed and not any(status == "fail" for status, _, _ in checks):
        # The test failed outside its checks: a crash, a timeout, an error
        # before the first check.
        checks.append(("fail", name, "the test failed outside its checks (crash or timeout?)"))
    return checks


def main():
    passed, failed = int(sys.argv[1]), int(sys.argv[2])
    skipped = 0
    for path in sys.argv[3:]:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            print(f"missing test report {path}: {e}")
            failed += 1
            continue
        checks_dir = os.path.join(os.path.dirname(path), "checks")
        for case in root.iter("testcase"):
            for status, name, reason in case_checks(case, checks_dir):
                if status == "skip" and STRICT:
                    status, reason = "fail", f"CI=true forbids skipping: {reason}"
                if status == "pass":
                    passed += 1
                elif status == "skip":
                    skipped += 1
                    print(f"skipped: {name}: {reason}")
                else:
                    failed += 1
                    print(f"failed: {name}" + (f": {reason}" if reason else ""))
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Adds up CTest JUnit reports (and the fuzz results) into one closing line."""
import sys
import xml.etree.ElementTree as ET

passed, failed = int(sys.argv[1]), int(sys.argv[2])
skipped = 0
for path in sys.argv[3:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"missing test report {path}: {e}")
        failed += 1
        continue
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            skipped += 1
            print(f"skipped: {case.get('name')}")
        else:
            passed += 1
print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")

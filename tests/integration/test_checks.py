"""The strict-CI machinery itself: every skipped check is counted on its own
(Python modules through tcpq_testlib.main, shell tests through
tests/ops/checks.sh), scripts/summarize_junit.py adds the checks up, and
with CI=true a skip is a failure naming what was missing."""
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from tcpq_testlib import HERE, main

ROOT = os.path.dirname(os.path.dirname(HERE))

MODULE = textwrap.dedent("""\
    import sys, unittest
    sys.path.insert(0, {here!r})
    from tcpq_testlib import main

    class Some(unittest.TestCase):
        def test_passes(self):
            pass

        def test_skips(self):
            self.skipTest("needs frob (Debian package frob)")

    class Whole(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise unittest.SkipTest("needs curl (Debian package curl)")

        def test_one(self):
            pass

        def test_two(self):
            pass

    if __name__ == "__main__":
        main()
    """)

ALL_SKIPPED = textwrap.dedent("""\
    import sys, unittest
    sys.path.insert(0, {here!r})
    from tcpq_testlib import main

    class Whole(unittest.TestCase):
        def test_one(self):
            self.skipTest("needs wrk (Debian package wrk)")

    if __name__ == "__main__":
        main()
    """)

SHELL = textwrap.dedent("""\
    . tests/ops/checks.sh
    check_run "true runs" true
    check_needs "frob works" no-such-tool-tcpq:frob && check_run "frob works" no-such-tool-tcpq
    checks_exit
    """)


def run(args, ci, checks_file, cwd=None):
    env = dict(os.environ, TCPQ_CHECKS_FILE=checks_file)
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    p = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    with open(checks_file) as f:
        return p.returncode, p.stdout + p.stderr, f.read().splitlines()


class CheckCountingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="tcpq_checks_")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def module(self, text):
        path = os.path.join(self.dir, "module.py")
        with open(path, "w") as f:
            f.write(text.format(here=HERE))
        return [sys.executable, path]

    def test_python_module_counts_each_test_and_each_class_skip(self):
        status, _, lines = run(self.module(MODULE), False, f"{self.dir}/c.tsv")
        self.assertEqual(status, 0)
        self.assertEqual(lines, [
            "pass\tSome.test_passes\t",
            "skip\tSome.test_skips\tneeds frob (Debian package frob)",
            "skip\tWhole.test_one\tneeds curl (Debian package curl)",
            "skip\tWhole.test_two\tneeds curl (Debian package curl)",
        ])

    def test_python_module_fails_each_skip_under_ci(self):
        status, output, lines = run(self.module(MODULE), True, f"{self.dir}/c.tsv")
        self.assertEqual(status, 1)
        self.assertEqual(lines, [
            "pass\tSome.test_passes\t",
            "fail\tSome.test_skips\tAssertionError: CI=true forbids skipping: "
            "needs frob (Debian package frob)",
            "fail\tWhole.test_one\tAssertionError: CI=true forbids skipping: "
            "needs curl (Debian package curl)",
            "fail\tWhole.test_two\tAssertionError: CI=true forbids skipping: "
            "needs curl (Debian package curl)",
        ])
        self.assertIn("checks: 1 passed, 3 failed, 0 skipped", output)

    def test_python_module_whose_checks_all_skip_exits_77(self):
        status, _, lines = run(self.module(ALL_SKIPPED), False, f"{self.dir}/c.tsv")
        self.assertEqual((status, lines),
                         (77, ["skip\tWhole.test_one\tneeds wrk (Debian package wrk)"]))

    def test_shell_checks_name_the_missing_tool_and_fail_under_ci(self):
        script = os.path.join(self.dir, "some_test.sh")
        with open(script, "w") as f:
            f.write(SHELL)
        status, output, lines = run(["bash", script], False, f"{self.dir}/s.tsv", cwd=ROOT)
        self.assertEqual((status, lines), (0, [
            "pass\ttrue runs\t",
            "skip\tfrob works\tno-such-tool-tcpq not found (Debian package frob)",
        ]))
        self.assertIn("some_test: 1 passed, 0 failed, 1 skipped", output)
        status, _, lines = run(["bash", script], True, f"{self.dir}/s.tsv", cwd=ROOT)
        self.assertEqual((status, lines), (1, [
            "pass\ttrue runs\t",
            "fail\tfrob works\tCI=true forbids skipping: no-such-tool-tcpq not found "
            "(Debian package frob)",
        ]))

    def summarize(self, ci, cases):
        """summarize_junit.py over one JUnit report of `cases`, with the
        checks file of integration.test_x."""
        os.makedirs(f"{self.dir}/checks")
        with open(f"{self.dir}/checks/integration.test_x.tsv", "w") as f:
            f.write("pass\tA.test_a\t\nskip\tA.test_b\tneeds wrk (Debian package wrk)\n")
        with open(f"{self.dir}/r.junit.xml", "w") as f:
            f.write(f"<testsuite>{cases}</testsuite>")
        env = dict(os.environ)
        env.pop("CI", None)
        if ci:
            env["CI"] = "true"
        p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "summarize_junit.py"),
                            "2", "0", f"{self.dir}/r.junit.xml"],
                           env=env, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout.splitlines()

    def test_summary_counts_checks_instead_of_their_module(self):
        status, lines = self.summarize(False, '<testcase name="integration.test_x" status="run"/>'
                                              '<testcase name="Unit.Test" status="run"/>')
        self.assertEqual((status, lines), (0, [
            "skipped: integration.test_x.A.test_b: needs wrk (Debian package wrk)",
            "summary: 4 passed, 0 failed, 1 skipped",
        ]))

    def test_summary_fails_a_skip_under_ci_and_a_module_that_failed_outside_its_checks(self):
        status, lines = self.summarize(True, '<testcase name="integration.test_x" status="fail">'
                                             '<failure message=""/></testcase>')
        self.assertEqual((status, lines), (1, [
            "failed: integration.test_x.A.test_b: CI=true forbids skipping: "
            "needs wrk (Debian package wrk)",
            "failed: integration.test_x: the test failed outside its checks (crash or timeout?)",
            "summary: 3 passed, 2 failed, 0 skipped",
        ]))


if __name__ == "__main__":
    main()

"""The pass/fail tally the Python test scripts beside this file share: one line per check on
stdout (PASS name, or FAIL name: detail), counted, so the script can exit 1 on any failure."""


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")

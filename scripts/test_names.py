"""Two checks that keep tests findable (a rough, text-level reading, like rs_cycles.py):
1. a test module under TESTS_DIR (tests/it) imports only from `support`: no `crate::X` with X
   other than `support`, and no `super::Y` naming a sibling test module;
2. no `fn` name under the given roots cites a tracker number (`r9_…`, `…_r13`, `issue_12`,
   `finding_7`, `review3`): a name says the behaviour; a comment may keep the reference.
usage: test_names.py TESTS_DIR ROOT...  -> prints each violation; exit 1 if any."""
import os
import re
import sys

TRACKER = re.compile(r"(?:^|_)(?:r|issue|finding|review)_?[0-9]+(?:_|$)", re.IGNORECASE)
FN = re.compile(r"\bfn\s+(\w+)")
CRATE = re.compile(r"\bcrate::(\w+)")
SUPER = re.compile(r"\bsuper::(\w+)")


def rust_files(root):
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def code_of(text):
    """The text without `//` comments (a reference in a comment is allowed)."""
    return re.sub(r"//[^\n]*", "", text)


def cross_imports(tests_dir):
    found = []
    support = os.path.join(tests_dir, "support")
    for path in rust_files(tests_dir):
        if path.startswith(support + os.sep):
            continue
        siblings = {f[:-3] for f in os.listdir(os.path.dirname(path)) if f.endswith(".rs")}
        siblings |= {d for d in os.listdir(os.path.dirname(path))
                     if os.path.isdir(os.path.join(os.path.dirname(path), d))}
        for n, line in enumerate(code_of(open(path).read()).splitlines(), 1):
            for m in CRATE.finditer(line):
                if m.group(1) != "support":
                    found.append(f"{path}:{n}: imports crate::{m.group(1)} (only crate::support is shared)")
            for m in SUPER.finditer(line):
                if m.group(1) in siblings - {"mod", "main"}:
                    found.append(f"{path}:{n}: imports super::{m.group(1)}, another test module")
    return found


def tracker_names(roots):
    found = []
    for root in roots:
        for path in rust_files(root):
            for n, line in enumerate(code_of(open(path).read()).splitlines(), 1):
                for m in FN.finditer(line):
                    if TRACKER.search(m.group(1)):
                        found.append(f"{path}:{n}: fn {m.group(1)} cites a tracker number; name the behaviour")
    return found


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    problems = cross_imports(sys.argv[1]) + tracker_names(sys.argv[2:])
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)

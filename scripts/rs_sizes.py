"""Source files over a size limit, counting the lines before a file's `#[cfg(test)]` tests.
usage: rs_sizes.py SRC_DIR [LIMIT=500]  -> prints each file over it; exit 1 if any."""
import os, sys

src = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 500
over = []
for root, _, files in os.walk(src):
    for f in files:
        if f.endswith(".rs"):
            path = os.path.join(root, f)
            code = open(path).read().split("\n#[cfg(test)]\nmod tests")[0]
            lines = code.count("\n") + 1
            if lines > limit:
                over.append((lines, path))
for lines, path in sorted(over, reverse=True):
    print(f"{path}: {lines} lines of non-test code (limit {limit})")
sys.exit(1 if over else 0)

#!/usr/bin/env python3
"""Where the bytes of a binary go, by crate: the sizes of its symbols (`nm -S -C`, so the binary
must not be stripped yet), summed by the crate each symbol belongs to.

    python3 benches/size/by_crate.py target/x86_64-unknown-linux-musl/release/cavra [TOP]

A generic function belongs to the first crate named in it that is not core, alloc or std (so
`core::ptr::drop_in_place::<cavra_server::X>` counts for cavra_server, where it was
instantiated). C symbols have no path: those of the C libraries linked in (aws-lc, SQLite,
tree-sitter, mimalloc) are recognised by their names; the rest (glibc, static helpers) are
`other`. Symbols cover code and named data only; `size -A` gives the sections.
"""

import collections
import re
import subprocess
import sys

CRATE = re.compile(r"(?:^|[<\s(&,\[*])([a-z_][a-z0-9_]*)::")
BASE = {"core", "alloc", "std"}
C_PREFIXES = [
    ("C: aws-lc", ("aws_lc", "Lp256", "Lp384", "Lp521", "p256_", "p384_", "p521_", "ecp_nistz",
                   "curve25519", "edwards25519", "mldsa", "chacha20_poly1305", "kObjects")),
    ("C: SQLite", ("sqlite3", "yy_")),
    ("C: tree-sitter", ("ts_", "tree_sitter")),
    ("C: mimalloc", ("mi_", "_mi_")),
]


def owner(name: str, kind: str) -> str:
    crates = CRATE.findall(name)
    if crates:
        return next((c for c in crates if c not in BASE), crates[0])
    if "aws_lc" in name:
        return "C: aws-lc"
    for label, prefixes in C_PREFIXES:
        if name.startswith(prefixes):
            return label
    if name.startswith("anon."):
        return "unnamed constants" if kind in "rR" else "unnamed"
    return "other (glibc, C statics)"


def main() -> None:
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    listing = subprocess.run(["nm", "-S", "--size-sort", "-C", path], capture_output=True,
                             text=True, check=True).stdout
    sizes: collections.Counter = collections.Counter()
    for line in listing.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        sizes[owner(parts[3], parts[2])] += int(parts[1], 16)
    total = sum(sizes.values())
    print(f"{total / 1e6:8.2f} MB  all symbols")
    for name, size in sizes.most_common(top):
        print(f"{size / 1e6:8.3f} MB  {name}")


if __name__ == "__main__":
    main()

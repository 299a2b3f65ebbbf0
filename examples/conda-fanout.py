#!/usr/bin/env python3
"""A conda-style environment fan-out: packages are unpacked once into a
package cache, then every environment gets its own copy of their files
(what `conda create --copy` and similar tools do, with shutil.copy2).
Run under reflink-shim, the copies of big enough files share their blocks
with the cache.

    examples/conda-fanout.py DIR [ENVS]     cache in DIR/pkgs, ENVS (3) envs
"""
import os
import random
import shutil
import sys


def make_cache(pkgs):
    """A few fake packages: shared libraries, data, small metadata."""
    rnd = random.Random(7)
    layout = {
        "libfoo-1.2": [("lib/libfoo.so.1", 3 << 20), ("include/foo.h", 9000),
                       ("info/index.json", 400)],
        "numbar-2.0": [("lib/python3/numbar/_core.so", 6 << 20),
                       ("lib/python3/numbar/__init__.py", 3000),
                       ("lib/python3/numbar/data/table.bin", 1 << 20)],
        "tools-0.9": [("bin/tool", 800 << 10), ("share/doc/tools/README", 2000)],
    }
    for pkg, files in layout.items():
        for rel, size in files:
            path = os.path.join(pkgs, pkg, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(rnd.randbytes(size))
    return layout


def create_env(pkgs, env, layout):
    for pkg, files in layout.items():
        for rel, _ in files:
            dst = os.path.join(env, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(pkgs, pkg, rel), dst)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    top = sys.argv[1]
    envs = int(sys.argv[2]) if len(sys.argv) == 3 else 3
    pkgs = os.path.join(top, "pkgs")
    shutil.rmtree(top, ignore_errors=True)
    layout = make_cache(pkgs)
    for i in range(1, envs + 1):
        create_env(pkgs, os.path.join(top, "envs", "env%d" % i), layout)
    print("created %d environments from %d packages in %s" % (envs, len(layout), top))


if __name__ == "__main__":
    main()

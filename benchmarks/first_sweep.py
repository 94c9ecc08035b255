"""What the first sweep costs: numba compiling the kernels, or loading them.

EM runs in kernels compiled by numba (``napari_gmm.core.kernels``,
``compiled_loop``), cached on disk. Each phase below runs in a new Python
process, with ``NUMBA_CACHE_DIR`` set to a new temporary folder shared by
the phases, and prints the wall-clock time of:

1. **empty cache**: ``import napari_gmm``, then the default
   ``sweep(X, n_components=range(1, 10))`` of scikit-learn's iris (150 x 4)
   twice (the first compiles), then of iris' petal length alone (one
   feature: its starts have compiled code of their own) twice;
2. **cache filled** (a new process, as a user's next session): the same.

The ratio line is the first sweep of iris in phase 2 over the second sweep
in the same process (> 1: what loading the cached kernels adds).

Run: ``python benchmarks/first_sweep.py`` (about a minute: the compile),
``--quick`` (K = 1..3, numba's default cache instead of a new one, phase 2
only, after a first process that fills it if needed: seconds once
compiled).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from _common import load_line, print_header

#: What each process runs: prints one JSON line of timings.
CHILD = """
import json, time
start = time.perf_counter()
import napari_gmm
from sklearn.datasets import load_iris
times = {"import": time.perf_counter() - start}
iris = load_iris().data
for name, X in (("iris", iris), ("petal_length", iris[:, 2:3])):
    for attempt in ("first", "second"):
        start = time.perf_counter()
        napari_gmm.sweep(X, n_components=range(1, KMAX + 1))
        times[f"{name} {attempt}"] = time.perf_counter() - start
print(json.dumps(times))
"""


def run_phase(cache: str | None, k_max: int) -> dict:
    """Timings of a new process; ``cache``: its NUMBA_CACHE_DIR (None:
    numba's default, next to the installed sources)."""
    env = dict(os.environ)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = cache
    done = subprocess.run(
        [sys.executable, "-c", CHILD.replace("KMAX", str(k_max))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_phase(title: str, times: dict) -> None:
    print(f"{title}:")
    for key, value in times.items():
        print(f"  {key:22s} {value:7.2f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="cache-filled phase only, K = 1..3"
    )
    args = parser.parse_args(argv)
    print_header("first_sweep: compiling or loading the kernels")
    k_max = 3 if args.quick else 9
    print(f"sweeps: K = 1..{k_max} x 4 covariance types, defaults\n")
    if args.quick:
        # numba's own cache (filled by earlier runs, else by this one's
        # first sweep): seconds once compiled
        run_phase(None, k_max)
        filled = run_phase(None, k_max)
        print_phase("numba's default cache, filled (a new process)", filled)
    else:
        with tempfile.TemporaryDirectory() as cache:
            empty = run_phase(cache, k_max)
            print_phase("empty numba cache (new process)", empty)
            filled = run_phase(cache, k_max)
            print_phase("cache filled (another new process)", filled)
    ratio = filled["iris first"] / filled["iris second"]
    print(load_line("at the end"))
    print(
        f"RATIO first_sweep: first / second sweep of iris in a new process with "
        f"the cache filled {ratio:.2f}x ({filled['iris first']:.2f} s vs "
        f"{filled['iris second']:.2f} s; import {filled['import']:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

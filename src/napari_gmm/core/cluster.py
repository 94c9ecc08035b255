"""Sweeps on a dask.distributed cluster (optional dependency).

``sweep(X, client=...)`` sends every candidate to the cluster's workers and
collects the fits in sweep order, so the result is the same as a local
sweep. ``client`` is a ``distributed.Client`` or a scheduler address
(``"tcp://host:8786"``); without it nothing here is imported, and napari-gmm
works without dask.distributed installed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator


def _connect(client):
    """A Client for ``client`` (returned as is) or for an address (opened)."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Sweeping on a cluster needs dask.distributed: "
            "pip install 'napari-gmm[distributed]'."
        ) from None
    if isinstance(client, Client):
        return client, False
    if isinstance(client, str):
        return Client(client), True
    raise TypeError(
        f"client must be a distributed.Client or a scheduler address, got {client!r}."
    )


def run_on_cluster(plan, client, fit_candidate: Callable) -> Generator:
    """Yield the fitted candidates of ``plan`` computed on the cluster, in order.

    Cancel is checked between results on this side; a cancelled sweep
    cancels the futures that have not finished.
    """
    client, owned = _connect(client)
    # workers cannot call back into this process: they get a plan without
    # the cancel callback, one candidate each
    remote_plan = dataclasses.replace(plan, cancel=None, n_jobs=1, client=None)
    futures = []
    try:
        [shared] = client.scatter([remote_plan], broadcast=True)
        futures = [
            client.submit(fit_candidate, shared, index, pure=False)
            for index in range(len(plan.candidates))
        ]
        for future in futures:
            plan.check_cancel()
            yield future.result()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        if owned:
            client.close()

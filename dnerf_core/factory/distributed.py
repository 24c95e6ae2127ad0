"""The Ray executor: one Ray task per shard, on a local Ray instance or a cluster.

`ray` is an optional extra (pip install 'dnerf[ray]'), imported only here and only when used.
Each task writes its shard exactly as a local worker does (write_shard: a .partial folder renamed
when complete), so the bytes do not depend on the executor, and a task whose worker dies is
retried by Ray from scratch; a run whose driver dies leaves torn .partial folders that the next
run deletes and redoes.

On a cluster, --out must be a folder every node sees at the same path (NFS, a shared volume) and
every node needs the same dnerf installed; tasks load the generator from its spec themselves.
"""
from __future__ import annotations

import logging
from typing import Callable

from ..errors import require
from .dataset_plan import DatasetPlan, Shard
from .dataset_shards import ShardResult, write_shard

# A local Ray instance gets this many CPUs (the test machine has 2); on a cluster
# (--ray-address) Ray uses what the cluster has.
LOCAL_RAY_CPUS = 2
# A task whose worker process dies (OOM killer, preempted node) is re-run this many times.
TASK_RETRIES = 3

_GENERATORS: dict = {}


def _shard_task(plan: DatasetPlan, shard: Shard) -> ShardResult:
    """Runs in a Ray worker: the generator is loaded once per worker process and reused."""
    from .dataset_adapter import load_dataset_generator

    key = (plan.config.generator, plan.config.semantic, plan.config.device)
    if key not in _GENERATORS:
        _GENERATORS[key] = load_dataset_generator(*key)
    return write_shard(_GENERATORS[key], plan, shard)


def run_ray(plan: DatasetPlan, shards: list[Shard], address: str | None,
            on_views: Callable[[int], None], on_shard: Callable[[ShardResult], None]) -> None:
    ray = require("ray", "ray")
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=LOCAL_RAY_CPUS, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        started_here = True
    try:
        task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(_shard_task)
        plan_ref = ray.put(plan)
        pending = {task.remote(plan_ref, shard): shard for shard in shards}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                shard = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    # the task's own exception (a DnerfError: bad data, full disk) ends the run as it would locally
                    cause = exc.as_instanceof_cause()
                    raise (cause.cause if getattr(cause, "cause", None) is not None else cause) from None
                on_views(shard.count * plan.n_views)
                on_shard(result)
    except BaseException:
        for ref in list(locals().get("pending", {})):
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()

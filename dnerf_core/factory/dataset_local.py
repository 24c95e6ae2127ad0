"""The local executor: shards written in this process (1 worker) or by W spawned worker processes.

Each worker loads the generator once and writes whole shards with one torch thread; view counts
come back through a queue so the one progress bar moves view by view. Spawned (not forked)
workers: a fork of a process that already ran torch threads can deadlock.
"""
from __future__ import annotations

import queue as queue_module
from typing import Callable

from .dataset_plan import DatasetPlan, Shard
from .dataset_shards import ShardResult, write_shard

_WORKER: dict = {}


def _init_worker(spec: str, semantic: str | None, views_queue) -> None:
    import torch

    from .dataset_adapter import load_dataset_generator

    torch.set_num_threads(1)
    _WORKER["generator"] = load_dataset_generator(spec, semantic)
    _WORKER["queue"] = views_queue


def _worker_shard(plan: DatasetPlan, shard: Shard) -> ShardResult:
    q = _WORKER["queue"]
    return write_shard(_WORKER["generator"], plan, shard, on_views=q.put)


def run_local(plan: DatasetPlan, shards: list[Shard], workers: int, generator,
              on_views: Callable[[int], None], on_shard: Callable[[ShardResult], None]) -> None:
    """Write `shards`; `generator` (already loaded here) is used when the work stays in-process."""
    workers = min(workers, len(shards))
    if workers <= 1:
        for shard in shards:
            on_shard(write_shard(generator, plan, shard, on_views=on_views))
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    views_queue = ctx.Queue()
    pool = ctx.Pool(workers, initializer=_init_worker,
                    initargs=(plan.config.generator, plan.config.semantic, views_queue))
    try:
        pending = [pool.apply_async(_worker_shard, (plan, shard)) for shard in shards]
        while pending:
            try:
                on_views(views_queue.get(timeout=0.2))
            except queue_module.Empty:
                pass
            for job in [j for j in pending if j.ready()]:
                pending.remove(job)
                on_shard(job.get())  # re-raises a worker's error here
        while True:  # counts still in flight after the last shard finished
            try:
                on_views(views_queue.get_nowait())
            except queue_module.Empty:
                break
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()

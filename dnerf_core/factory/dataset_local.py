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


def _init_worker(spec: str, semantic: str | None, device: str, views_queue) -> None:
    import torch

    from .dataset_adapter import load_dataset_generator

    torch.set_num_threads(1)
    _WORKER["generator"] = load_dataset_generator(spec, semantic, device)
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
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from ..errors import DnerfError

    ctx = mp.get_context("spawn")
    views_queue = ctx.Queue()
    # ProcessPoolExecutor, not multiprocessing.Pool: when a worker dies (OOM killer, SIGKILL) the
    # pool breaks and says so, where a Pool would wait forever for the lost shard.
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(plan.config.generator, plan.config.semantic, plan.config.device,
                                         views_queue))

    def drain() -> None:
        while True:
            try:
                on_views(views_queue.get_nowait())
            except queue_module.Empty:
                return

    try:
        pending = {pool.submit(_worker_shard, plan, shard): shard for shard in shards}
        while pending:
            done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            for job in done:
                shard = pending.pop(job)
                try:
                    on_shard(job.result())  # re-raises a worker's error here
                except BrokenProcessPool:
                    raise DnerfError(f"a worker process died while writing shard {shard.name}; "
                                     "run the same command again to resume") from None
        drain()  # counts still in flight after the last shard finished
    except BaseException:
        for job in pending:
            job.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)

"""The modal path's engine: ModalRunner ticks a real job to the same result as run_sync, keeps
torch work off the calling thread, stops on cancel and hands errors back (Blender's timers do not
run under the bpy module, so the ticks are driven here the way the modal operator drives them)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from blender_addon import jobs, subject
from blender_addon.jobs import Cancelled, ModalRunner, Offload, Progress, run_sync

pytestmark = pytest.mark.e2e

TICK_S = 0.01
TIMEOUT_S = 120


def _drive(runner: ModalRunner, on_tick=None) -> int:
    ticks, start = 0, time.monotonic()
    while not runner.tick():
        ticks += 1
        if on_tick is not None:
            on_tick(ticks)
        assert time.monotonic() - start < TIMEOUT_S, "job never finished"
        time.sleep(TICK_S)
    return ticks


@pytest.mark.slow
def test_modal_runner_builds_the_same_subject_as_run_sync(scene):
    req = subject.SubjectRequest("procedural:face", seed=2, representation="POINTCLOUD", views=3, resolution=32)
    sync_ob = subject.generate_subject(req)
    runner = ModalRunner(subject.generate_subject_job(req))
    fractions = []
    ticks = _drive(runner, lambda _: fractions.append(runner.fraction))
    assert runner.error is None and not runner.cancelled
    modal_ob = runner.result
    assert modal_ob is not sync_ob and modal_ob.type == "POINTCLOUD"
    np.testing.assert_array_equal(subject.part_values(modal_ob), subject.part_values(sync_ob))
    assert ticks >= 2  # the offloaded work took more than one tick: the caller was not blocked
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0


def _slow_job(log: list, step_s: float = 0.05, steps: int = 200):
    """A job with a cleanup, whose offloaded work reports progress between slow steps."""
    def work(report):
        for i in range(steps):
            time.sleep(step_s)
            log.append(("worked", i, threading.current_thread().name))
            report(i / steps, f"step {i}")
        return "finished"

    try:
        yield Progress(0.0, "start")
        result = yield Offload(work, 0.0, 1.0, "slow")
        return result
    finally:
        log.append(("cleanup",))


def test_cancel_stops_offloaded_work_and_cleans_up():
    log: list = []
    runner = ModalRunner(_slow_job(log))
    _drive(runner, lambda ticks: runner.cancel() if ticks == 20 else None)
    assert runner.cancelled and runner.result is None and runner.error is None
    assert log[-1] == ("cleanup",)
    worked = [e for e in log if e[0] == "worked"]
    assert 0 < len(worked) < 50  # stopped at a report soon after Esc, long before the 200 steps
    assert all(name == "dnerf-job" for _, _, name in worked)  # the work ran in the worker thread


def test_errors_come_back_as_runner_error_and_through_run_sync():
    def failing():
        yield Progress(0.1, "about to fail")
        yield Offload(lambda report: 1 / 0)

    runner = ModalRunner(failing())
    _drive(runner)
    assert isinstance(runner.error, ZeroDivisionError) and not runner.cancelled
    with pytest.raises(ZeroDivisionError):
        run_sync(failing())


def test_run_sync_reports_progress_in_order():
    seen = []
    log: list = []
    assert run_sync(_slow_job(log, step_s=0.0, steps=5), lambda f, m: seen.append((round(f, 2), m))) == "finished"
    assert seen[0] == (0.0, "start") and [m for _, m in seen[1:]] == [f"step {i}" for i in range(5)]
    assert log[-1] == ("cleanup",)


def test_cancelled_exception_inside_sync_run_propagates():
    def job():
        yield Offload(lambda report: (_ for _ in ()).throw(Cancelled("user")))

    with pytest.raises(Cancelled):
        jobs.run_sync(job())

"""Long work as step generators, run either to the end at once or a step per UI timer tick.

A job is a Python generator. It yields
- Progress(fraction, message): a point where the UI may refresh and the user may cancel;
- Offload(fn): pure computation (dnerf_core, never bpy) that may run in a worker thread; the
  runner sends fn's return value back into the generator (or throws fn's exception into it).
  fn receives a `report(fraction, message)` callback; the callback raises Cancelled once the user
  has cancelled, so long dnerf_core loops that report progress stop at their next report.
The generator's return value is the job's result.

Why: under the bpy module, modal operators and timers never run, so tests and scripts need the
same work as one blocking call (run_sync). In the Blender UI, bpy data may only be touched from
the main thread, so the bpy parts of a job stay in the generator (run on timer ticks in the main
thread) and only the heavy torch work goes to the thread (ModalRunner). This module imports no bpy.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generator

ReportFn = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised inside a job (or its offloaded work) when the user cancelled it."""


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1 of the whole job
    message: str


@dataclass(frozen=True)
class Offload:
    fn: Callable[[ReportFn], Any]
    # The slice of the job's 0..1 progress this work covers: its own 0..1 reports map into it.
    start: float = 0.0
    end: float = 0.0
    message: str = ""


Job = Generator[Any, Any, Any]


def run_sync(job: Job, on_progress: ReportFn | None = None) -> Any:
    """Run a job to the end in the calling thread; returns its result, raises its errors."""
    value, error = None, None
    while True:
        try:
            item = job.throw(error) if error is not None else job.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        if isinstance(item, Progress):
            if on_progress is not None:
                on_progress(item.fraction, item.message)
        elif isinstance(item, Offload):
            def report(frac: float, msg: str = "", item=item) -> None:
                if on_progress is not None:
                    on_progress(item.start + (item.end - item.start) * frac, msg or item.message)
            try:
                value = item.fn(report)
            except Exception as exc:  # handed to the job, which may clean up and re-raise
                error = exc
        else:
            job.close()
            raise TypeError(f"a job yielded {item!r}; expected Progress or Offload")


class ModalRunner:
    """Drives a job from a modal operator: call tick() on every timer event, cancel() on Esc.

    tick() never blocks on offloaded work: it starts the worker thread and returns, and picks up
    the result on a later tick. State: `done`, `result`, `error` (an exception), `cancelled`,
    `fraction`, `message`.
    """

    def __init__(self, job: Job):
        self._job = job
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._outcome: tuple[Any, BaseException | None] | None = None
        self._send: tuple[Any, BaseException | None] = (None, None)
        self.done = False
        self.cancelled = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.fraction = 0.0
        self.message = ""

    # --- called from the worker thread --------------------------------------------------------
    def _report(self, item: Offload, frac: float, msg: str = "") -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled")
        self.fraction = item.start + (item.end - item.start) * max(0.0, min(1.0, frac))
        self.message = msg or item.message

    def _work(self, item: Offload) -> None:
        try:
            self._outcome = (item.fn(lambda f, m="": self._report(item, f, m)), None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the main thread
            self._outcome = (None, exc)

    # --- called from the main thread -----------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; it stops at its next step (an offloaded call at its next report)."""
        self._cancel.set()

    def _finish(self, result=None, error: BaseException | None = None, cancelled: bool = False) -> None:
        self.done, self.result, self.error, self.cancelled = True, result, error, cancelled

    def tick(self) -> bool:
        """Advance the job by one step (or check on its worker). Returns True when it is done."""
        if self.done:
            return True
        if self._thread is not None:
            if self._thread.is_alive():
                return False
            self._thread = None
            value, exc = self._outcome
            self._outcome = None
            self._send = (value, exc)
        if self._cancel.is_set():
            self._job.close()  # runs the job's cleanup (finally blocks)
            self._finish(cancelled=True)
            return True
        value, exc = self._send
        self._send = (None, None)
        try:
            item = self._job.throw(exc) if exc is not None else self._job.send(value)
        except StopIteration as stop:
            self._finish(result=stop.value)
            return True
        except Cancelled:
            self._finish(cancelled=True)
            return True
        except Exception as err:  # noqa: BLE001 - shown to the user as a report by the operator
            self._finish(error=err)
            return True
        if isinstance(item, Progress):
            self.fraction, self.message = item.fraction, item.message
        elif isinstance(item, Offload):
            self.fraction, self.message = item.start, item.message
            self._thread = threading.Thread(target=self._work, args=(item,), daemon=True, name="dnerf-job")
            self._thread.start()
        else:
            self._job.close()
            self._finish(error=TypeError(f"a job yielded {item!r}; expected Progress or Offload"))
            return True
        return False

    @property
    def busy(self) -> bool:
        """True while offloaded work is running in the worker thread."""
        return self._thread is not None and self._thread.is_alive()

"""Peak-memory sampling shared by every benchmark that reports memory."""

from __future__ import annotations

import contextlib
import threading

import psutil


class PeakRSS:
    """Samples the RSS of a process plus its descendants (Dask workers, a child ``parkmatch
    train``) every ``interval`` seconds; ``peak`` is the largest total seen, in bytes."""

    def __init__(self, pid: int | None = None, interval: float = 0.2) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0
        with contextlib.suppress(psutil.Error):
            total = self.proc.memory_info().rss
            for ch in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += ch.memory_info().rss
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakRSS:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

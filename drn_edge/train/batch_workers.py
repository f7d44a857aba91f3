"""Training batches rendered by worker processes ahead of the step (drn-train --data-workers N).

Why: the rain is drawn on the fly in numpy and OpenCV, on one core: 32 crops of 192 px take about 1.6 s, while a GPU
takes a few tens of milliseconds for the step itself, so without workers a GPU waits for the CPU nearly all the time.
Each batch is made from its own generator, seeded by (run seed, step): the batches of a run do not depend on how many
workers made them or on where the run was resumed. The workers are forked from the training process after the frames
are read, so they share its decoded frames; they run numpy and OpenCV only, never torch.
"""
from __future__ import annotations

import collections
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import cv2
import numpy as np

from drn_edge.errors import DataError

__all__ = ["BatchWorkers", "batch_for_step"]

_SAMPLER = None  # the forked workers' sampler (inherited from the training process, not pickled)


def batch_for_step(sampler, n: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The batch of one step, from a generator of its own: the same (seed, step) always gives the same batch."""
    sampler.rng = np.random.default_rng([seed, step])
    return sampler.batch(n)


def _worker_batch(n: int, seed: int, step: int):
    return batch_for_step(_SAMPLER, n, seed, step)


class BatchWorkers:
    """`workers` processes keep the next 2 x `workers` batches ready, in step order; `next()` returns the batch of the
    next step."""

    def __init__(self, sampler, n: int, workers: int, seed: int, start: int):
        global _SAMPLER
        _SAMPLER = sampler
        self.n, self.seed, self.step = n, seed, start
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        self.pending: collections.deque = collections.deque()
        # The workers are the parallelism: each is forked with OpenCV on one thread (cv2.setNumThreads inside a
        # forked child hangs), and the training process gets its own setting back once they exist.
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for _ in range(2 * workers):  # a fork context starts every worker at the first submit
                self._submit()
        finally:
            cv2.setNumThreads(threads)

    def _submit(self) -> None:
        step = self.step + len(self.pending)  # the pending batches are those of steps self.step, self.step + 1, ...
        self.pending.append(self.pool.submit(_worker_batch, self.n, self.seed, step))

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        future = self.pending.popleft()
        self.step += 1
        self._submit()
        try:
            return future.result()
        except BrokenProcessPool as exc:  # a worker was killed (out of memory, most often)
            raise DataError(f"a --data-workers process died while rendering a batch ({exc}); run with fewer "
                            "workers (each holds its own copy of the decoded frames it touches) or with "
                            "--data-workers 0") from exc

    def close(self) -> None:
        for future in self.pending:
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from drn_edge.errors import DataError
from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
from drn_edge.train.batch_workers import BatchWorkers, batch_for_step
from drn_edge.train.loop import TrainConfig, build_sampler, train
from tests.conftest import REPO


def test_workers_give_each_step_the_batch_its_seed_and_step_make_in_step_order():
    # Real rain drawn by forked workers: the batches are those drawn in-process for the same (seed, step), whatever
    # the number of workers, so a run's data does not depend on --data-workers or on where it was resumed.
    cfg = TrainConfig(crop=32)
    expected = [batch_for_step(build_sampler(cfg, seed=0), 3, 5, step) for step in (10, 11, 12, 13)]
    assert not np.array_equal(expected[0][0], expected[1][0])  # each step its own batch
    for n_workers in (1, 3):
        workers = BatchWorkers(build_sampler(cfg, seed=0), 3, n_workers, seed=5, start=10)
        try:
            got = [workers.next() for _ in range(4)]
        finally:
            workers.close()
        for (rainy, clean), (want_rainy, want_clean) in zip(got, expected):
            assert rainy.shape == (3, 3, 32, 32) and rainy.dtype == np.float32
            np.testing.assert_array_equal(rainy, want_rainy)
            np.testing.assert_array_equal(clean, want_clean)


class _DyingSampler:
    rng = None

    def batch(self, n):
        os._exit(3)  # what the kernel's out-of-memory killer does to a worker


def test_a_worker_that_dies_is_a_clear_error_not_a_hang():
    workers = BatchWorkers(_DyingSampler(), 2, 1, seed=0, start=0)
    try:
        with pytest.raises(DataError, match="--data-workers process died.*fewer"):
            workers.next()
    finally:
        workers.close()


def _tiny_run(out, **kw):
    cfg = TrainConfig(**{"out": str(out), "model": "drn_tiny", "steps": 4, "batch": 2, "crop": 32, "val_every": 4,
                         "save_every": 2, "warmup": 1, **kw})
    torch.set_num_threads(1)  # the same threads in every run: bit-identical steps
    return load_checkpoint(train(cfg, progress=False))[0]


def test_training_with_workers_depends_neither_on_their_number_nor_on_a_resume(tmp_path):
    from drn_edge.model.drn import drn_tiny

    start = tmp_path / "start.safetensors"
    save_checkpoint(drn_tiny(), start)  # every run starts from the same weights
    one = _tiny_run(tmp_path / "one", data_workers=1, init=str(start))
    two = _tiny_run(tmp_path / "two", data_workers=2, init=str(start))
    _tiny_run(tmp_path / "resumed", data_workers=2, init=str(start), steps=2)
    resumed = _tiny_run(tmp_path / "resumed", data_workers=2, resume=True)
    assert not torch.equal(one.head.weight, load_checkpoint(start)[0].head.weight)  # it trained
    for a, b, c in zip(one.state_dict().values(), two.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_cli_rejects_negative_data_workers(tmp_path):
    res = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", "--out", str(tmp_path / "r"), "--data-workers",
                          "-1"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode != 0 and "--data-workers" in res.stderr and "Traceback" not in res.stderr

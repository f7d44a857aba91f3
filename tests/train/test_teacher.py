"""drn-train --teacher: the student is pulled towards a frozen model's output (real drn_tiny models, real steps)."""
import subprocess
import sys

import pytest
import torch

from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
from drn_edge.model.drn import drn_tiny
from drn_edge.train.loop import TrainConfig, build_sampler, train
from drn_edge.train.speed import choose_step_plan
from drn_edge.train.teacher import TEACHER_SHARE, Teacher


@pytest.fixture
def teacher_file(tmp_path):
    torch.manual_seed(7)
    return save_checkpoint(drn_tiny(), tmp_path / "teacher.safetensors")


def _batch():
    return [torch.from_numpy(a) for a in build_sampler(TrainConfig(crop=32), seed=3).batch(4)]


def test_a_student_equal_to_its_teacher_pays_only_the_task_share(teacher_file):
    teacher = Teacher(str(teacher_file), choose_step_plan("fp32", False, torch.device("cpu")), torch.device("cpu"))
    rainy, _ = _batch()
    same = teacher.net(rainy).detach()
    assert teacher.blend(torch.tensor(0.3), rainy, same).item() == pytest.approx((1 - TEACHER_SHARE) * 0.3)
    assert teacher.blend(torch.tensor(0.3), rainy, same + 0.1).item() == pytest.approx(
        (1 - TEACHER_SHARE) * 0.3 + TEACHER_SHARE * 0.1, rel=1e-4)
    assert not any(p.requires_grad for p in teacher.net.parameters())  # frozen: the optimizer never moves it


def test_steps_with_a_teacher_bring_the_student_to_its_output(teacher_file):
    """A random teacher's output is nothing the clean targets teach: only the teacher's share can pull towards it."""
    plan = choose_step_plan("fp32", False, torch.device("cpu"))
    teacher = Teacher(str(teacher_file), plan, torch.device("cpu"))
    rainy, clean = _batch()
    distances = {}
    for with_teacher in (False, True):
        torch.manual_seed(0)
        student = drn_tiny()
        opt = torch.optim.Adam(student.parameters(), lr=3e-3)
        for _ in range(40):
            out = student(rainy)
            loss = torch.nn.functional.l1_loss(out, clean)
            loss = teacher.blend(loss, rainy, out) if with_teacher else loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        distances[with_teacher] = (student(rainy) - teacher.net(rainy)).abs().mean().item()
    assert distances[True] < 0.7 * distances[False]


def test_a_run_with_a_teacher_trains_and_records_it(teacher_file, tmp_path, capsys):
    cfg = TrainConfig(out=str(tmp_path / "run"), model="drn_tiny", steps=2, batch=2, crop=32, val_every=2,
                      save_every=2, warmup=1, teacher=str(teacher_file), precision="fp32")
    train(cfg, progress=False)
    assert "distillation: 50 % of the loss" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run" / "last.safetensors")[1]["train_config"]["teacher"] == str(teacher_file)


def test_a_missing_teacher_is_one_error_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", "--model", "drn_tiny", "--teacher",
                        str(tmp_path / "nope.safetensors"), "--out", str(out), "--steps", "1", "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "nope.safetensors" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_the_teacher_is_never_an_output(tmp_path):
    """A teacher at OUT/last.safetensors would be replaced by the run's first checkpoint: refused before any work."""
    torch.manual_seed(7)
    teacher = save_checkpoint(drn_tiny(), tmp_path / "last.safetensors")
    before = teacher.read_bytes()
    r = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", "--model", "drn_tiny", "--teacher", str(teacher),
                        "--out", str(tmp_path), "--overwrite", "--steps", "1", "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "is an input of this run" in r.stderr and teacher.read_bytes() == before

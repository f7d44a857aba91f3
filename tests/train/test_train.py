import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from drn_edge.evaluation.fidelity import balanced_score
from drn_edge.model.checkpoint import load_checkpoint
from drn_edge.train.loop import TrainConfig, train
from tests.conftest import REPO


def test_training_reduces_loss_on_a_fixed_batch():
    # Real optimizer steps on the real model and data pipeline: overfitting one batch must work.
    from drn_edge.model.drn import drn_tiny
    from drn_edge.train.loop import build_sampler

    torch.manual_seed(0)
    model = drn_tiny()
    rainy, clean = (torch.from_numpy(a) for a in build_sampler(TrainConfig(crop=32), seed=3).batch(4))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = torch.nn.functional.l1_loss(model(rainy), clean)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first


def test_train_writes_checkpoint_and_resumes(tmp_path):
    cfg = TrainConfig(out=str(tmp_path), model="drn_tiny", steps=4, batch=2, crop=32, val_every=4, save_every=2, warmup=2,
                      keep_every=3)
    path = train(cfg, progress=False)
    model, info, extra = load_checkpoint(path)
    assert info["step"] == 4 and any(k.startswith("optim.") for k in extra)
    last = info["history"][-1]
    assert last["step"] == 4 and set(last["gains"]) == {f"photos 320px {lvl}" for lvl in ("low", "medium", "high")}
    assert last["score"] == pytest.approx(balanced_score(last["gains"]))
    assert (tmp_path / "best.safetensors").is_file()  # the first validation is the best so far
    assert (tmp_path / "log.csv").read_text().splitlines()[0].startswith("step,loss,lr,score,gain photos")
    cfg2 = TrainConfig(**{**cfg.__dict__, "steps": 6, "resume": True})
    path2 = train(cfg2, progress=False)
    model2, info2, _ = load_checkpoint(path2)
    assert info2["step"] == 6
    assert not torch.equal(model.head.weight, model2.head.weight)  # it trained further, from the saved state
    # --keep-every 3: steps 3 and 6 kept as weights only (the copies that are averaged), and nothing else
    assert sorted(p.name for p in tmp_path.glob("step*.safetensors")) == ["step3.safetensors", "step6.safetensors"]
    kept, kept_info, kept_extra = load_checkpoint(tmp_path / "step6.safetensors")
    assert kept_info["step"] == 6 and not kept_extra and torch.equal(kept.head.weight, model2.head.weight)


def test_a_negative_keep_every_is_refused_naming_the_flag():
    from drn_edge.errors import DrnEdgeError

    with pytest.raises(DrnEdgeError, match="--keep-every must be a whole number >= 0, got -1"):
        TrainConfig(keep_every=-1)


def test_resuming_a_finished_run_says_it_is_complete_and_leaves_it(tmp_path, capsys):
    cfg = TrainConfig(out=str(tmp_path), model="drn_tiny", steps=2, batch=2, crop=32, val_every=2, save_every=2, warmup=1)
    path = train(cfg, progress=False)
    before = path.read_bytes()
    capsys.readouterr()
    assert train(TrainConfig(**{**cfg.__dict__, "resume": True}), progress=False) == path
    assert "already at step 2 of --steps 2: the run is complete" in capsys.readouterr().out
    assert path.read_bytes() == before


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--resume" in out.stdout


def test_cli_rejects_bad_crop(tmp_path):
    out = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", "--crop", "30", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "multiple of 8" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("flag", ["--rain-weight", "--darken-weight"])
@pytest.mark.parametrize("value", ["0.5", "60", "nan"])
def test_cli_rejects_bad_loss_weights(tmp_path, flag, value):
    out = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", flag, value, "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and flag in out.stderr and "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # a free port: a fixed one collides when two test runs share the machine
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           "-m", "drn_edge.cli.train", "--out", str(tmp_path), "--model", "drn_tiny", "--steps", "3", "--batch", "2",
           "--crop", "32", "--val-every", "3", "--save-every", "3", "--no-progress", "--threads", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    _, info, _ = load_checkpoint(tmp_path / "last.safetensors")
    assert info["world_size"] == 2 and info["step"] == 3


def test_gpu_training_script_runs_for_fixed_minutes_and_resumes(tmp_path):
    # The script a GPU machine runs; here on CPU, stopped by --minutes after its first step.
    script = REPO / "benchmarks" / "train_gpu.sh"
    args = ["bash", str(script), "0.001", str(tmp_path / "gpu"), "--batch", "2", "--crop", "32", "--val-every", "1",
            "--threads", "1", "--no-progress"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "stopped after 0.001 minutes at step 1" in res.stdout
    model, info, _ = load_checkpoint(tmp_path / "gpu" / "last.safetensors")
    assert info["step"] == 1 and model.cfg.bottleneck.dilation == (2, 4, 8)
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    # Resumed from step 1 and stopped by the clock: after the first step, or later when a step takes under the
    # 0.06 s budget (an idle machine does the resumed run's steps that fast: it has no starting validation).
    step = load_checkpoint(tmp_path / "gpu" / "last.safetensors")[1]["step"]
    assert res.returncode == 0 and step >= 2 and f"stopped after 0.001 minutes at step {step}" in res.stdout


def test_val_real_logs_the_change_on_real_frames_beside_the_score(tmp_path):
    import csv

    import cv2
    import numpy as np

    real = tmp_path / "real"
    real.mkdir()
    for i in range(3):
        cv2.imwrite(str(real / f"{i}.png"), np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    cfg = TrainConfig(out=str(tmp_path / "run"), model="drn_tiny", steps=2, batch=2, crop=32, val_every=2, save_every=2,
                      warmup=1, val_real=str(real), loss="mse")
    info = load_checkpoint(train(cfg, progress=False))[1]
    assert info["train_config"]["loss"] == "mse"  # real steps under the squared error, recorded with the run
    last = info["history"][-1]
    assert last["real_change"] >= 0 and last["score"] == pytest.approx(balanced_score(last["gains"]))  # not scored
    with open(tmp_path / "run" / "log.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == "real rain change" and all(len(r) == len(rows[0]) for r in rows)
    assert float(rows[-1][-1]) == pytest.approx(last["real_change"], abs=1e-3)


def test_rain_pixels_weigh_more_in_the_loss():
    from drn_edge.train import losses

    clean = torch.full((1, 3, 8, 8), 0.5)
    rainy = clean.clone()
    rainy[..., :2, :] += 0.2  # rain on the top two rows
    assert losses.pixel_weights(rainy, clean, 1.0) is None  # 1: every pixel the same
    pixels = losses.pixel_weights(rainy, clean, 4.0)
    assert pixels.shape == (1, 1, 8, 8) and float(pixels[..., :2, :].min()) == 4.0 and float(pixels[..., 2:, :].max()) == 1.0
    left_rain, damaged_scene = rainy.clone(), clean.clone()
    damaged_scene[..., 2:4, :] += 0.2  # the same amount of error, on scene pixels
    assert losses.weighted_loss(left_rain, clean, None, pixels) > 2 * losses.weighted_loss(damaged_scene, clean, None, pixels)
    assert torch.isclose(losses.weighted_loss(left_rain, clean, None, None), losses.weighted_loss(damaged_scene, clean, None, None))


def test_darkening_counts_as_much_as_leaving_rain_with_the_counterweight():
    from drn_edge.train import losses

    clean = torch.full((1, 3, 8, 8), 0.5)
    rainy = clean.clone()
    rainy[..., :2, :] += 0.2  # rain on the top two rows
    darkened = clean.clone()
    darkened[..., 4:, :] -= 0.1  # the scene under no rain made darker
    assert losses.pixel_weights(clean, clean, 1.0, darkened, 1.0) is None
    plain = losses.pixel_weights(rainy, clean, 4.0, darkened)  # no counterweight: the darkened scene counts 1
    assert float(plain[..., 4:, :].max()) == 1.0
    weights = losses.pixel_weights(rainy, clean, 4.0, darkened, 4.0)
    assert float(weights[..., 4:, :].min()) == 4.0 and float(weights[..., 2:4, :].max()) == 1.0
    assert float(weights[..., :2, :].min()) == 4.0  # rain pixels keep their weight
    brighter = clean + 0.1  # the same error upward is not darkening
    assert float(losses.pixel_weights(rainy, clean, 4.0, brighter, 4.0)[..., 2:, :].max()) == 1.0


def test_mse_loss_takes_part_of_a_streak_the_model_is_unsure_of_where_l1_leaves_it_whole():
    from drn_edge.train import losses

    # The same faint streak pixel is rain in 2 examples of 5 and scene in 3: the best single output under L1 is the
    # median (keep it whole), under squared error the mean (take 40 % of it away).
    rainy = torch.full((5, 3, 1, 1), 0.6)
    clean = torch.tensor([0.5, 0.5, 0.6, 0.6, 0.6]).view(5, 1, 1, 1).expand(5, 3, 1, 1)
    candidates = torch.linspace(0.5, 0.6, 101)

    def best(loss):
        return float(candidates[torch.stack([losses.weighted_loss(torch.full_like(rainy, c), clean, None, None, loss)
                                             for c in candidates]).argmin()])

    assert best("l1") == pytest.approx(0.6, abs=1e-6) and best("mse") == pytest.approx(0.56, abs=1e-3)


def test_band_loss_takes_part_of_an_uncertain_line_but_shifts_no_frame():
    from drn_edge.train import losses

    # Doubt about a faint line (rain in 2 examples of 5, scene in 3): L1 keeps it whole, the band loss takes part of
    # it as the squared error does. Doubt about a faint veil over the whole frame: the squared error shifts the frame
    # by the mean, the band loss keeps it (L1 on the low band), which is why it exists.
    def best(clean, outputs, loss):
        costs = torch.stack([losses.weighted_loss(o, clean, None, None, loss) for o in outputs])
        return int(costs.argmin())

    line = torch.zeros(1, 1, 32, 32)
    line[..., 15] = 0.1
    scene = torch.full((5, 3, 32, 32), 0.5)
    clean = scene + line * torch.tensor([0, 0, 1, 1, 1.0]).view(5, 1, 1, 1)
    kept = torch.linspace(0, 1, 101)
    outputs = [scene + k * line for k in kept]
    assert float(kept[best(clean, outputs, "l1")]) == 1.0
    assert 0.55 <= float(kept[best(clean, outputs, "band")]) <= 0.75

    clean = torch.tensor([0.5, 0.5, 0.6, 0.6, 0.6]).view(5, 1, 1, 1).expand(5, 3, 16, 16)
    levels = torch.linspace(0.5, 0.6, 101)
    outputs = [torch.full((5, 3, 16, 16), float(v)) for v in levels]
    assert float(levels[best(clean, outputs, "mse")]) == pytest.approx(0.56, abs=1e-3)
    assert float(levels[best(clean, outputs, "band")]) == pytest.approx(0.6, abs=1e-6)


def test_training_ssim_is_the_metric_ssim():
    from drn_edge.evaluation.metrics import ssim
    from drn_edge.train import losses

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)

    def tensor(x):
        return torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32) / 255)

    assert float(losses.ssim_map(tensor(a), tensor(b)).mean()) == pytest.approx(ssim(a, b), abs=1e-4)


def test_ssim_l1_loss_counts_a_faint_streak_over_a_flat_scene_more_than_the_same_error_over_texture():
    from drn_edge.train import losses

    # The same faint streak (+0.06, one column) left in the output, over a flat grey scene and over a textured one:
    # L1 counts both alike; SSIM judges the error against the local contrast, so the flat scene's costs more.
    flat = torch.full((1, 3, 32, 32), 0.5)
    textured = flat + 0.2 * (torch.arange(32) % 2).float().view(1, 1, 1, 32)
    streak = torch.zeros_like(flat)
    streak[..., 15] = 0.06

    def cost(clean, loss):
        return float(losses.weighted_loss(clean + streak, clean, None, None, loss))

    assert cost(flat, "l1") == pytest.approx(cost(textured, "l1"))
    assert cost(flat, "ssim-l1") > 3 * cost(textured, "ssim-l1")


def test_cli_rejects_an_unknown_loss(tmp_path):
    out = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", "--loss", "l3", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--loss" in out.stderr and "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())


def test_bf16_step_keeps_dilated_conv_gradients_finite_at_large_crops():
    # On CPU, PyTorch's bf16 dilated convolutions in channels_last return NaN weight gradients (or crash) from a
    # 32 px feature map: `drn-train --crop 256` diverged at step 2. The step plan runs them in the contiguous layout.
    # The gradient check bites on CPUs with bf16 instructions (the bug is oneDNN's); the layout check everywhere.
    from drn_edge.model.checkpoint import load_model
    from drn_edge.train.speed import choose_step_plan

    device = torch.device("cpu")
    plan = choose_step_plan("bf16", False, device)
    model = load_model("drn_edge").train()
    net = plan.prepare(model, device)
    dilated = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and max(m.dilation) > 1]
    plain = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and max(m.dilation) == 1]
    assert dilated and all(m.weight.is_contiguous() for m in dilated)
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in plain if m.kernel_size != (1, 1))
    torch.manual_seed(0)
    x = plan.layout(torch.rand(2, 3, 256, 256))
    with plan.autocast(device):
        out = net(x)
    (out.float() - x).abs().mean().backward()
    assert [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()] == []

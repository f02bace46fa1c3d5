"""train.mixed_precision, train.channels_last and train.compile (docs/training.md, "Speed options")
on the CPU: each changes how the step runs, never what it computes (beyond float rounding), and
does what it says; mixed precision's bf16 path runs on the CPU's autocast too, and on CUDA in a
gpu test. The bench that measures them fails loudly on an error instead of printing it as a row."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from get3d.training.distributed import DistEnv
from get3d.training.options import validate_config
from get3d.training.step import StepRunner, build_state
from tests.training.conftest import tiny_config

REPO = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")


def _reals(device=CPU):
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    mask = ((0.6 - (xx ** 2 + yy ** 2).sqrt()) * 8).clamp(0, 1)[None, None].repeat(2, 1, 1, 1)
    rgb = torch.rand(2, 3, 1, 1, generator=g) * mask
    labels = torch.tensor([[10.0, 20.0], [200.0, 5.0]])
    return rgb.to(device), mask.to(device), labels.to(device)


def _runner(device=CPU, **options):
    cfg = tiny_config()
    cfg.data.workers = 0
    for name, value in options.items():
        setattr(cfg.train, name, value)
    validate_config(cfg)
    state = build_state(cfg, device)
    return state, StepRunner(state, cfg, DistEnv(device=device), 2)


def _stats(runner, steps=2, device=CPU):
    """Scalar stats of `steps` steps (step 0 runs R1) -> list of {name: float}."""
    out = []
    for step in range(steps):
        outcome = runner(*_reals(device), step=step, images_seen_after=2 * (step + 1))
        assert outcome.ok, outcome.bad_phase
        out.append({k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in outcome.stats.items()
                    if k.startswith(("Loss/", "Logits/"))})
    return out


def _assert_close(a, b, rtol):
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for key in sa:
            assert sb[key] == pytest.approx(sa[key], rel=rtol, abs=1e-6), key


@pytest.fixture(scope="module")
def baseline():
    torch.set_num_threads(1)
    return _stats(_runner()[1])


def test_channels_last_feeds_the_discriminators_channels_last_and_computes_the_same(baseline):
    state, runner = _runner(channels_last=True)
    convs = [p for d in (state.D_rgb, state.D_mask) for p in d.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    seen = []
    hooks = [d.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(
        memory_format=torch.channels_last))) for d in (state.D_rgb, state.D_mask)]
    stats = _stats(runner)
    for h in hooks:
        h.remove()
    assert seen and all(seen), seen  # every image a discriminator saw (main phases and R1)
    _assert_close(baseline, stats, rtol=1e-4)


def test_mixed_precision_is_ignored_on_the_cpu(baseline):
    _, runner = _runner(mixed_precision=True)
    assert runner.loss.autocast is None
    assert _stats(runner) == baseline


def test_the_bf16_autocast_path_runs_the_discriminators_in_bf16_and_r1_in_float32():
    """What mixed_precision selects on CUDA (Get3dLoss(autocast=bf16)), run on the CPU's autocast:
    the discriminators' logits come out of bf16 maths, R1 stays float32, losses stay close."""
    from get3d.training.loss import Get3dLoss

    state, runner = _runner()
    cfg = runner.cfg
    plain = runner.loss
    amp = Get3dLoss(state.G, state.D_rgb, state.D_mask, cfg.train, cfg.data, CPU, autocast=torch.bfloat16)
    rgb, mask, labels = _reals()
    dtypes = []
    hook = state.D_rgb.register_forward_hook(lambda m, args, out: dtypes.append(out.dtype))
    with torch.no_grad():
        fake = plain.sample_fake(2, cfg.model.z_dim, torch.Generator().manual_seed(1))
        loss_32, _ = plain.discriminator_loss(fake, rgb, mask, labels)
        fake = amp.sample_fake(2, cfg.model.z_dim, torch.Generator().manual_seed(1))
        loss_16, stats_16 = amp.discriminator_loss(fake, rgb, mask, labels)
    assert dtypes == [torch.float32, torch.float32, torch.bfloat16, torch.bfloat16]
    assert stats_16["Logits/real_rgb"].dtype == torch.float32  # cast back before the loss
    assert loss_16 != loss_32 and float(loss_16) == pytest.approx(float(loss_32), rel=0.05)
    dtypes.clear()
    r1_32, _ = plain.r1_loss(rgb, mask, labels, 4)
    r1_16, _ = amp.r1_loss(rgb, mask, labels, 4)
    hook.remove()
    assert dtypes == [torch.float32, torch.float32] and float(r1_16) == float(r1_32)


def test_compile_compiles_the_discriminators_and_backbone_in_place_and_r1_uses_the_plain_forward(monkeypatch):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    state, runner = _runner(compile=True)
    assert compiled == [state.D_rgb, state.D_mask, state.G.generator.tri_plane_synthesis]
    assert runner.loss.D_rgb is state.D_rgb and runner.loss.D_rgb_reg == state.D_rgb.forward
    assert runner.loss.D_mask_reg == state.D_mask.forward


# torch.compile through AOTAutograd (the "aot_eager" backend: no C++ toolchain needed) takes about a
# minute for the tiny networks on 2 shared CPU cores; it refuses the double backward R1 needs, so
# this catches R1 going through a compiled module.
@pytest.mark.slow
def test_compiled_training_steps_compute_what_eager_ones_do(baseline, monkeypatch):
    original = torch.nn.Module.compile

    def aot_eager(self, *args, **kwargs):
        kwargs.setdefault("backend", "aot_eager")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "compile", aot_eager)
    state, runner = _runner(compile=True)
    assert state.D_rgb._compiled_call_impl is not None
    _assert_close(baseline, _stats(runner), rtol=1e-4)
    assert {f"D_rgb.{k}" for k in state.D_rgb.state_dict()} == {f"D_rgb.{k}" for k in build_state(
        runner.cfg, CPU).D_rgb.state_dict()}  # in place: snapshot keys unchanged


# Each device runs the speed options' steps to finite losses; mixed precision selects bf16 autocast
# on CUDA only. The CPU case leaves compile out (inductor needs minutes and a C++ toolchain here;
# the slow aot_eager test above covers compiled steps on the CPU).
GPU = pytest.mark.gpu


@pytest.mark.parametrize("device,options", [
    pytest.param("cpu", dict(mixed_precision=True, channels_last=True), id="cpu-mixed_precision-channels_last"),
    pytest.param("cuda", dict(mixed_precision=True), marks=GPU, id="cuda-mixed_precision"),
    pytest.param("cuda", dict(channels_last=True), marks=GPU, id="cuda-channels_last"),
    pytest.param("cuda", dict(mixed_precision=True, channels_last=True, compile=True), marks=GPU, id="cuda-all"),
])
def test_speed_options_on_each_device_run_finite_steps(device, options):
    device = torch.device(device)
    _, runner = _runner(device, **options)
    expected = torch.bfloat16 if options.get("mixed_precision") and device.type == "cuda" else None
    assert runner.loss.autocast == expected
    stats = _stats(runner, device=device)
    assert all(torch.isfinite(torch.tensor(list(s.values()))).all() for s in stats)


def _load_bench():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("bench_train_under_test", REPO / "bench" / "train.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "bench"))
    return module


def test_the_cuda_bench_fails_loudly_on_an_error_and_records_only_out_of_memory(monkeypatch, capsys):
    bench = _load_bench()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a pretend GPU: bench_config is replaced
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "pretend GPU")
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(sys, "argv", ["train.py", "--devices", "cuda", "--res", "64"])

    def broken(preset, res, batch, device, steps, warmup, options):
        if options.get("compile"):
            raise RuntimeError("inductor failed")
        if options.get("channels_last"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return {"device": "cuda", "res": res, **{n: bool(options.get(n)) for n in bench.SPEED_OPTIONS},
                "images_per_s": 1.0}

    monkeypatch.setattr(bench, "bench_config", broken)
    with pytest.raises(RuntimeError, match="inductor failed"):
        bench.main()
    assert capsys.readouterr().out == ""  # no JSON that looks like a result
    # Without the compile failure the table is printed; the out-of-memory configuration is a row.
    monkeypatch.setattr(bench, "bench_config", lambda *a, **k: broken(*a[:6], {
        n: v for n, v in a[6].items() if n != "compile"}))
    bench.main()
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r.get("out_of_memory", False) for r in rows if r["device"] == "cuda"] == [False, False, True, False,
                                                                                      True]

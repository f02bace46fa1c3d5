"""Fuzzed model folders of the text stages (hypothesis): a CLIP folder (finetune-text, metrics
clip) and a diffusers Stable Diffusion folder (refine, distill-2d), with files missing,
truncated or overwritten and config values of the wrong type. Property: the loader returns a
model or raises a one-line Get3dError naming the folder; never another exception or a hang."""
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from get3d.distill.diffusion import load_diffusion
from get3d.distill.tiny import save_tiny_pipeline
from get3d.text.encoder import load_clip
from tests.fuzz import budget, check_one_line, time_limit
from tests.text.stand_ins import save_tiny_clip

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
BAD_VALUES = [None, -1, 0, "abc", 1.5, [], {}, 10 ** 12, True]


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-models")
    clip = save_tiny_clip(root / "clip")
    sd = save_tiny_pipeline(root / "sd")
    return {"clip": (clip, sorted(p.relative_to(clip) for p in clip.rglob("*") if p.is_file())),
            "sd": (sd, sorted(p.relative_to(sd) for p in sd.rglob("*") if p.is_file()))}


@st.composite
def damage(draw, files):
    ops = []
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(files))
        kind = draw(st.sampled_from(["delete", "truncate", "overwrite", "config-value", "config-not-json"]))
        ops.append((str(path), kind, draw(st.integers(0, 10 ** 6)), draw(st.sampled_from(BAD_VALUES))))
    return ops


def _apply(folder, ops):
    for rel, kind, n, value in ops:
        path = folder / rel
        if not path.is_file():
            continue
        data = path.read_bytes()
        if kind == "delete":
            path.unlink()
        elif kind == "truncate":
            path.write_bytes(data[: n % max(len(data), 1)])
        elif kind == "overwrite" and data:
            at = n % len(data)
            path.write_bytes(data[:at] + bytes([(data[at] + 1 + n % 255) % 256]) + data[at + 1:])
        elif kind in ("config-value", "config-not-json") and path.suffix == ".json":
            if kind == "config-not-json":
                path.write_text("{\"a\": ")
                continue
            try:
                cfg = json.loads(data)
            except ValueError:
                continue
            if isinstance(cfg, dict) and cfg:
                keys = sorted(cfg, key=str)
                cfg[keys[n % len(keys)]] = value
                path.write_text(json.dumps(cfg))


def _fuzz(tmp_path_factory, model_folders, which, ops):
    source, _ = model_folders[which]
    folder = tmp_path_factory.mktemp(f"fuzz-{which}") / which
    shutil.copytree(source, folder)
    _apply(folder, ops)
    try:
        with time_limit(120, folder):
            if which == "clip":
                encoder = load_clip(folder, device="cpu")
                encoder.encode_text(["a chair"])
            else:
                load_diffusion(folder, device="cpu", local_files_only=True)
    except Exception as err:  # noqa: BLE001 - the property: a one-line Get3dError naming the folder
        check_one_line(err, folder)


@pytest.mark.parametrize("which", ["clip", "sd"])
def test_fuzzed_model_folders_load_or_fail_with_one_line(model_folders, tmp_path_factory, which):
    @settings(max_examples=budget(5), **SETTINGS)
    @given(ops=damage(model_folders[which][1]))
    def run(ops):
        _fuzz(tmp_path_factory, model_folders, which, ops)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["clip", "sd"])
def test_fuzzed_model_folders_large_budget(model_folders, tmp_path_factory, which):
    @settings(max_examples=budget(5, slow=True), **SETTINGS)
    @given(ops=damage(model_folders[which][1]))
    def run(ops):
        _fuzz(tmp_path_factory, model_folders, which, ops)

    run()

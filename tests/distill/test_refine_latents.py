"""`get3d refine --ckpt C --latents FILE`: an inverted code refined like a seed."""
import json

import torch
from click.testing import CliRunner

from get3d.cli import cli


def test_refine_latents_end_to_end(tiny_sd, offline, tmp_path):
    from get3d.invert.latents import codes_from_spec, save_latents
    from get3d.snapshot import load_generator

    G, _ = load_generator("tiny-chair", "cpu")
    ws_geo, ws_tex = codes_from_spec(G, "3")
    latents = save_latents(tmp_path / "inv" / "latents.safetensors", ws_geo, ws_tex, [0.0], [0.0], {})
    args = ["refine", "--ckpt", "tiny-chair", "--latents", str(latents), "--prompt", "a red chair", "--model",
            str(tiny_sd), "--outdir", str(tmp_path / "out"), "--texture-res", "32", "--preview-res", "32",
            "--steps", "1", "--texture-only"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert settings["latents"] == str(latents) and settings["seed_of_asset"] is None
    bad = CliRunner().invoke(cli, [*args[:3], "--seed", "1", *args[3:]])
    assert bad.exit_code == 1 and "--latents replaces --seed" in bad.output
    assert torch.isfinite(ws_geo).all()

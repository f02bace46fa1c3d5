import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_dmtet_bench_prints_json_and_its_baseline_agrees():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "dmtet.py"), "--res", "10", "--repeats", "1", "--devices", "cpu"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "dmtet" and len(report["results"]) == 4
    by_kind = {}
    for row in report["results"]:
        by_kind.setdefault(row["extractor"], []).append(row)
        assert row["mesh_faces"] > 0 and row["forward_ms"] > 0 and row["forward_backward_ms"] > 0
    assert sorted(by_kind) == ["dmtet", "flexicubes"]
    assert all(row["forward_unique_per_call_ms"] > 0 for row in by_kind["dmtet"])
    # FlexiCubes at res 10 has 10^3 cubes and 11^3 vertices, beside DMTet at tet_res 10.
    assert [(r["res"], r["grid_cubes"], r["grid_verts"]) for r in by_kind["flexicubes"]] == [(10, 1000, 1331)] * 2


def test_baseline_extractor_matches_ours():
    """The comparison in the benchmark is only fair if both extract the same mesh."""
    sys.path.insert(0, str(BENCH))
    try:
        from dmtet import unique_per_call_extract
    finally:
        sys.path.pop(0)
    import torch

    from get3d.geometry import Mesh, marching_tets, shapes, tet_grid

    verts, tets = tet_grid(20)
    sdf = shapes.noisy_sdf(verts, seed=4)
    ours = marching_tets(verts, tets, sdf)
    theirs = unique_per_call_extract(verts, tets, sdf)
    assert len(ours[1]) == len(theirs[1])
    assert torch.allclose(torch.sort(ours[0], 0).values, torch.sort(theirs[0], 0).values)
    assert Mesh(*ours).signed_volume().item() == pytest.approx(Mesh(*theirs).signed_volume().item(), rel=1e-6)


def test_metrics_bench_quick_prints_json():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "metrics.py"), "--quick", "--devices", "cpu"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "metrics" and report["quick"] and report["threads"] >= 1
    [row] = report["results"]
    assert row["device"] == "cpu" and row["measured"] and row["shapes"] == 12
    for key in ("chamfer_pairs_per_s", "cov_mmd_s", "cov_mmd_1nna_s", "metrics_only_ms"):
        assert row[key] > 0


def test_generate_bench_quick_prints_json():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), "--quick", "--devices", "cpu", "--backend", "torch"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "generate" and report["quick"]
    [row] = report["results"]
    assert row["device"] == "cpu" and row["texture_res"] == 64 and row["mesh_faces"] > 0
    for key in ("mesh_s", "uv_s", "bake_s", "glb_s"):
        assert row[key] > 0
    assert row["total_s"] == pytest.approx(sum(row[k] for k in ("mesh_s", "uv_s", "bake_s", "glb_s")))


def test_train_bench_quick_prints_json():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "train.py"), "--quick", "--devices", "cpu"],
        capture_output=True, text=True, check=True,
        # the checkout's get3d, not another installed copy (the script's folder is bench/)
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH.parent),
                                                                        os.environ.get("PYTHONPATH")]))},
    )
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "train" and report["quick"]
    [row] = report["results"]
    assert row["device"] == "cpu" and row["res"] == 32 and row["batch"] == 2 and row["all_steps_finite"]
    for key in ("images_per_s", "s_per_kimg", "peak_memory_gb"):
        assert row[key] > 0


def test_distill_bench_quick_prints_json_for_each_rule():
    proc = subprocess.run([sys.executable, str(BENCH / "distill.py"), "--quick"], capture_output=True, text=True,
                          check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "distill"
    rows = {row["rule"]: row for row in report["results"]}
    assert set(rows) == {"sds", "ism", "sdi"}
    assert all(row["s_per_step"] > 0 for row in rows.values())
    # SDS: one guided call; SDI at its first step (t = 980): 11 guided inversion calls (the start at
    # timestep -99 and the stride-100 grid 1..901) + 1 guided prediction.
    assert rows["sds"]["unet_calls_per_step"] == 1 and rows["sdi"]["unet_calls_per_step"] == 12
    calls = {(row["rule"], row["t"]): row["unet_calls"] for row in report["unet_calls"]}
    assert [calls[("sdi", t)] for t in (980, 797, 615, 432, 250)] == [12, 10, 9, 7, 5]
    assert calls[("ism", 979)] == 7 and calls[("ism", 21)] == 3 and calls[("sds", 500)] == 1


def test_finetune_text_bench_quick_prints_json():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "finetune_text.py"), "--quick", "--devices", "cpu"],
        capture_output=True, text=True, check=True,
    )
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "finetune_text" and report["quick"]
    [row] = report["results"]
    assert row["device"] == "cpu" and row["measured"] and row["skipped_steps"] == 0
    assert row["s_per_iter"] > 0 and row["trainable_parameters"] > 0 and row["peak_memory_gb"] > 0


def test_refine_bench_quick_prints_json():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "refine.py"), "--quick", "--devices", "cpu"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH.parent),
                                                                      os.environ.get("PYTHONPATH")]))},
    )
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "refine" and report["quick"]
    [row] = report["results"]
    assert row["device"] == "cpu" and row["rule"] == "sds" and row["steps_timed"] == 1
    phases = [row[k] for k in ("render_s", "encode_s", "rule_s", "backward_s")]
    assert all(p > 0 for p in phases) and row["s_per_step"] == pytest.approx(sum(phases))


def test_train_ab_bench_quick_prints_json(tmp_path):
    proc = subprocess.run(
        # 'get3d': the reference arm's name before the variants were renamed, still accepted.
        [sys.executable, str(BENCH / "train_ab.py"), "--quick", "--arms", "get3d,g-lr,flexicubes", "--workdir",
         str(tmp_path)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH.parent),
                                                                        os.environ.get("PYTHONPATH")]))},
    )
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "train_ab" and report["quick"]
    assert [(r["arm"], r["steps"]) for r in report["rows"]] == [("reference", 2), ("g-lr", 2), ("flexicubes", 2)]
    assert set(report["summary"]) == {"reference", "g-lr", "flexicubes"}
    assert all(r["s_per_step"] > 0 for r in report["rows"])
    config = json.loads((tmp_path / "g-lr-s0" / "config.json").read_text())
    assert config["train"]["variant"] == "reference" and config["train"]["g_reg_interval"] is None
    flexi = json.loads((tmp_path / "flexicubes-s0" / "config.json").read_text())
    assert flexi["model"]["iso_surface"] == "flexicubes" and flexi["train"]["variant"] == "reference"


def test_triplane_bench_prints_json_and_both_versions_agree_bit_for_bit():
    proc = subprocess.run([sys.executable, str(BENCH / "triplane.py"), "--quick", "--repeats", "1"],
                          capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "triplane"
    assert [r["case"] for r in report["results"]] == ["sample_tiny", "texture_bake_b1", "texture_render_b4"]
    assert all(r["equal"] and r["max_abs_diff"] == 0.0 and r["before_ms"] > 0 for r in report["results"])


def test_invert_bench_quick_prints_json():
    proc = subprocess.run([sys.executable, str(BENCH / "invert.py"), "--quick", "--devices", "cpu"],
                          capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "invert" and report["quick"]
    cases = {row["case"]: row for row in report["results"]}
    assert set(cases) == {"images-known", "images-unknown", "mesh-glb", "tune"}
    for row in cases.values():
        assert row["seconds"]["search"] > 0 and row["seconds"]["optimize"] > 0 and row["peak_mb"] > 0
        assert 0 <= row["iou"] <= 1 and "iou_random_best" in row
    assert cases["tune"]["seconds"]["tune"] > 0 and "chamfer" in cases["mesh-glb"]


@pytest.mark.slow
def test_threads_bench_prints_json_with_the_load_of_each_row():
    proc = subprocess.run([sys.executable, str(BENCH / "threads.py"), "--workloads", "demo", "--settings", "1,auto",
                           "--conditions", "idle,loaded", "--load", "1"],
                          capture_output=True, text=True, check=True, cwd=BENCH.parent,
                          env=dict(os.environ, PYTHONPATH=str(BENCH.parent)))
    report = json.loads(proc.stdout)
    assert report["benchmark"] == "threads" and len(report["results"]) == 4
    for row in report["results"]:
        assert row["seconds"] > 0 and row["load_before"] >= 0 and row["condition"] in ("idle", "loaded")
    assert {r["threads"] for r in report["results"] if r["setting"] == "1"} == {1}

"""`get3d demo` end to end with a shortened schedule: data -> train -> generate -> interpolate."""
import pytest
from click.testing import CliRunner

from get3d.cli import cli


def test_demo_quick_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--outdir", str(out), "--quick", "--quiet", "--device", "cpu",
                                      "--backend", "torch"])
    assert result.exit_code == 0, result.output
    for stage in ("[1/4]", "[2/4]", "[3/4]", "[4/4]", "done in"):
        assert stage in result.output
    assert len(list((out / "data" / "img" / "chair").iterdir())) == 3
    assert list((out / "run").glob("snapshot-*.json"))
    samples = list((out / "samples").glob("seed*.glb"))
    assert samples, result.output  # the quick schedule's generator has shapes for the demo's seeds
    assert (out / "interpolation" / "interp_both.gif").is_file()
    page = (out / "index.html").read_text()  # one page: samples to turn, the walk, each stage's page
    assert ">samples/index.html</a>" in page and ">interpolation/index.html</a>" in page and "interp_both.gif" in page
    assert page.count("<model-viewer") == len(samples) and (out / "viewer" / "LICENSE").is_file()

    # A second run reuses the data and the finished training run instead of starting over.
    image = next((out / "data" / "img" / "chair").rglob("*.png"))
    stamp = image.stat().st_mtime_ns
    snapshots = sorted(p.name for p in (out / "run").glob("snapshot-*.json"))
    again = CliRunner().invoke(cli, ["demo", "--outdir", str(out), "--quick", "--quiet", "--device", "cpu",
                                     "--backend", "torch"])
    assert again.exit_code == 0, again.output
    assert image.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (out / "run").glob("snapshot-*.json")) == snapshots
    steps = [line for line in result.output.splitlines() if "images seen" in line]
    assert steps and steps == [line for line in again.output.splitlines() if "images seen" in line]


def test_bad_schedule_fails_before_any_work(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--outdir", str(tmp_path / "d"), "--kimg", "-1", "--quiet"])
    assert result.exit_code == 1 and "get3d: error: train.kimg (--kimg) must be > 0" in result.output
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_full_demo_makes_closed_chair_sized_meshes(tmp_path):
    """The real CPU schedule (about a minute on 2 cores): its samples are the user's first picture."""
    import trimesh

    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--outdir", str(out), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    meshes = sorted((out / "samples").glob("seed*.obj"))
    assert len(meshes) == 8
    for path in meshes:
        mesh = trimesh.load(path, force="mesh", process=False)
        mesh.merge_vertices(merge_tex=True, merge_norm=True)  # OBJ splits vertices at UV seams
        assert len(mesh.faces) > 100, path
        assert mesh.is_watertight, path
        # Chair-sized in the generator's units: about 1 across, legs-to-back taller than deep.
        assert 0.4 < mesh.extents.max() < 1.2 and 0 < mesh.volume < 0.2, (path, mesh.extents, mesh.volume)

"""The `get3d` command line. Each command is a thin wrapper over a library call: it builds the
command's options object (defaults, checks and the settings record live beside the library code)
and calls the library. Commands are defined, and listed by ``get3d --help``, in the order of
README.md's "Which command do I want?" table, then the geometry tools; a command's private helpers
sit right above the first command that uses them."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from pathlib import Path

import click

from get3d import __version__
from get3d.categories import CAMERA_MODES, CLIP_MODELS, GET3D_TET_RES, camera_mode_help, render_scale_help
from get3d.config import VARIANT_ALIASES, VARIANTS
from get3d.errors import Get3dError
from get3d.options import (MODES, GenerateOptions, GeometryDemoOptions, InterpolateOptions, MetricsOptions,
                           TrainMetricsOptions)

# generate's, interpolate's, metrics', train --metrics' and geometry-demo's defaults, stated once in get3d.options
_G, _I, _M, _TM = GenerateOptions(), InterpolateOptions(), MetricsOptions(), TrainMetricsOptions()
_GD = GeometryDemoOptions()


_THREADS_HELP = ("CPU threads for torch: auto (one per core with OpenMP's passive wait, so a busy machine does "
                 "not slow get3d 3-10x; see docs/benchmarks.md), default (torch's own: one per core, active "
                 "wait) or a number. [default: $GET3D_THREADS, else auto; an OMP_NUM_THREADS you set wins over auto]")


def _apply_threads(ctx, param, value):
    """--threads of a command, else the group's, else $GET3D_THREADS, else auto (get3d.threads).
    Runs while the command line is parsed, before the command imports torch, so OpenMP's wait
    policy can still be set."""
    from get3d.threads import configure_threads

    if value is None:
        value = ctx.meta.get("get3d.threads") or os.environ.get("GET3D_THREADS") or "auto"
    configure_threads(value)
    return value


def _threads_option():
    return click.Option(["--threads"], default=None, expose_value=False, callback=_apply_threads,
                        help=_THREADS_HELP)


def _options_from_flags(cls):
    """An options dataclass built from the running command's flags whose names are its fields
    (the others keep the dataclass defaults, which the flags show): one place maps flags to fields."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in click.get_current_context().params.items() if k in names})


class _Group(click.Group):
    """Turns a Get3dError anywhere below into one line on stderr and exit status 1; gives every
    command the --threads option (get3d.threads)."""

    def add_command(self, cmd, name=None):
        if not any(p.name == "threads" for p in cmd.params):
            cmd.params.append(_threads_option())
        super().add_command(cmd, name)

    def list_commands(self, ctx):
        return list(self.commands)  # definition order = README's command table, not alphabetical

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Get3dError as err:
            click.echo(f"get3d: error: {err}", err=True)
            sys.exit(getattr(err, "exit_code", 1))  # 130 / 143 after a graceful stop on a signal


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="get3d")
@click.option("--threads", "threads", default=None, help=_THREADS_HELP + " Also accepted after the command name.")
@click.pass_context
def cli(ctx, threads):
    """get3d: generate textured 3D meshes with GET3D, and steer them with text."""
    if threads is not None:
        from get3d.threads import parse_threads

        parse_threads(threads)  # a bad value fails here, before any command runs
        ctx.meta["get3d.threads"] = threads


# ------------------------------------------------------------------------------------------- demo
_BACKENDS = click.Choice(["auto", "torch", "nvdiffrast"])


@cli.command("demo")
@click.option("--outdir", default="out/demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--backend", default="auto", show_default=True, type=_BACKENDS, help="Rasterizer.")
@click.option("--kimg", default=None, type=float,
              help="Training length in thousands of images (default: 0.4 on a CPU, continuing the bundled "
              "tiny-chair; 20 from scratch on a GPU).")
@click.option("--quick", is_flag=True, help="Seconds instead of minutes: every stage, no real training.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo_cmd(outdir, device, backend, kimg, quick, quiet):
    """End to end: procedural data -> train `tiny` briefly -> textured meshes -> interpolation."""
    from get3d.demo import run_demo

    run_demo(outdir, device=device, backend=backend, progress=not quiet, log=click.echo, quick=quick, kimg=kimg)


# --------------------------------------------------------------------------------------- generate
def _default_outdir(command: str, ckpt) -> Path:
    """out/<command>-<model>: the model's name without folders or suffix (tiny-chair, a run folder's
    name, a snapshot's stem), so README commands run as written without --outdir."""
    name = Path(str(ckpt).rstrip("/\\")).name
    stem = Path(name).stem if Path(name).suffix in (".json", ".safetensors", ".pt", ".pkl") else name
    return Path("out") / f"{command}-{stem or 'model'}"


def _category_option(fn):
    return click.option("--category", default=None,
                        help="For a GET3D .pt checkpoint: its category (car, chair, motorbike, ...), "
                             "which sets the tet grid it was trained with.")(fn)


def _code_name(spec: str) -> str:
    """A file stem for a code spec: 'seed0007' for a seed, the latents file's folder name otherwise."""
    text = str(spec).strip()
    if text.isdigit():
        return f"seed{int(text):04d}"
    path = Path(text)
    return path.parent.name if path.stem == "latents" and path.parent.name else path.stem


@cli.command("generate")
@click.option("--ckpt", required=True, help="Snapshot (.json/.safetensors), a run folder (its newest snapshot), "
              "a bundled model's name, or a GET3D .pt checkpoint (with --category).")
@_category_option
@click.option("--seeds", default=None, help="Seeds, e.g. 0-15 or 1,4,9 (default 0-15 unless codes are given).")
@click.option("--latents", "latents", multiple=True, help="A latents.safetensors from get3d invert (repeatable).")
@click.option("--geometry-from", default=None, help="With --texture-from: one asset mixing two codes (latents file or seed).")
@click.option("--texture-from", default=None, help="Latents file or seed whose texture code --geometry-from's shape gets.")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder [default: out/generate-<model name>].")
@click.option("--truncation", default=_G.truncation, show_default=True, help="Truncation psi (1 = none).")
@click.option("--format", "formats", default=_G.formats, show_default=True, help="Comma-separated: glb, obj, ply.")
@click.option("--texture-res", default=_G.texture_res, show_default=True, type=click.IntRange(min=8),
              help="Baked texture size (square).")
@click.option("--geometry-only", is_flag=True, help="Meshes only: no UV atlas, no texture.")
@click.option("--raw-mesh", is_flag=True, help="Keep the raw extraction: surfaces cut by the grid's box stay open "
              "(default: capped, watertight).")
@click.option("--preview-views", default=_G.preview_views, show_default=True, type=click.IntRange(min=0),
              help="Views per seed in preview.png (0: none).")
@click.option("--preview-shading", default=_G.preview_shading, show_default=True,
              type=click.Choice(["lit", "clay", "albedo"]),
              help="preview.png and turntables: the texture under a key light, grey geometry under it, or the "
                   "texture unlit.")
@click.option("--turntable", "turntable_frames", default=_G.turntable_frames, show_default=True,
              type=click.IntRange(min=0), help="Frames of a turntable GIF per seed (0: none).")
@click.option("--backend", default=_G.backend, show_default=True, type=_BACKENDS, help="Rasterizer.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate_cmd(ckpt, category, seeds, latents, geometry_from, texture_from, outdir, truncation, formats, texture_res, geometry_only, raw_mesh, preview_views, preview_shading,
                 turntable_frames, backend, device, quiet):
    """Sample textured meshes (GLB, OBJ+MTL+PNG, PLY), one per seed, and a preview grid."""
    from get3d.generate import generate_assets, parse_seeds

    outdir = outdir or _default_outdir("generate", ckpt)
    if (geometry_from is None) != (texture_from is None):
        raise Get3dError("give --geometry-from and --texture-from together (a latents file or a seed each)")
    codes = [(_code_name(f), f, f) for f in latents]
    if geometry_from is not None:
        codes.append((f"geo-{_code_name(geometry_from)}_tex-{_code_name(texture_from)}", geometry_from, texture_from))
    seeds = seeds if seeds is not None else ("" if codes else "0-15")
    assets = generate_assets(ckpt, parse_seeds(seeds) if seeds else [], outdir, codes=codes, truncation=truncation, formats=formats,
                             texture_res=texture_res, geometry_only=geometry_only, backend=backend, device=device,
                             preview_views=preview_views, turntable_frames=turntable_frames, progress=not quiet,
                             log=lambda line: click.echo(line, err=True), category=category, raw_mesh=raw_mesh,
                             preview_shading=preview_shading)
    written = sum(1 for a in assets if a.mesh is not None)
    click.echo(f"{written} meshes written to {outdir}/ ({len(assets) - written} empty seeds skipped)")


# ------------------------------------------------------------------------------------ interpolate
@cli.command("interpolate")
@click.option("--ckpt", required=True, help="Snapshot, run folder, bundled model name or GET3D .pt.")
@_category_option
@click.option("--seeds", default=None, help="Two or more seeds, e.g. 0,5,9 (walks go between consecutive ones).")
@click.option("--latents", default=None, help="Instead of --seeds: comma-separated latents files (get3d invert) "
              "and/or seeds, e.g. out/inv/latents.safetensors,7.")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder [default: out/interpolate-<model name>].")
@click.option("--steps", default=_I.steps, show_default=True, type=click.IntRange(min=2),
              help="Frames per walk, endpoints included.")
@click.option("--mode", default=_I.mode, show_default=True, type=click.Choice(MODES))
@click.option("--truncation", default=_I.truncation, show_default=True, help="Truncation psi.")
@click.option("--res", "resolution", default=_I.resolution, show_default=True, type=click.IntRange(min=8),
              help="Image resolution.")
@click.option("--meshes", "write_meshes", is_flag=True, help="Also write every step as a textured GLB.")
@click.option("--texture-res", default=_I.texture_res, show_default=True, type=click.IntRange(min=8),
              help="Texture size of --meshes.")
@click.option("--raw-mesh", is_flag=True, help="--meshes keep the raw extraction (open where the grid's box cuts).")
@click.option("--backend", default=_I.backend, show_default=True, type=_BACKENDS, help="Rasterizer.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def interpolate_cmd(ckpt, category, seeds, latents, outdir, steps, mode, truncation, resolution, write_meshes, texture_res,
                    raw_mesh, backend, device, quiet):
    """Walk in W space between seeds: an image strip and a GIF (or GET3D's geometry x texture grid)."""
    from get3d.generate import interpolate, parse_seeds

    if (seeds is None) == (latents is None):
        raise Get3dError("give --seeds (e.g. 0,5,9) or --latents (latents files and/or seeds, e.g. a.safetensors,7)")
    items = parse_seeds(seeds) if seeds is not None else [
        int(t) if t.strip().isdigit() else t.strip() for t in latents.split(",") if t.strip()]
    outdir = outdir or _default_outdir("interpolate", ckpt)
    written = interpolate(ckpt, items, outdir, steps=steps, mode=mode, truncation=truncation,
                          resolution=resolution, write_meshes=write_meshes, texture_res=texture_res,
                          backend=backend, device=device, log=lambda line: click.echo(line, err=True),
                          category=category, raw_mesh=raw_mesh, progress=not quiet)
    for kind, path in written.items():
        click.echo(f"{kind}: {path}")
    click.echo(f"outputs in {outdir}/")


# ------------------------------------------------------------------------------------------- view
@cli.command("view")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", default=0, show_default=True, type=int, help="Port on 127.0.0.1 (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Only serve; print the URL, open nothing.")
def view_cmd(outdir, port, no_browser):
    """Serve a gallery folder on 127.0.0.1 and open its index.html (for models too large to embed)."""
    from get3d.export.serve import view

    view(outdir, port, open_browser=not no_browser, log=click.echo)


# ------------------------------------------------------------------------------- convert-official
@cli.command("convert-official")
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--category", default=None, help="car, chair, motorbike, ... (sets tet_res and grid scale).")
@click.option("--tet-res", default=None, type=click.IntRange(min=3),
              help=f"Override the category's tet grid resolution (GET3D: {GET3D_TET_RES}).")
@click.option("--grid-scale", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Override the category's grid scale (dmtet_scale).")
def convert_official_cmd(checkpoint, out, category, tet_res, grid_scale):
    """Convert a GET3D .pt checkpoint (G, G_ema, D) into a get3d snapshot (safetensors + JSON)."""
    from get3d.official import convert_official, describe_grid

    click.echo(describe_grid(category, tet_res, grid_scale), err=True)  # checks them before any work
    path = convert_official(checkpoint, out, category=category, tet_res=tet_res, grid_scale=grid_scale)
    click.echo(f"wrote {path} (and {path.with_suffix('.safetensors').name})")


# --------------------------------------------------------------------------------- render-dataset
def _parse_light(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not any(values):
        raise Get3dError(f"--light-dir must be three comma-separated numbers, not all 0, got {text!r}")
    return values


def _render_settings(views, res, scale, seed, ambient, diffuse, light_dir, unlit, backend, recentre=True):
    from get3d.datasets.render_dataset import Lighting, RenderSettings

    lighting = Lighting(1.0, 0.0) if unlit else Lighting(ambient, diffuse, _parse_light(light_dir))
    return RenderSettings(views=views, resolution=res, scale=scale, seed=seed, lighting=lighting, backend=backend,
                          recentre=recentre)


def _render_options(default_res: int, per_category_scale: bool = False):
    """Options shared by render-dataset and synth-data; defaults from get3d.datasets.settings
    (torch-free), the dataclasses the renderer reads."""
    from get3d.datasets.settings import RenderSettings

    rs = RenderSettings()
    light_dir = ",".join(str(v) for v in rs.lighting.direction)
    if per_category_scale:
        scale = click.option("--scale", default=None, type=float,
                             help="Largest bounding-box side after normalising [default: per category as GET3D's "
                             f"Blender script: {render_scale_help()}].")
    else:
        scale = click.option("--scale", default=rs.scale, show_default=True, help="Largest bounding-box side after normalising.")
    options = [
        click.option("--views", default=rs.views, show_default=True, help="Views per shape."),
        click.option("--res", default=default_res, show_default=True, help="Image resolution (square)."),
        scale,
        click.option("--seed", default=rs.seed, show_default=True, help="Seed for the camera angles."),
        click.option("--ambient", default=rs.lighting.ambient, show_default=True, help="Ambient light strength."),
        click.option("--diffuse", default=rs.lighting.diffuse, show_default=True, help="Diffuse light strength."),
        click.option("--light-dir", default=light_dir, show_default=True,
                     help="Light direction in camera space (x right, y up, z toward the viewer)."),
        click.option("--unlit", is_flag=True, help="Write plain albedo colours (no shading)."),
        click.option("--workers", default=None, type=int, help="CPU worker processes (default: one per core)."),
        click.option("--backend", default=rs.backend, show_default=True, type=click.Choice(["auto", "torch", "nvdiffrast"])),
    ]

    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _render_resolutions():
    from get3d.datasets.settings import SYNTH_RESOLUTION, RenderSettings  # torch-free

    return RenderSettings().resolution, SYNTH_RESOLUTION


_RENDER_RESOLUTION, _SYNTH_RESOLUTION = _render_resolutions()  # render-dataset's and synth-data's --res


def _report_render(summary) -> None:
    for path, reason in summary.failed:
        click.echo(f"failed: {reason}", err=True)
    click.echo(summary.line())


@cli.command("render-dataset")
@click.argument("mesh_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--category", default=None, help="Category name for every shape (default: from the folders).")
@click.option("--keep-meshes", is_flag=True, help="Also write each normalised mesh as OUT/mesh/<category>/<shape>.ply "
              "(the default --ref-meshes of get3d metrics).")
@click.option("--recentre", is_flag=True, help="Centre each mesh's bounding box at the origin before scaling "
              "(GET3D's Blender script does not; ShapeNet models are already roughly centred).")
@_render_options(default_res=_RENDER_RESOLUTION, per_category_scale=True)
def render_dataset_cmd(mesh_dir, out_dir, category, keep_meshes, recentre, views, res, scale, seed, ambient, diffuse,
                       light_dir, unlit, workers, backend):
    """Render a folder of meshes (OBJ+MTL, GLB/GLTF, PLY, OFF, STL; ShapeNet v1/v2) into GET3D's layout.

    Meshes are scaled like GET3D's Blender script (per category, about their own origin; see
    --scale and --recentre). Finished shapes are skipped on a re-run; a mesh that fails is
    reported and skipped.
    """
    from get3d.datasets.render_dataset import render_mesh_folder

    import dataclasses

    if scale is not None and not scale > 0:
        raise Get3dError(f"--scale must be > 0, got {scale}")
    settings = _render_settings(views, res, scale, seed, ambient, diffuse, light_dir, unlit, backend, recentre)
    settings = dataclasses.replace(settings, keep_meshes=keep_meshes)
    summary = render_mesh_folder(mesh_dir, out_dir, settings, category=category, workers=workers)
    _report_render(summary)
    if summary.failed and not summary.rendered and not summary.skipped:
        raise Get3dError(f"no mesh under {mesh_dir} could be rendered")
    click.echo(f"dataset in {out_dir} (images in {out_dir / 'img'}, cameras in {out_dir / 'camera'}"
               + (f", meshes in {out_dir / 'mesh'}" if keep_meshes else "") + f"; check it: get3d check-data {out_dir})")


# ------------------------------------------------------------------------------------- synth-data
@cli.command("synth-data")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--category", required=True, help="Procedural category: chair, vase or mushroom.")
@click.option("--num-shapes", default=64, show_default=True, help="Number of shapes.")
@click.option("--shape-seed", default=0, show_default=True, help="Seed of the first shape (shapes use consecutive seeds).")
@_render_options(default_res=_SYNTH_RESOLUTION)
def synth_data_cmd(out_dir, category, num_shapes, shape_seed, views, res, scale, seed, ambient, diffuse, light_dir,
                   unlit, workers, backend):
    """Generate a procedural category and render it in GET3D's layout (meshes kept in OUT_DIR/mesh/)."""
    from get3d.datasets.synthetic_dataset import make_synthetic_dataset

    settings = _render_settings(views, res, scale, seed, ambient, diffuse, light_dir, unlit, backend)
    summary = make_synthetic_dataset(category, num_shapes, out_dir, settings, seed=shape_seed, workers=workers)
    _report_render(summary)
    click.echo(f"dataset in {out_dir} (meshes in {out_dir / 'mesh' / category})")


# ------------------------------------------------------------------------------------- check-data
@cli.command("check-data")
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--category", default=None, help="Only this category folder.")
@click.option("--split", "split_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Only the shapes of this GET3D split file (one shape id per line), or a GET3D split name: "
              "get3d-chair (train), get3d-car-test, get3d-motorbike-val ... (fetched once, sha256-verified).")
@click.option("--workers", default=None, type=int, help="Decoding threads (default: one per core, up to 8).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def check_data_cmd(data_dir, category, split_file, workers, quiet):
    """Decode every image and camera file of a dataset; list the bad ones (exit 1 if any)."""
    from get3d.datasets.check import check_dataset

    report = check_dataset(data_dir, category, split_file, workers=workers, progress=not quiet)
    for path, reason in report.problems:
        click.echo(f"bad: {path}: {reason}")
    if not report.ok:
        raise Get3dError(report.summary() + "; fix or remove them, or train with --skip-bad")
    click.echo(report.summary())


# ------------------------------------------------------------------------------------------ train
def _relaunch_argv(ctx: click.Context, drop: tuple = ()) -> list[str]:
    """This invocation's own arguments, rebuilt from the command's click parameters: every option
    the user gave (not defaults: the relaunched command applies those itself), minus ``drop``.
    Used by ``train --gpus N`` to start the torchrun workers with the same command line."""
    argv = [ctx.info_name]
    for param in ctx.command.params:
        name = param.name
        if name in drop or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(name) in (click.core.ParameterSource.DEFAULT, None):
            continue
        value = ctx.params.get(name)
        flag = max(param.opts, key=len)  # the long spelling
        if param.is_flag:
            if value:
                argv.append(flag)
            elif param.secondary_opts:  # an on/off pair given as its off spelling (--no-camera-cond)
                argv.append(max(param.secondary_opts, key=len))
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def _preset_default(field: str) -> str:
    """'[default: the preset's: tiny 2, shapenet-car 20000, ...]' read from get3d.config's presets
    (torch-free), so train --help shows the numbers a run will use."""
    from get3d.config import preset

    values = []
    for name in ("tiny", "shapenet-car", "shapenet-chair", "shapenet-motorbike"):
        section, key = field.split(".")
        value = getattr(getattr(preset(name), section), key)
        values.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return "[default: the preset's: " + ", ".join(values) + "; when resuming, the run's]"


@cli.command("train")
@click.option("--data", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset in GET3D's render layout (img/, camera/).")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: snapshots, TensorBoard logs, image grids, config.json.")
@click.option("--preset", "preset_name", default=None, help="Config preset: tiny, shapenet-car, shapenet-chair, "
              "shapenet-motorbike (default when resuming: the run's own config).")
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON config (full or partial, merged over the preset).")
@click.option("--variant", type=click.Choice([*VARIANTS, *VARIANT_ALIASES]), default=None,
              help="Training choices: 'reference' (what GET3D's train_3d.py runs; the shapenet-* presets' "
              "default) or 'plus' (this project's own; the tiny preset's); the old names 'get3d' and "
              "'get3d-plus' still work. See docs/training.md.")
@click.option("--kimg", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Training length in thousands of real images " + _preset_default("train.kimg"))
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Total batch size over all GPUs " + _preset_default("train.batch"))
@click.option("--gpus", type=int, default=1, show_default=True,
              help="Processes on this machine; N > 1 relaunches through torchrun.")
@click.option("--resume", default=None, help="'auto' (newest snapshot in --outdir, else a fresh run) or a snapshot path.")
@click.option("--seed", type=int, default=None, help="Random seed (networks, latents, data order).")
@click.option("--resolution", type=click.IntRange(min=8), default=None,
              help="Training image resolution (data and renders) " + _preset_default("data.resolution"))
@click.option("--gamma", type=click.FloatRange(min=0), default=None,
              help="R1 weight of the RGB discriminator " + _preset_default("train.r1_gamma"))
@click.option("--iso-surface", type=click.Choice(["dmtet", "flexicubes"]), default=None,
              help="Surface extractor (GET3D --iso_surface; default: the preset's, dmtet). See docs/model.md.")
@click.option("--camera-cond/--no-camera-cond", "camera_cond", default=None,
              help="Condition the discriminators on the camera (GET3D --add_camera_cond; default on). "
              "--no-camera-cond for data whose cameras are unknown.")
@click.option("--camera-mode", type=click.Choice(list(CAMERA_MODES)), default=None,
              help="GET3D's named training-view distribution (--data_camera_mode): azimuth 0-360, elevation "
              f"{camera_mode_help()} degrees, radius 1.2.")
@click.option("--snapshot-kimg", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Snapshot interval in kimg " + _preset_default("train.snapshot_kimg"))
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--max-steps", type=int, default=None, help="Stop after this many steps in total (smoke tests).")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable dataset files instead of stopping.")
@click.option("--metrics", default=None, help="Metrics to compute at each snapshot, e.g. fid or cov,mmd "
              "(logged to TensorBoard metrics/ and metrics.jsonl).")
@click.option("--metrics-images", type=int, default=_TM.num_images, show_default=True,
              help="Generated images for fid/kid.")
@click.option("--metrics-shapes", type=int, default=_TM.num_shapes, show_default=True,
              help="Generated shapes for cov/mmd/1nna.")
@click.option("--inception", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Inception TorchScript file for fid/kid (default: $GET3D_INCEPTION or the torch hub cache).")
@click.option("--split", "split_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Train only on the shapes listed in this file (GET3D's split files: one shape folder per line), "
              "or GET3D's published split by name: get3d-chair, get3d-car, get3d-motorbike (train; -val/-test "
              "also exist), fetched once from GET3D's repository and sha256-verified.")
@click.option("--category", "data_category", default=None, help="Category folder under DATA/img to train on.")
@click.option("--init", default=None, help="Start from these weights: a snapshot, run folder, bundled model name "
              "(e.g. tiny-chair) or GET3D .pt (its model must match the config). Ignored when resuming.")
@click.option("--dist-timeout", type=float, default=None,
              help="Seconds a process waits for a silent peer at a collective before it gives up (multi-GPU; "
              "default $GET3D_DIST_TIMEOUT or 1800). Must exceed rank 0's snapshot + --metrics time.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train_cmd(ctx, data, outdir, preset_name, config_file, variant, kimg, batch, gpus, resume, seed, resolution, gamma,
              iso_surface, camera_cond, camera_mode, snapshot_kimg, device, max_steps, metrics, metrics_images, metrics_shapes, inception, skip_bad,
              split_file, data_category, init, dist_timeout, quiet):
    """Train GET3D on rendered images (multi-GPU: --gpus N, or launch with torchrun yourself)."""
    import os
    import time

    from get3d.training.distributed import in_torchrun, torchrun_command

    if gpus < 1:
        raise Get3dError(f"--gpus must be >= 1, got {gpus}")
    if gpus > 1 and not in_torchrun():
        command = torchrun_command(gpus, _relaunch_argv(ctx, drop=("gpus",)))
        click.echo("launching: " + " ".join(command), err=True)
        from get3d._interrupt import run_forwarding_signals

        sys.exit(run_forwarding_signals(command))

    from get3d.training.loop import train
    from get3d.training.options import config_for_run

    overrides = dict(kimg=kimg, batch=batch, seed=seed, gamma=gamma, snapshot_kimg=snapshot_kimg,
                     resolution=resolution, split_file=str(split_file) if split_file else None,
                     category=data_category, variant=variant, iso_surface=iso_surface, camera_cond=camera_cond,
                     camera_mode=camera_mode)
    cfg = config_for_run(preset_name, config_file, resume, outdir, overrides)
    hook = None
    if metrics:
        from get3d.metrics.evaluate import snapshot_metrics_hook

        options = TrainMetricsOptions(metrics, num_images=metrics_images, num_shapes=metrics_shapes,
                                      inception=str(inception) if inception is not None else None)
        hook = snapshot_metrics_hook(data, options, log=lambda line: click.echo(line, err=True))
    start = time.perf_counter()
    result = train(cfg, data, outdir, resume=resume, device=device, max_steps=max_steps, progress=not quiet,
                   skip_bad=skip_bad, on_snapshot=hook, init=init, dist_timeout=dist_timeout)
    if int(os.environ.get("RANK", "0")) == 0:
        minutes = (time.perf_counter() - start) / 60
        click.echo(f"trained to step {result.steps} ({result.images_seen / 1000:.3f} kimg, "
                   f"{result.skipped_steps} steps skipped) in {minutes:.1f} min; "
                   f"last snapshot: {result.snapshot or 'none'}")
        if result.skipped_images or result.data_problems:
            click.echo(f"skipped bad data: {len(result.data_problems)} problems when opening {data}, "
                       f"{len(result.skipped_images)} images that failed to decode "
                       f"(list them all: get3d check-data {data})")
        click.echo(f"TensorBoard logs and image grids in {outdir} (tensorboard --logdir {outdir})")


# ---------------------------------------------------------------------------------------- metrics
@cli.command("metrics")
@click.option("--ckpt", required=True, help="Snapshot, run folder, bundled model name or GET3D .pt.")
@click.option("--category", default=None,
              help="Dataset category folder under DATA/img (default: the checkpoint's training category); "
                   "for a GET3D .pt also its grid (car, chair, motorbike, ... or a ShapeNet synset id).")
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset in GET3D's layout (real images; its mesh/ folder is the default geometry reference). "
                   "Needed by every metric but clip.")
@click.option("--split", "split_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="GET3D split file (one shape id per line, e.g. its test split): real images, cameras and "
                   "reference meshes of the listed shapes only. Or a GET3D split name such as get3d-chair-test "
                   "(fetched once from GET3D's repository, sha256-verified).")
@click.option("--metrics", default=None,
              help="Comma-separated: fid, kid, cov, mmd, 1nna, clip [default: every one whose inputs are present: "
                   "fid,kid with the Inception network on disk, cov,mmd,1nna with reference meshes, clip with "
                   "--prompt; the rest are named as skipped].")
@click.option("--num-images", default=_M.num_images, show_default=True, type=click.IntRange(min=1),
              help="Generated images for FID/KID (GET3D: 50k).")
@click.option("--num-shapes", default=_M.num_shapes, show_default=True, type=click.IntRange(min=1),
              help="Generated shapes for COV/MMD/1-NNA.")
@click.option("--truncation", default=_M.truncation, show_default=True, help="Truncation psi (GET3D evaluates with 1).")
@click.option("--protocol", default=_M.protocol, show_default=True, type=click.Choice(["get3d", "dataset"]),
              help="get3d: GET3D's metric_utils.py (style mixing 0.9 per sample, training-distribution cameras); "
              "dataset: no style mixing, cameras of random real views.")
@click.option("--ref-meshes", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Reference mesh folder for geometry metrics (default: DATA/mesh[/CATEGORY]).")
@click.option("--num-points", default=_M.num_points, show_default=True, type=click.IntRange(min=1),
              help="Surface points per shape.")
@click.option("--inception", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Inception TorchScript file (default: $GET3D_INCEPTION or the torch hub cache).")
@click.option("--extractor", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Another TorchScript feature network (images uint8 [B,3,H,W] -> [B,D]) instead of Inception.")
@click.option("--prompt", default=None, help="clip: the text renders are scored against.")
@click.option("--clip", "clip_models", default=",".join(CLIP_MODELS),
              show_default=True, help="clip: CLIP folders or hub ids, comma-separated (score averaged over them).")
@click.option("--clip-images", default=_M.clip_images, show_default=True, help="clip: generated latents.")
@click.option("--clip-views", default=_M.clip_views, show_default=True, help="clip: views per latent.")
@click.option("--out", "out_json", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the result JSON here.")
@click.option("--batch", default=_M.batch, show_default=True, type=click.IntRange(min=1), help="Generation batch size.")
@click.option("--seed", default=_M.seed, show_default=True, help="Seed of the generated latents and cameras.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def metrics_cmd(ckpt, category, data_dir, split_file, metrics, num_images, num_shapes, truncation, protocol, ref_meshes,
                num_points, inception, extractor, prompt, clip_models, clip_images, clip_views, out_json, batch, seed,
                device, quiet):
    """FID/KID on renders, COV/MMD/1-NNA (Chamfer) on shapes, CLIP score against a prompt; prints JSON."""
    from get3d.metrics.evaluate import evaluate, runnable_metrics

    if metrics is None:
        names, skipped = runnable_metrics(data_dir, ref_meshes, inception, extractor, prompt)
        for name, why in skipped.items():
            click.echo(f"skipped {name}: {why}", err=True)
        if not names:
            raise Get3dError("no metric can run with these inputs (see the lines above); give --data DATA "
                             "(and the Inception network for fid/kid), or --metrics clip --prompt TEXT")
        metrics = ",".join(names)
        click.echo(f"metrics: {metrics} (--metrics chooses)", err=True)

    feature_net = None
    if extractor is not None:
        from get3d.metrics.features import TorchScriptExtractor

        feature_net = TorchScriptExtractor(extractor, device=device or "cpu", input_dtype="uint8")
    result = evaluate(ckpt, data_dir, metrics, num_images=num_images, num_shapes=num_shapes, truncation=truncation,
                      ref_meshes=ref_meshes, num_points=num_points, inception=inception, extractor=feature_net,
                      device=device, seed=seed, batch=batch, category=category, split_file=split_file,
                      prompt=prompt, clip=clip_models, clip_images=clip_images, clip_views=clip_views,
                      protocol=protocol, progress=not quiet)
    text = json.dumps(result, indent=2)
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(text + "\n")
    click.echo(text)
    if out_json is not None:
        click.echo(f"written to {out_json}", err=True)


# ------------------------------------------------------------------------------------- distill-2d
def _rule_flags(fn):
    from get3d.distill.cli_options import rule_option_flags  # torch-free: the rules' options as flags

    return rule_option_flags(fn)


def _distill_2d_defaults():
    from get3d.distill.options import Distill2dOptions  # torch-free: the CLI starts fast

    return Distill2dOptions()


_D2 = _distill_2d_defaults()  # option defaults come from the dataclass (distill_2d() reads the same)


@cli.command("distill-2d")
@click.option("--prompt", required=True, help="Text the image should match.")
@click.option("--negative-prompt", default=_D2.negative_prompt, help="Unconditional / negative prompt (default: empty).")
@click.option("--rule", "rules", default=_D2.rules, show_default=True, help="sds, ism, sdi, or several: sds,ism,sdi.")
@click.option("--model", required=True, help="Stable Diffusion folder (diffusers layout) or hub id.")
@click.option("--steps", default=_D2.steps, show_default=True, type=click.IntRange(min=0),
              help="Optimisation steps per rule.")
@click.option("--lr", default=_D2.lr, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Adam learning rate on the latents.")
@click.option("--every", default=_D2.every, show_default=True, type=click.IntRange(min=1),
              help="Write an image every K steps.")
@click.option("--guidance", default=None, type=float, help="Guidance scale for every rule (default: each rule's).")
@click.option("--seed", default=_D2.seed, show_default=True, type=int, help="Seed of the noise.")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder [default: out/distill-2d-<prompt, shortened>]; a folder holding a run with "
              "other settings is refused.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--offline", is_flag=True, help="Never download: use the local folder or Hugging Face cache only.")
@click.option("--perp-neg", is_flag=True, default=_D2.perp_neg, help="Perp-Neg guidance: the other views' prompts "
              "as negatives, as for a view at --azimuth.")
@click.option("--azimuth", default=_D2.azimuth, show_default=True, type=float,
              help="--perp-neg: the view the image shows, degrees from the front.")
@_rule_flags
def distill_2d_cmd(prompt, negative_prompt, rules, model, steps, lr, every, guidance, seed, outdir, device, offline,
                   perp_neg, azimuth, **rule_flags):
    """Optimise one image with SDS / ISM / SDI from a grey start and compare the rules."""
    import dataclasses

    from get3d.distill.cli_options import collect_rule_options
    from get3d.distill.options import Distill2dOptions

    if not prompt.strip():
        raise Get3dError("--prompt is empty: give the text the image should match")
    options = _options_from_flags(Distill2dOptions).check()  # flags named as the fields
    names = options.rule_names()
    options = dataclasses.replace(options, rule_options=collect_rule_options(rule_flags, names, guidance)).check()
    if outdir is None:  # one folder per prompt: a second prompt never meets "holds another run"
        slug = "-".join(re.findall(r"[a-z0-9]+", prompt.lower()))[:40].strip("-") or "prompt"
        outdir = Path("out") / f"distill-2d-{slug}"
    from get3d.distill import load_diffusion
    from get3d.distill.playground import distill_2d

    prior = load_diffusion(model, device=device, local_files_only=True if offline else None)
    result = distill_2d(prior, prompt, options, outdir, progress=True, settings={"model": model})
    for name in names:
        click.echo(f"{name}: final loss {result.losses[name][-1] if result.losses[name] else 'n/a'}, "
                   f"{result.skipped[name]} non-finite steps skipped")
    click.echo(f"wrote {len(result.files)} files to {outdir}/ (comparison: {outdir}/grid.png)")


# ----------------------------------------------------------------------------------------- invert
def _invert_defaults():
    import get3d.invert.options as invert_options  # torch-free: the CLI starts fast

    return invert_options.InvertOptions(), invert_options.TUNE_STEPS, invert_options


# option defaults come from get3d.invert.options (invert() and invert_command() read the same)
_IV, _IV_TUNE_STEPS, _INV = _invert_defaults()


@cli.command("invert")
@click.option("--ckpt", required=True, help="Snapshot, run folder, bundled model name (e.g. tiny-chair) or GET3D .pt.")
@click.option("--image", "images", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Target image (repeat for several views): RGBA with the object in alpha, or RGB with --background.")
@click.option("--mesh", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Target mesh (any format render-dataset reads), rendered from --views cameras + a Chamfer term.")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--rotation", default=None, help="Camera rotation per image, degrees, comma-separated (GET3D convention).")
@click.option("--elevation", default=None, help="Camera elevation per image, degrees, comma-separated.")
@click.option("--cameras", "cameras_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="A GET3D camera folder (rotation.npy, elevation.npy) for the images, in order.")
@click.option("--background", default=None, help="Key out this background colour (white, black, grey, R,G,B) "
              "in images without transparency.")
@click.option("--key-tolerance", default=_INV.KEY_TOLERANCE, show_default=True, type=float,
              help="Background keying tolerance.")
@click.option("--views", default=_INV.MESH_VIEWS, show_default=True, type=int, help="--mesh: views rendered.")
@click.option("--mesh-scale", default=_INV.MESH_SCALE, show_default=True,
              help="--mesh: largest side after normalising: 'dataset' (the checkpoint's training data), a number, "
              "or 'keep' (the file's own units, e.g. a GLB from get3d generate).")
@click.option("--unlit", is_flag=True, help="--mesh: render flat albedo instead of render-dataset's lighting.")
@click.option("--res", "resolution", default=None, type=int, help="Render size (default: the model's).")
@click.option("--candidates", default=_IV.candidates, show_default=True, type=int, help="Stage 1: random codes tried.")
@click.option("--truncation", default=_IV.truncation, show_default=True, type=float, help="Stage 1: truncation psi.")
@click.option("--steps", default=_IV.steps, show_default=True, type=int, help="Stage 2: W+ optimisation steps.")
@click.option("--lr", default=_IV.lr, show_default=True, type=float)
@click.option("--lr-camera", default=_IV.lr_camera, show_default=True, type=float,
              help="Degrees per step (unknown cameras).")
@click.option("--w-silhouette", default=_IV.w_silhouette, show_default=True, type=float)
@click.option("--w-colour", default=_IV.w_colour, show_default=True, type=float)
@click.option("--w-chamfer", default=_IV.w_chamfer, show_default=True, type=float, help="--mesh: 3-D term.")
@click.option("--w-prior", default=_IV.w_prior, show_default=True, type=float, help="Keep codes near W's distribution.")
@click.option("--tune-generator", is_flag=True, help="Stage 3: pivotal tuning; writes OUTDIR/tuned-generator.json.")
@click.option("--tune-steps", default=_IV_TUNE_STEPS, show_default=True, type=int, help="Steps of --tune-generator.")
@click.option("--tune-lr", default=_IV.tune_lr, show_default=True, type=float)
@click.option("--seed", default=_IV.search_seed, show_default=True, type=int,
              help="Seed of stage 1's codes (and mesh views).")
@click.option("--format", "formats", default=_INV.FORMATS, show_default=True, help="Comma-separated: glb, obj, ply.")
@click.option("--texture-res", default=_INV.TEXTURE_RES, show_default=True, type=int)
@click.option("--snapshot-every", default=_IV.snapshot_every, show_default=True, type=int)
@click.option("--resume", default=None, help="'auto' (newest snapshot in OUTDIR/snapshots) or a snapshot path.")
@click.option("--category", default=None, help="Category of a GET3D .pt checkpoint.")
@click.option("--backend", default="auto", show_default=True, type=_BACKENDS, help="Rasterizer.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def invert_cmd(ckpt, images, mesh, outdir, rotation, elevation, cameras_dir, background, key_tolerance, views,
               mesh_scale, unlit, resolution, candidates, truncation, steps, lr, lr_camera, w_silhouette, w_colour,
               w_chamfer, w_prior, tune_generator, tune_steps, tune_lr, seed, formats, texture_res, snapshot_every,
               resume, category, backend, device, quiet):
    """Find the latent codes of an image (or images) or a mesh (GAN inversion), optionally
    fine-tuning the generator around them (pivotal tuning)."""
    from get3d.invert.command import invert_command, parse_angles
    from get3d.invert.options import InvertOptions

    options = InvertOptions(candidates=candidates, truncation=truncation, search_seed=seed, steps=steps, lr=lr,
                            lr_camera=lr_camera, w_silhouette=w_silhouette, w_colour=w_colour, w_chamfer=w_chamfer,
                            w_prior=w_prior, tune_steps=tune_steps if tune_generator else 0, tune_lr=tune_lr,
                            snapshot_every=snapshot_every)
    done = invert_command(ckpt, outdir, images, mesh, rotation=parse_angles(rotation, "rotation"),
                          elevation=parse_angles(elevation, "elevation"), cameras_dir=cameras_dir,
                          background=background, key_tolerance=key_tolerance, views=views, mesh_scale=mesh_scale,
                          unlit=unlit, resolution=resolution, options=options, formats=formats,
                          texture_res=texture_res, resume=resume, device=device, backend=backend, category=category,
                          progress=not quiet, log=lambda line: click.echo(line, err=True))
    final = done["metrics"]["final"]
    line = f"IoU {final['iou_mean']:.3f}, PSNR {final['psnr_mean']:.1f} dB"
    if "chamfer_x1e3" in final:
        line += f", Chamfer x1e3 {final['chamfer_x1e3']:.3f}"
    click.echo(f"{line}; wrote {len(done['files'])} files to {outdir}/ (latents.safetensors, before_after.png)")


# ----------------------------------------------------------------------------------------- refine
def _refine_defaults():
    from get3d.distill.options import RefineOptions  # torch-free: the CLI starts fast

    return RefineOptions()


_RF = _refine_defaults()  # option defaults come from the dataclass (refine() reads the same)


@cli.command("refine")
@click.option("--ckpt", default=None, help="Snapshot file or folder, bundled model name (e.g. tiny-chair) or GET3D .pt "
              "holding the asset's generator (with --seed).")
@click.option("--seed", default=None, help="Seed of the asset to refine (as in get3d generate --seeds).")
@click.option("--latents", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Instead of --seed: a latents.safetensors from get3d invert (with --ckpt).")
@click.option("--mesh", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Refine this mesh file instead (any format render-dataset reads; not with --ckpt/--seed).")
@click.option("--prompt", required=True, help="Text the asset should match from every side.")
@click.option("--negative-prompt", default=_RF.negative_prompt,
              help="Unconditional / negative prompt (default: empty).")
@click.option("--rule", default=_RF.rule, show_default=True, help="sds, ism or sdi.")
@click.option("--model", required=True, help="Stable Diffusion folder (diffusers layout) or hub id.")
@click.option("--steps", default=_RF.steps, show_default=True, type=click.IntRange(min=0),
              help="Total optimisation steps.")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: refined meshes, before_after.png, snapshots/, settings.json "
              "[default: out/refine-<model>-seed<N>, or out/refine-<mesh file name> with --mesh].")
@click.option("--guidance", default=None, type=float, help="Guidance scale (default: the rule's).")
@click.option("--lr-sdf", default=_RF.lr_sdf, show_default=True, type=click.FloatRange(min=0),
              help="Adam learning rate of the SDF values (the shape; 0 freezes it).")
@click.option("--lr-deformation", default=_RF.lr_deformation, show_default=True, type=click.FloatRange(min=0),
              help="Adam learning rate of the grid's vertex offsets (fine detail; 0 freezes them).")
@click.option("--lr-texture", default=_RF.lr_texture, show_default=True, type=click.FloatRange(min=0),
              help="Adam learning rate of the colour triplane (0 freezes it).")
@click.option("--sdf-reg-weight", default=_RF.sdf_reg_weight, show_default=True, type=click.FloatRange(min=0),
              help="GET3D's SDF regulariser.")
@click.option("--laplacian-weight", default=_RF.laplacian_weight, show_default=True, type=click.FloatRange(min=0),
              help="Mesh smoothness.")
@click.option("--geometry-only", is_flag=True, default=_RF.geometry_only, help="Freeze the texture.")
@click.option("--texture-only", is_flag=True, default=_RF.texture_only, help="Freeze the geometry.")
@click.option("--batch", default=_RF.batch, show_default=True, type=click.IntRange(min=1), help="Views per step.")
@click.option("--render-res", default=_RF.render_res, type=int, help="Render size (default: the model's image size).")
@click.option("--background", default=_RF.background, show_default=True,
              help="white, black, grey, R,G,B in [0,1], or random (a random solid colour per view and step).")
@click.option("--tet-res", default=_RF.tet_res, type=int, help="Tet grid to refine on (default: the checkpoint's; "
              f"{_RF.mesh_tet_res} for --mesh). A --ckpt asset's SDF is re-evaluated on the new grid.")
@click.option("--category", default=_RF.category,
              help="Category of a GET3D .pt checkpoint (car, chair, motorbike, ...).")
@click.option("--plane-res", default=_RF.plane_res, show_default=True, type=int, help="--mesh: colour triplane resolution.")
@click.option("--fit-steps", default=_RF.fit_steps, show_default=True, type=int,
              help="--mesh: steps fitting the colour field to the mesh's colours (0: grey).")
@click.option("--snapshot-every", default=_RF.snapshot_every, show_default=True, type=click.IntRange(min=1),
              help="Steps between snapshots (OUTDIR/snapshots; one is always written at the end).")
@click.option("--max-bad-steps", default=_RF.max_bad_steps, show_default=True, type=int,
              help="Stop after this many non-finite steps in a row (the last snapshot stays intact).")
@click.option("--export-every", default=_RF.export_every, show_default=True, type=int,
              help="Also export the mesh every K steps to OUTDIR/progress (0: only at the end).")
@click.option("--resume", default=None, help="'auto' (newest snapshot in OUTDIR/snapshots) or a snapshot path; "
              "needed to write into a folder holding a run, which must have the same settings.")
@click.option("--texture-res", default=_RF.texture_res, show_default=True, type=click.IntRange(min=8),
              help="Baked texture size.")
@click.option("--preview-res", default=_RF.preview_res, show_default=True, type=click.IntRange(min=8),
              help="Tile size of before_after.png and the turntable GIF.")
@click.option("--truncation", default=_RF.truncation, show_default=True, type=click.FloatRange(0, 1),
              help="Truncation psi of the --ckpt asset's latent (1 = none).")
@click.option("--run-seed", default=_RF.run_seed, show_default=True, type=int, help="Seed of cameras and noise.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--offline", is_flag=True, help="Never download: use the local folder or Hugging Face cache only.")
@click.option("--tensorboard", is_flag=True, default=_RF.tensorboard,
              help="TensorBoard scalars and render grids in OUTDIR/tb.")
@click.option("--perp-neg/--no-perp-neg", default=_RF.perp_neg, show_default=True,
              help="Perp-Neg guidance: the other views' prompts as negatives (needs the view prompts).")
@_rule_flags
def refine_cmd(ckpt, seed, latents, mesh, prompt, negative_prompt, rule, model, steps, outdir, guidance, lr_sdf,
               lr_deformation, lr_texture, sdf_reg_weight, laplacian_weight, geometry_only, texture_only, batch,
               render_res, background, tet_res, category, plane_res, fit_steps, snapshot_every, max_bad_steps,
               export_every, resume, texture_res, preview_res, truncation, run_seed, device, offline, tensorboard,
               perp_neg, **rule_flags):
    """Refine one asset (a checkpoint's seed, or a mesh file) toward a text prompt by score
    distillation (SDS, ISM, SDI)."""
    from get3d.distill.cli_options import collect_rule_options
    from get3d.distill.options import RefineOptions
    from get3d.distill.refine_run import refine_checkpoint, refine_mesh

    if mesh is not None and (ckpt is not None or seed is not None):
        raise Get3dError("--mesh replaces --ckpt/--seed: give either a mesh file or a checkpoint and seed")
    if mesh is None and ckpt is None:
        raise Get3dError("give the asset to refine: --ckpt CKPT --seed N, or --mesh PATH")
    if latents is not None and (seed is not None or mesh is not None):
        raise Get3dError("--latents replaces --seed (and goes with --ckpt, not --mesh)")
    if mesh is None and seed is None and latents is None:
        raise Get3dError("--seed is missing: give the seed of the asset to refine, as in get3d generate --seeds")
    if outdir is None:  # one folder per asset: refining two assets never meets "already holds a run"
        outdir = (_default_outdir("refine", mesh) if mesh is not None else
                  Path(f"{_default_outdir('refine', ckpt)}-seed{str(seed).strip()}"))
    options = _options_from_flags(RefineOptions)  # flags named as the fields; the rest are the defaults
    rule_options = collect_rule_options(rule_flags, [options.rule], guidance)[options.rule]
    options = dataclasses.replace(options, rule_options=rule_options)
    local_files_only = True if offline else None
    if mesh is not None:
        result = refine_mesh(mesh, prompt, model, outdir, options, device=device, local_files_only=local_files_only,
                             resume=resume, progress=True)
    else:
        result = refine_checkpoint(ckpt, seed, prompt, model, outdir, options, device=device, latents=latents,
                                   local_files_only=local_files_only, resume=resume, progress=True)
    click.echo(f"refined steps {result.start_step}-{result.steps} ({result.skipped} non-finite skipped); "
               f"wrote {len(result.files)} files to {outdir}/ (snapshots in {outdir}/snapshots)")


# ---------------------------------------------------------------------------------- finetune-text
def _finetune_defaults():
    from get3d.text.options import FinetuneOptions, background_text  # torch-free: the CLI starts fast

    options = FinetuneOptions()
    return options, background_text(options.background)


_FT, _FT_BACKGROUND = _finetune_defaults()  # option defaults come from the dataclass, not from copies here


@cli.command("finetune-text")
@click.option("--ckpt", required=True, help="Snapshot, run folder, bundled model name or GET3D .pt (with --category).")
@_category_option
@click.option("--source", required=True, help="What the generator makes now, e.g. 'a chair' (or 'a car').")
@click.option("--target", required=True, help="What it should make, e.g. 'a golden throne'.")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Snapshots, TensorBoard logs and before_after.png.")
@click.option("--clip", "clip_models", default=",".join(CLIP_MODELS),
              show_default=True, help="CLIP folders or hub ids, comma-separated (losses summed).")
@click.option("--clip-weights", default=None, help="Weights of the CLIP models, comma-separated (default: 1 each).")
@click.option("--layers", default=_FT.layers, show_default=True, type=click.Choice(["texture", "geometry", "all", "auto"]),
              help="Which layers learn (auto: StyleGAN-NADA's adaptive choice of --top-k layers per step).")
@click.option("--top-k", default=_FT.top_k, show_default=True, help="--layers auto: layers unfrozen per step.")
@click.option("--auto-iters", default=_FT.auto_iters, show_default=True, help="--layers auto: W+ optimisation steps.")
@click.option("--iters", default=_FT.iters, show_default=True, help="Optimisation steps.")
@click.option("--batch", default=_FT.batch, show_default=True, help="Latents per step.")
@click.option("--views", default=_FT.views, show_default=True, help="Cameras per latent.")
@click.option("--lr", default=_FT.lr, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Adam learning rate (StyleGAN-NADA: 0.002 x 0.8).")
@click.option("--truncation", default=_FT.truncation, show_default=True, help="Truncation psi of the trained latents.")
@click.option("--res", "resolution", default=None, type=int, help="Render size (default: the CLIP input size).")
@click.option("--background", default=_FT_BACKGROUND, show_default=True, help="white, black, grey or R,G,B in [0,1].")
@click.option("--templates", default=_FT.templates, show_default=True, type=click.Choice(["imagenet", "none"]),
              help="Prompt templates averaged into the text direction.")
@click.option("--seed", default=_FT.seed, show_default=True, help="Seed of latents and cameras.")
@click.option("--snapshot-every", default=_FT.snapshot_every, show_default=True, help="Iterations between snapshots.")
@click.option("--keep-snapshots", default=_FT.keep_snapshots, show_default=True, help="Newest snapshots kept (0: all).")
@click.option("--grid-seeds", default=_FT.grid_seeds, show_default=True, help="Seeds in the before/after grid.")
@click.option("--resume", default=None, help="'auto' (newest snapshot in OUTDIR) or a snapshot path; needed to "
              "write into a folder holding a run, which must have the same settings.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def finetune_text_cmd(ckpt, category, source, target, outdir, clip_models, clip_weights, layers, top_k, auto_iters,
                      iters, batch, views, lr, truncation, resolution, background, templates, seed, snapshot_every,
                      keep_snapshots, grid_seeds, resume, device, quiet):
    """Fine-tune a whole generator toward a text (StyleGAN-NADA's directional CLIP loss, as in GET3D)."""
    from get3d.text.finetune import finetune_checkpoint
    from get3d.text.options import FinetuneOptions

    options = _options_from_flags(FinetuneOptions)  # flags named as the fields; the rest are the defaults
    result = finetune_checkpoint(ckpt, source, target, outdir, options, clip=clip_models, resume=resume, device=device,
                                 progress=not quiet, log=lambda line: click.echo(line, err=True), category=category)
    from get3d.generate import before_after_gallery

    # The grid's seeds in 3-D, base and result side by side (outdir/before, outdir/after).
    page = before_after_gallery(ckpt, result.snapshot, list(range(options.grid_seeds)), outdir,
                                f'get3d finetune-text: "{source}" -> "{target}" (step {result.steps})',
                                overview=[result.grid] if result.grid else [],
                                settings={"checkpoint": str(ckpt), "source": source, "target": target,
                                          "snapshot": str(result.snapshot), "options": options.to_dict()},
                                truncation=options.grid_truncation,
                                device=device, category=category, log=lambda line: click.echo(line, err=True))
    click.echo(f"{result.steps} iterations ({result.skipped_steps} non-finite skipped), last loss "
               f"{result.last_loss:.4f}; snapshot {result.snapshot}; before/after grid {result.grid}; "
               f"gallery {page}")
    click.echo(f"sample it: get3d generate --ckpt {outdir} --outdir {outdir}/samples")


# ---------------------------------------------------------------------------------- geometry-demo
@cli.command("geometry-demo")
@click.option("--outdir", default="out/geometry-demo", show_default=True, help="Folder for the meshes.")
@click.option("--res", default=_GD.res, show_default=True, type=click.IntRange(min=3),
              help="Tet grid, named like GET3D's tet_res (64, 90, 128...).")
@click.option("--format", "formats", default=_GD.formats, show_default=True, help="Comma-separated mesh formats.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
def geometry_demo(outdir, res, formats, device):
    """Extract analytic shapes with marching tetrahedra and write them as mesh files."""
    from get3d.geometry.demo import run_geometry_demo

    records = run_geometry_demo(outdir, res=res, formats=formats, device=device)
    click.echo(f"{'shape':<8} {'verts':>7} {'faces':>7} {'closed':>6} {'euler':>5} {'vol err':>8} {'ms':>6}")
    for r in records:
        err = "-" if r["volume_error"] is None else f"{100 * r['volume_error']:+.2f}%"
        click.echo(f"{r['name']:<8} {r['verts']:>7} {r['faces']:>7} {str(r['closed']):>6} {r['euler']:>5} "
                   f"{err:>8} {1000 * r['seconds']:>6.1f}")
    click.echo(f"meshes written to {outdir}/ (open them in Blender or any glTF viewer)")


# --------------------------------------------------------------------------------------- tet-grid
@cli.command("tet-grid")
@click.option("--res", default=GET3D_TET_RES, show_default=True, help="Grid resolution, named like GET3D's tet_res.")
def tet_grid_cmd(res):
    """Build (or load) the tet grid for --res, cache it on disk and print its size as JSON."""
    from get3d.geometry.tets import grid_cache_file, cells_for_resolution, edge_table, tet_grid

    verts, tets = tet_grid(res)
    cells = cells_for_resolution(res)
    click.echo(json.dumps({
        "tet_res": res, "bcc_cells": cells, "verts": len(verts), "tets": len(tets),
        "edges": len(edge_table(tets).edges), "cache": str(grid_cache_file(cells)),
    }))


def main():
    cli(prog_name="get3d")

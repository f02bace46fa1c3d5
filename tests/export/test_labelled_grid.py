"""Labelled grids (before/after images, the distill-2d grid): words where people look, tiles big
enough to see, every tile where its row and column say."""
import numpy as np
import pytest
import torch

from get3d.errors import Get3dError
from get3d.export.previews import labelled_grid


def _tiles(rows, cols, size):
    colours = torch.rand(rows, cols, 3, generator=torch.Generator().manual_seed(0)) * 0.6  # darker than white
    return colours[:, :, None, None, :].expand(rows, cols, size, size, 3).clone(), colours


def test_tiles_are_enlarged_and_placed_under_their_labels():
    tiles, colours = _tiles(2, 3, 32)
    image = labelled_grid(tiles, ["before", "after"], ["30 deg", "150 deg", "270 deg"], "a prompt - sds - step 7")
    height, width, _ = image.shape
    # 32 px tiles become 4x: 128 px; labels add a left column and a top band.
    left, top = width - 3 * 128, height - 2 * 128
    assert left > 0 and top > 0
    for r in range(2):
        for c in range(3):
            centre = image[top + r * 128 + 64, left + c * 128 + 64]
            assert torch.allclose(centre, colours[r, c], atol=1 / 255 + 1e-6), (r, c)
    ink = lambda region: (region < 0.5).any().item()  # noqa: E731 - dark text pixels
    assert ink(image[:top, :])  # title and column labels
    assert ink(image[top:top + 128, :left]) and ink(image[top + 128:, :left])  # one label per row


def test_a_long_title_wraps_instead_of_running_off():
    tiles, _ = _tiles(1, 2, 16)
    short = labelled_grid(tiles, title="a chair")
    long = labelled_grid(tiles, title=" ".join(["a very ornate golden throne"] * 8))
    assert long.shape[1] == short.shape[1] and long.shape[0] > short.shape[0]


def test_large_tiles_are_kept_as_they_are_and_bad_input_is_one_line():
    tiles, _ = _tiles(1, 1, 200)
    assert labelled_grid(tiles).shape == (200, 200, 3)
    with pytest.raises(Get3dError, match="R,C,H,W,3"):
        labelled_grid(torch.zeros(2, 8, 8, 3))

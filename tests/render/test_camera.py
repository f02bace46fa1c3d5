import math

import pytest
import torch

from get3d.errors import Get3dError
from get3d.render.camera import (
    DEFAULT_FAR,
    DEFAULT_FOVY,
    DEFAULT_NEAR,
    Cameras,
    camera_position,
    look_at,
    orbit,
    perspective,
    sample_training_cameras,
    view_projection,
    world_to_clip,
    world_to_pixel,
)

RES = 256


def _pixel(points, rotation, elevation, res=RES):
    """Pixel coords [N, 2] of world points [N, 3] for one (r, e) camera."""
    pts = torch.tensor(points, dtype=torch.float32)[None]
    return world_to_pixel(pts, view_projection(rotation, elevation), res)[0]


def test_fovy_is_blender_35mm_lens_on_32mm_sensor():
    assert DEFAULT_FOVY == pytest.approx(math.radians(49.1343), abs=1e-4)


@pytest.mark.parametrize("r,e", [(0, 0), (90, 0), (30, 20), (200, 10), (315, 45), (123.4, -15)])
def test_camera_position_formula(r, e):
    rr, ee = math.radians(r), math.radians(e)
    expected = 1.2 * torch.tensor([-math.cos(ee) * math.sin(rr), math.sin(ee), -math.cos(ee) * math.cos(rr)])
    got = camera_position(r, e)
    assert got.shape == (1, 3)
    torch.testing.assert_close(got[0], expected, atol=1e-6, rtol=0)


def test_camera_position_batched_and_radius():
    rot = torch.tensor([0.0, 90.0, 180.0])
    elev = torch.tensor([0.0, 0.0, 90.0])
    got = camera_position(rot, elev, radius=2.0)
    expected = torch.tensor([[0.0, 0.0, -2.0], [-2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_origin_projects_to_image_centre_for_any_view():
    for r, e in [(0, 0), (90, 0), (37, 25), (250, 5)]:
        px = _pixel([[0.0, 0.0, 0.0]], r, e)[0]
        torch.testing.assert_close(px, torch.tensor([RES / 2, RES / 2]), atol=1e-3, rtol=0)


def test_front_view_axes_r0():
    # r=0, e=0: camera at (0, 0, -1.2) looking along +Z with +Y up, so (right-handed) world +X
    # is the camera's LEFT.
    up, right_x = _pixel([[0.0, 0.3, 0.0], [0.3, 0.0, 0.0]], 0, 0)
    assert up[1] < RES / 2 - 10 and abs(up[0] - RES / 2) < 1e-3  # +Y: above centre, same column
    assert right_x[0] < RES / 2 - 10 and abs(right_x[1] - RES / 2) < 1e-3  # +X: left of centre


def test_side_view_axes_r90():
    # r=90: camera at (-1.2, 0, 0) looking along +X; world +Z appears to the right and +X (the
    # depth axis) stays at the centre.
    z_pt, x_pt = _pixel([[0.0, 0.0, 0.3], [0.3, 0.0, 0.0]], 90, 0)
    assert z_pt[0] > RES / 2 + 10 and abs(z_pt[1] - RES / 2) < 1e-3
    torch.testing.assert_close(x_pt, torch.tensor([RES / 2, RES / 2]), atol=1e-3, rtol=0)


def test_known_point_lands_at_predicted_pixel():
    # Point (0, 0.2, 0) at r=0, e=0 lies 1.2 in front of the camera, 0.2 above the axis:
    # NDC y = (0.2 / 1.2) / tan(fovy / 2) = (1/6) * 35 / 16.
    px = _pixel([[0.0, 0.2, 0.0]], 0, 0)[0]
    ndc_y = (0.2 / 1.2) * 35.0 / 16.0
    torch.testing.assert_close(px, torch.tensor([RES / 2, (1 - ndc_y) / 2 * RES]), atol=1e-3, rtol=0)


def test_elevated_camera_sees_top_higher_up():
    # The camera's up vector stays in the vertical plane through the Y axis, so a point on +Y
    # projects straight above the centre for any rotation, also from above (e=30).
    for r in (0, 77, 180):
        px = _pixel([[0.0, 0.4, 0.0]], r, 30)[0]
        assert px[1] < RES / 2 and abs(px[0] - RES / 2) < 1e-3


def test_look_at_is_rigid_and_maps_eye_to_origin():
    eye = camera_position(torch.tensor([10.0, 100.0, 260.0]), torch.tensor([5.0, 20.0, 60.0]))
    view = look_at(eye)
    assert view.shape == (3, 4, 4)
    rot = view[:, :3, :3]
    torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(3, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.det(rot), torch.ones(3), atol=1e-5, rtol=0)
    eye_h = torch.cat((eye, torch.ones(3, 1)), -1)[:, :, None]
    torch.testing.assert_close((view @ eye_h)[:, :3, 0], torch.zeros(3, 3), atol=1e-5, rtol=0)
    # The origin is straight ahead: camera-space (0, 0, -1.2).
    origin = torch.tensor([0.0, 0.0, 0.0, 1.0])
    torch.testing.assert_close(view @ origin, torch.tensor([0.0, 0.0, -1.2, 1.0]).expand(3, 4), atol=1e-5, rtol=0)


def test_look_at_straight_down_is_finite():
    view = look_at(camera_position(0.0, 90.0))
    assert torch.isfinite(view).all()
    # Limit of r=0 as e -> 90: camera right is world -X.
    torch.testing.assert_close(view[0, 0, :3], torch.tensor([-1.0, 0.0, 0.0]), atol=1e-5, rtol=0)


def test_perspective_maps_near_far_to_ndc_bounds():
    proj = perspective()
    near = proj @ torch.tensor([0.0, 0.0, -DEFAULT_NEAR, 1.0])
    far = proj @ torch.tensor([0.0, 0.0, -DEFAULT_FAR, 1.0])
    assert near[2] / near[3] == pytest.approx(-1.0, abs=1e-5)
    assert far[2] / far[3] == pytest.approx(1.0, abs=1e-5)
    # The top edge of the frustum maps to NDC y = 1.
    t = math.tan(DEFAULT_FOVY / 2)
    edge = proj @ torch.tensor([0.0, 2.0 * t, -2.0, 1.0])
    assert edge[1] / edge[3] == pytest.approx(1.0, abs=1e-5)


def test_mvp_equals_projection_after_view():
    rot, elev = torch.tensor([15.0, 200.0]), torch.tensor([10.0, 25.0])
    mvp = view_projection(rot, elev)
    pts = torch.rand(2, 7, 3) - 0.5
    view = look_at(camera_position(rot, elev))
    pts_h = torch.cat((pts, torch.ones(2, 7, 1)), -1)
    expected = (perspective()[None] @ (view @ pts_h.transpose(1, 2))).transpose(1, 2)
    torch.testing.assert_close(world_to_clip(pts, mvp), expected, atol=1e-5, rtol=0)
    cams = Cameras(rot, elev)
    torch.testing.assert_close(cams.mvp(), mvp)


def test_near_far_enclose_unit_cube_from_default_radius():
    cams = Cameras.sample_training_cameras(16, torch.Generator().manual_seed(0))
    corners = torch.tensor([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    clip = world_to_clip(corners.expand(16, 8, 3), cams.mvp())
    ndc_z = clip[..., 2] / clip[..., 3]
    assert (clip[..., 3] > 0).all() and (ndc_z > -1).all() and (ndc_z < 1).all()


def test_sampled_cameras_in_range_and_reproducible():
    a = sample_training_cameras(64, torch.Generator().manual_seed(123))
    b = Cameras.sample_training_cameras(64, torch.Generator().manual_seed(123))
    c = Cameras.sample_training_cameras(64, torch.Generator().manual_seed(124))
    assert len(a) == 64
    assert (a.rotation >= 0).all() and (a.rotation < 360).all()
    assert (a.elevation >= 0).all() and (a.elevation < 30).all()
    torch.testing.assert_close(a.rotation, b.rotation)
    torch.testing.assert_close(a.elevation, b.elevation)
    assert not torch.equal(a.rotation, c.rotation)
    d = Cameras.sample_training_cameras(
        200, torch.Generator().manual_seed(0), rot_range=(-10, 10), elev_range=(40, 50)
    )
    assert (d.rotation >= -10).all() and (d.rotation <= 10).all()
    assert (d.elevation >= 40).all() and (d.elevation <= 50).all()
    assert d.rotation.min() < -5 and d.rotation.max() > 5  # actually spread over the range


def test_orbit_views():
    cams = orbit(4, elevation=15.0)
    torch.testing.assert_close(cams.rotation, torch.tensor([0.0, 90.0, 180.0, 270.0]))
    torch.testing.assert_close(cams.elevation, torch.full((4,), 15.0))
    assert cams[1].rotation.tolist() == [90.0]
    assert len(cams[1:3]) == 2


def test_user_mistakes_raise_get3d_error():
    with pytest.raises(Get3dError, match="elevation"):
        Cameras(torch.zeros(3), torch.zeros(2))
    with pytest.raises(Get3dError, match="points"):
        world_to_clip(torch.zeros(4, 3), view_projection(0.0, 0.0))
    with pytest.raises(Get3dError, match="mvp"):
        world_to_clip(torch.zeros(2, 4, 3), view_projection(0.0, 0.0))
    with pytest.raises(Get3dError, match="rot_range"):
        Cameras.sample_training_cameras(2, rot_range=(10, 0))
    with pytest.raises(Get3dError, match="near"):
        perspective(near=2.0, far=1.0)
    with pytest.raises(Get3dError, match="elevation_deg"):
        camera_position(torch.zeros(3), torch.zeros(2))

"""Spatial transformer networks: identity at init, localisation nets, parallel and series."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnlab.core.registry import list_mechanisms
from attnlab.vision.grids import (
    GRID_GENERATORS,
    ThinPlateSplineGrid,
    make_grid_generator,
    normalized_meshgrid,
)
from attnlab.vision.spatial_transformer import (
    ConvLocalisation,
    MLPLocalisation,
    ParallelSpatialTransformers,
    SequentialSpatialTransformers,
    SpatialTransformer,
    SpatialTransformerOutput,
    find_regression_layer,
    init_identity_,
    spatial_transformer_param_groups,
)
from helpers import assert_close, gradcheck

F64 = torch.float64
ALIGN = [False, True]
# float32 grid_sample rounds the unnormalised coordinate to about size * eps pixels, which moves
# a N(0, 1) image by ~1e-5 at 42 x 42 even for an exact identity grid
ATOL32 = 1e-4


def _mlp_stn(
    size: tuple[int, int], channels: int = 1, grid: str = "affine", **kwargs
) -> SpatialTransformer:
    num_params = make_grid_generator(grid).num_params
    localisation = MLPLocalisation(channels * size[0] * size[1], num_params, hidden_dims=(8,))
    return SpatialTransformer(localisation, grid=grid, **kwargs)


# ------------------------------------------------------------------ identity at initialisation


@pytest.mark.parametrize("align_corners", ALIGN)
@pytest.mark.parametrize("size", [(1, 1), (4, 4), (5, 7), (8, 6)])
@pytest.mark.parametrize("grid", list(GRID_GENERATORS))
def test_identity_at_init_reproduces_the_input(
    grid: str, size, align_corners: bool, dtype, device
) -> None:
    stn = _mlp_stn(size, channels=2, grid=grid, align_corners=align_corners)
    stn = stn.to(device=device, dtype=dtype)
    image = torch.randn(3, 2, *size, dtype=dtype, device=device)
    out = stn(image)
    identity = stn.grid_generator.identity(device=device, dtype=dtype)
    assert_close(out.theta, identity.expand(3, -1))
    atol = ATOL32 if dtype == torch.float32 else 1e-10
    assert_close(out.context, image, atol=atol, rtol=0)


def test_identity_at_init_with_the_conv_localisation() -> None:
    for grid in GRID_GENERATORS:
        num_params = make_grid_generator(grid).num_params
        loc = ConvLocalisation(1, num_params, input_size=(42, 42))
        stn = SpatialTransformer(loc, grid=grid)
        image = torch.randn(2, 1, 42, 42)
        out = stn(image)
        assert_close(out.context, image, atol=ATOL32, rtol=0)
        assert (loc.regression.weight == 0).all()


@pytest.mark.parametrize("grid", list(GRID_GENERATORS))
def test_identity_at_init_holds_for_any_localisation_module(grid: str) -> None:
    num_params = make_grid_generator(grid).num_params
    loc = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 10), nn.Tanh(),
        nn.Linear(10, num_params),
    )
    stn = SpatialTransformer(loc, grid=grid)
    assert find_regression_layer(loc) is loc[5]
    assert (loc[5].weight == 0).all()
    image = torch.randn(2, 1, 7, 7)
    assert_close(stn(image).context, image, atol=1e-5, rtol=0)


# ------------------------------------------------------------------ shapes and gradients


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("grid", list(GRID_GENERATORS))
def test_forward_backward_shapes(batch: int, grid: str, device) -> None:
    stn = _mlp_stn((9, 10), channels=2, grid=grid, output_size=(5, 6)).to(device)
    image = torch.randn(batch, 2, 9, 10, device=device, requires_grad=True)
    out = stn(image)
    assert isinstance(out, SpatialTransformerOutput)
    assert out._fields[:2] == ("context", "weights")
    assert out.context.shape == (batch, 2, 5, 6)
    assert out.weights is out.theta and out.theta.shape == (batch, stn.num_params)
    assert out.grid.shape == (batch, 5, 6, 2)
    (out.context * torch.randn_like(out.context)).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    regression = stn.localisation.regression
    # zero-initialised regression weights still receive a non-zero gradient
    assert regression.weight.grad is not None and regression.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in stn.parameters())


def test_gradcheck_through_the_transformer() -> None:
    stn = _mlp_stn((4, 5), grid="affine").to(F64)
    with torch.no_grad():  # a non-identity state so that every path carries gradient
        for p in stn.parameters():
            p.add_(0.1 * torch.randn_like(p))
    image = torch.randn(2, 1, 4, 5, dtype=F64, requires_grad=True)
    assert gradcheck(lambda x: stn(x).context, [image])


def test_warp_with_given_theta_equals_torch() -> None:
    stn = _mlp_stn((6, 7), channels=3, output_size=(4, 5), padding_mode="border")
    image = torch.randn(2, 3, 6, 7)
    theta = torch.randn(2, 6)
    out = stn.warp(image, theta)
    grid = F.affine_grid(theta.reshape(2, 2, 3), (2, 3, 4, 5), align_corners=False)
    expected = F.grid_sample(image, grid, padding_mode="border", align_corners=False)
    assert_close(out.context, expected)


def test_learns_a_translation() -> None:
    # end to end: the localisation bias learns the shift that aligns a blob with its target
    torch.manual_seed(0)
    mesh = normalized_meshgrid((16, 16))  # the pixel centres in the align_corners=False frame

    def blob(cx: float, cy: float) -> torch.Tensor:
        return torch.exp(-((mesh[..., 0] - cx) ** 2 + (mesh[..., 1] - cy) ** 2) / 0.1)[None, None]

    image, target = blob(0.3, -0.2), blob(0.0, 0.0)
    stn = _mlp_stn((16, 16), grid="translation")
    optimizer = torch.optim.Adam(stn.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        F.mse_loss(stn(image).context, target).backward()
        optimizer.step()
    # output (0, 0) must read input (0.3, -0.2): t = (0.3, -0.2) (grids map output -> input)
    assert_close(stn(image).theta[0], torch.tensor([0.3, -0.2]), atol=0.02, rtol=0)


# ------------------------------------------------------------------ localisation networks


def test_conv_localisation_follows_the_paper_layout() -> None:
    # ST-CNN (appendix A.4): downsample x2, 2 x (conv 5x5, 20 filters, 2x2 max-pool), FC 20
    loc = ConvLocalisation(1, 6, input_size=(42, 42))
    convs = [m for m in loc.features if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(20, (5, 5)), (20, (5, 5))]
    assert sum(isinstance(m, nn.MaxPool2d) for m in loc.features) == 2
    assert isinstance(loc.features[0], nn.AvgPool2d)
    hidden = [m for m in loc.features if isinstance(m, nn.Linear)]
    # 42 -> 21 -> conv 17 -> pool 8 -> conv 4 -> pool 2: 20 * 2 * 2 features
    assert [(h.in_features, h.out_features) for h in hidden] == [(80, 20)]
    assert (loc.regression.in_features, loc.regression.out_features) == (20, 6)
    assert sum(p.numel() for p in loc.parameters()) == 520 + 10020 + 1620 + 126


def test_mlp_localisation_layout() -> None:
    loc = MLPLocalisation(784, 32)
    widths = [(m.in_features, m.out_features) for m in loc.modules() if isinstance(m, nn.Linear)]
    assert widths == [(784, 32), (32, 32), (32, 32)]
    assert loc(torch.randn(2, 1, 28, 28)).shape == (2, 32)


def test_localisation_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="input_size"):
        ConvLocalisation(1, 6, input_size=(28, 28))  # 28 -> 14 -> 10 -> 5 -> 1 -> 0
    small = ConvLocalisation(1, 6, input_size=(28, 28), downsample=1)
    assert small(torch.randn(1, 1, 28, 28)).shape == (1, 6)
    with pytest.raises(ValueError, match="input_size"):
        ConvLocalisation(1, 6, input_size=(0, 28))
    with pytest.raises(ValueError, match="num_params"):
        ConvLocalisation(1, 0, input_size=(42, 42))
    loc = ConvLocalisation(1, 6, input_size=(42, 42))
    with pytest.raises(ValueError, match="input_size"):
        loc(torch.randn(1, 1, 40, 42))
    with pytest.raises(ValueError, match="in_features"):
        MLPLocalisation(100, 6)(torch.randn(2, 1, 9, 9))


def test_identity_init_options() -> None:
    loc = nn.Sequential(nn.Flatten(), nn.Linear(16, 6))
    before = loc[1].weight.detach().clone()
    SpatialTransformer(loc, init_identity=False)
    assert torch.equal(loc[1].weight, before)
    with pytest.raises(ValueError, match="init_identity"):
        SpatialTransformer(nn.Flatten())
    with pytest.raises(ValueError, match="out_features"):
        SpatialTransformer(nn.Sequential(nn.Flatten(), nn.Linear(16, 6)), grid="tps")
    with pytest.raises(ValueError, match="bias"):
        init_identity_(nn.Linear(4, 6, bias=False), torch.zeros(6))


# ------------------------------------------------------------------ learning rate


def test_param_groups_apply_the_lr_multiplier() -> None:
    stn = _mlp_stn((4, 4), lr_multiplier=0.1)
    head = nn.Linear(16, 3)
    model = nn.Sequential(stn, nn.Flatten(), head)
    groups = spatial_transformer_param_groups(model, 0.01)
    assert [g["lr"] for g in groups] == pytest.approx([0.001, 0.01])
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in stn.localisation.parameters()}
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in head.parameters()}
    optimizer = torch.optim.SGD(groups, lr=0.01)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.001, 0.01])
    assert len(stn.param_groups(0.5)) == 1 and stn.param_groups(0.5)[0]["lr"] == pytest.approx(0.05)
    # the default multiplier 1 gives one group at the base rate
    plain = nn.Sequential(_mlp_stn((4, 4)), nn.Flatten(), nn.Linear(16, 3))
    assert [g["lr"] for g in spatial_transformer_param_groups(plain, 0.01)] == [0.01]
    with pytest.raises(ValueError, match="lr_multiplier"):
        _mlp_stn((4, 4), lr_multiplier=-1.0)


# ------------------------------------------------------------------ parallel and series


def test_parallel_transformers_concatenate_channels() -> None:
    # the MNIST-addition layout: 2 transformers, each sees and warps both channels
    stns = [_mlp_stn((12, 12), channels=2, grid=g, output_size=(8, 8)) for g in ("tps", "affine")]
    parallel = ParallelSpatialTransformers(stns)
    image = torch.randn(3, 2, 12, 12)
    out = parallel(image)
    assert out.context.shape == (3, 4, 8, 8)
    assert [w.shape for w in out.weights] == [(3, 32), (3, 6)]
    for n, stn in enumerate(stns):
        assert_close(out.context[:, 2 * n: 2 * n + 2], stn(image).context)
        assert out.outputs[n].theta is out.weights[n]
    out.context.sum().backward()
    assert all(p.grad is not None for p in parallel.parameters())


def test_series_transformers_chain() -> None:
    first = _mlp_stn((10, 10), output_size=(8, 8))
    second = _mlp_stn((8, 8), grid="attention", output_size=(6, 6))
    with torch.no_grad():
        first.localisation.regression.bias.copy_(torch.tensor([0.8, 0.1, 0.0, -0.1, 0.9, 0.1]))
        second.localisation.regression.bias.copy_(torch.tensor([0.7, 0.1, -0.2]))
    series = SequentialSpatialTransformers([first, second])
    image = torch.randn(2, 1, 10, 10)
    out = series(image)
    expected = second(first(image).context)
    assert_close(out.context, expected.context)
    assert [w.shape for w in out.weights] == [(2, 6), (2, 3)]
    assert out.context.shape == (2, 1, 6, 6)


def test_parallel_and_series_bad_inputs() -> None:
    with pytest.raises(ValueError, match="transformers"):
        ParallelSpatialTransformers([])
    with pytest.raises(TypeError, match="transformers"):
        SequentialSpatialTransformers([nn.Identity()])  # type: ignore[list-item]
    mismatched = ParallelSpatialTransformers(
        [_mlp_stn((6, 6), output_size=(4, 4)), _mlp_stn((6, 6), output_size=(3, 3))]
    )
    with pytest.raises(ValueError, match="output size"):
        mismatched(torch.randn(1, 1, 6, 6))
    with pytest.raises(ValueError, match="image"):
        mismatched(torch.randn(1, 6, 6))


# ------------------------------------------------------------------ bad inputs


def test_bad_inputs_raise() -> None:
    stn = _mlp_stn((5, 5))
    with pytest.raises(ValueError, match="image"):
        stn(torch.randn(1, 5, 5))
    with pytest.raises(ValueError, match="image"):
        stn(torch.randn(1, 1, 0, 5))
    with pytest.raises(ValueError, match="theta"):
        stn.warp(torch.randn(2, 1, 5, 5), torch.randn(2, 2, 3))
    with pytest.raises(ValueError, match="theta"):
        stn.warp(torch.randn(2, 1, 5, 5), torch.randn(1, 6))
    wrong = SpatialTransformer(
        nn.Sequential(nn.Flatten(), nn.Linear(25, 6), nn.Unflatten(1, (2, 3)))
    )
    with pytest.raises(ValueError, match="theta"):
        wrong(torch.randn(2, 1, 5, 5))
    loc = MLPLocalisation(25, 6)
    for output_size in [(0, 4), (4, 0), (4,), (4.0, 4)]:
        with pytest.raises(ValueError, match="output_size"):
            SpatialTransformer(loc, output_size=output_size)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grid"):
        SpatialTransformer(loc, grid="elastic")
    with pytest.raises(ValueError, match="padding_mode"):
        SpatialTransformer(loc, padding_mode="wrap")
    with pytest.raises(TypeError, match="align_corners"):
        SpatialTransformer(loc, align_corners=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="localisation"):
        SpatialTransformer(lambda x: x)  # type: ignore[arg-type]


# ------------------------------------------------------------------ registry


def test_registered_with_the_survey_tags() -> None:
    (entry,) = [e for e in list_mechanisms() if e.name == "spatial_transformer"]
    assert entry.cls is SpatialTransformer
    assert entry.tags == {
        "sequences": ("self",),
        "levels": ("single",),
        "positions": ("soft",),
        "representations": ("single",),
    }
    assert "1506.02025" in entry.paper.url
    module, args, kwargs = entry.example()
    out = module(*args, **kwargs)
    assert out.weights.shape == (args[0].shape[0], 6)
    assert_close(out.context, args[0], atol=1e-5, rtol=0)


def test_tps_transformer_with_custom_control_grid() -> None:
    grid = ThinPlateSplineGrid((5, 5))
    stn = SpatialTransformer(MLPLocalisation(36, grid.num_params), grid=grid)
    image = torch.randn(2, 1, 6, 6)
    out = stn(image)
    assert out.theta.shape == (2, 50)
    assert_close(out.context, image, atol=1e-5, rtol=0)

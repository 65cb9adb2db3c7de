"""mixup_any.viz on the non-interactive Agg backend: every kind of explanatory figure, grids, histograms."""

from __future__ import annotations

import io

import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from mixup_any import CutMix, MixUp, MixupError  # noqa: E402
from mixup_any.viz import explain, plot_lambda_hist, plot_mix, plot_mixed_batch  # noqa: E402

YA, YB, YM = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.6, 0.4, 0.0])


def render(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


@pytest.mark.parametrize("kind,a,b,m", [
    ("image", torch.rand(3, 8, 8), torch.rand(3, 8, 8), torch.rand(3, 8, 8)),
    ("image", torch.rand(8, 8), torch.rand(8, 8), torch.rand(8, 8)),
    ("series", torch.randn(50), torch.randn(50), torch.randn(50)),
    ("series", torch.randn(2, 50), torch.randn(2, 50), torch.randn(2, 50)),
    ("tabular", torch.randn(6), torch.randn(6), torch.randn(6)),
    ("text", ["the", "cat", "sat"], ["a", "dog", "ran", "off"], torch.tensor([0.6, 0.6, 0.6, 0.6])),
])
def test_plot_mix_every_kind(kind, a, b, m):
    fig = plot_mix(a, b, m, YA, YB, YM, kind=kind, lam=0.6, class_names=["x", "y", "z"], title=kind)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes] == ["sample a (λ = 0.60)", "sample b (1 − λ = 0.40)", "mix",
                                                  "target a", "target b", "mixed target"]
    heights = [p.get_height() for p in fig.axes[5].patches]
    assert heights == pytest.approx(YM.tolist())
    render(fig)


def test_auto_kind_and_shared_image_scale():
    a, b = torch.zeros(4, 4), torch.full((4, 4), 2.0)
    fig = plot_mix(a, b, (a + b) / 2, YA, YB, YM)
    arrays = [ax.images[0].get_array() for ax in fig.axes[:3]]
    assert float(arrays[0].max()) == 0.0 and float(arrays[1].min()) == 1.0 and float(arrays[2].mean()) == 0.5


@pytest.mark.parametrize("mixer", [MixUp(alpha=1.0, seed=0), CutMix(alpha=1.0, seed=0)], ids=repr)
def test_explain_draws_the_mixers_row(mixer):
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    g = torch.Generator().manual_seed(3)
    fig = explain(mixer, x, y, row=1, num_classes=3, generator=g)
    p = mixer.sample(x.shape, labels=y, generator=torch.Generator().manual_seed(3))
    expected = mixer.mix(x, p)[1, 0]
    lo = min(float(x[1].min()), float(x[int(p.index[1])].min()), float(expected.min()))
    hi = max(float(x[1].max()), float(x[int(p.index[1])].max()), float(expected.max()))
    shown = torch.as_tensor(fig.axes[2].images[0].get_array().data)
    torch.testing.assert_close(shown.float(), ((expected - lo) / (hi - lo)).float())
    bars = [q.get_height() for q in fig.axes[5].patches]
    assert sum(bars) == pytest.approx(1.0)
    render(fig)


def test_mixed_batch_grid_and_hist():
    fig = plot_mixed_batch(torch.rand(5, 3, 8, 8), torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]), ncols=4)
    assert len(fig.axes) == 8 and fig.axes[4].get_title() == "λ = 0.50" and not fig.axes[7].axison
    render(fig)
    fig = plot_lambda_hist(MixUp(alpha=0.4, per_sample=True, seed=0), n=300, bins=10)
    assert sum(p.get_height() for p in fig.axes[0].patches) == 300
    fig = plot_lambda_hist(CutMix(per_sample=True, seed=0), n=200)
    fig = plot_lambda_hist(torch.rand(50))
    render(fig)


def test_errors():
    with pytest.raises(MixupError, match="kind must be one of"):
        plot_mix(torch.rand(4), torch.rand(4), torch.rand(4), YA, YB, YM, kind="video")
    with pytest.raises(MixupError, match="lists of tokens"):
        plot_mix(torch.rand(4), torch.rand(4), torch.rand(4), YA, YB, YM, kind="text")
    with pytest.raises(MixupError, match="Cannot guess"):
        plot_mix(torch.rand(2, 2, 2, 2), torch.rand(2, 2, 2, 2), torch.rand(2, 2, 2, 2), YA, YB, YM)
    with pytest.raises(MixupError, match="needs images"):
        plot_mixed_batch(torch.rand(4, 5), torch.rand(4))
    with pytest.raises(MixupError, match="needs a Mixer or a tensor"):
        plot_lambda_hist([0.1, 0.2])

"""TabularMixer: one draw for continuous columns, every categorical embedding and the target."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from mixup_any import MixParams, MixUp, attach  # noqa: E402
from mixup_any.exceptions import MixupError  # noqa: E402
from mixup_any.params import Swap  # noqa: E402
from mixup_any.tabular import TabularMixer, TabularMLP  # noqa: E402
from mixup_any.tabular.mixer import one_hot_blocks  # noqa: E402

CARDS = [5, 7, 4]


def _batch(b: int = 8, d: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_cont = torch.randn(b, d, generator=g)
    x_cat = torch.stack([torch.randint(0, c, (b,), generator=g) for c in CARDS], 1)
    y = torch.randint(0, 3, (b,), generator=g)
    return x_cont, x_cat, y


def _capture(model: TabularMLP) -> tuple[dict[int, torch.Tensor], list]:
    seen: dict[int, torch.Tensor] = {}
    hs = [emb.register_forward_hook(lambda m, a, out, j=j: seen.__setitem__(j, out.detach().clone()))
          for j, emb in enumerate(model.embeddings)]
    return seen, hs


def _output_with_plan(tm: TabularMixer, at, model: TabularMLP, p: MixParams, x_cont, x_cat):
    """The model's output in a forward armed with the given plan (``model(x_cont, x_cat)``, called unchanged)."""
    with attach(tm, model, at=at) as mix:
        mix.arm(torch.zeros(x_cont.shape[0], dtype=torch.long), params=p)
        return model(x_cont, x_cat)


def _inputs_seen(model: nn.Module) -> tuple[dict, object]:
    """Record the inputs the model's forward receives (a pre-hook registered after the handle's)."""
    seen: dict = {}
    h = model.register_forward_pre_hook(lambda m, a, kw: seen.update(args=a, kwargs=kw), with_kwargs=True)
    return seen, h


@pytest.mark.parametrize("at", ["glob", "names", "instances", "type"])
def test_same_draw_for_continuous_and_every_embedding(at):
    model = TabularMLP(3, CARDS, 3, dropout=0.0)
    spec = {"glob": "embeddings.*", "names": [f"embeddings.{j}" for j in range(3)],
            "instances": list(model.embeddings), "type": nn.Embedding}[at]
    tm = TabularMixer(MixUp(alpha=1.0, per_sample=True, seed=1))
    x_cont, x_cat, y = _batch()
    with torch.no_grad():
        plain = [emb(x_cat[:, j]) for j, emb in enumerate(model.embeddings)]
    with attach(tm, model, at=spec) as mix:
        seen, hs = _capture(model)  # registered after the mixing hooks, so they see mixed outputs
        inputs, h_in = _inputs_seen(model)
        mix.arm(y)
        model(x_cont, x_cat)
        target = mix.target(y)
        for h in [*hs, h_in]:
            h.remove()
    xc, xk = inputs["args"]
    p = mix.params
    lam, idx = p.lam, p.index
    assert len(set(lam.tolist())) > 1 and not torch.equal(idx, torch.arange(8))  # a real per-row draw
    w = lam[:, None]
    torch.testing.assert_close(xc, w * x_cont + (1 - w) * x_cont[idx])
    for j in range(3):
        torch.testing.assert_close(seen[j], w * plain[j] + (1 - w) * plain[j][idx])
    assert torch.equal(xk, x_cat)  # codes pass through untouched; the embeddings were mixed
    assert torch.equal(target.lam, lam) and torch.equal(target.y_b, y[idx])
    assert all(not emb._forward_hooks for emb in model.embeddings)  # removed on exit


def test_hooking_the_joined_embeddings_equals_hooking_each():
    model = TabularMLP(3, CARDS, 3, dropout=0.0)
    x_cont, x_cat, _ = _batch()
    p = MixUp(alpha=1.0, per_sample=True, seed=2).sample((8,))
    outs = [_output_with_plan(TabularMixer(MixUp()), site, model, p, x_cont, x_cat)
            for site in ("embeddings.*", "embedded")]
    torch.testing.assert_close(outs[0], outs[1])


@pytest.mark.parametrize("per_sample", [False, True])
def test_hooking_the_joined_input_equals_mixing_the_continuous_input_and_each_embedding(per_sample):
    model = TabularMLP(3, CARDS, 3, dropout=0.0)
    x_cont, x_cat, _ = _batch()
    p = MixUp(alpha=1.0, per_sample=per_sample, seed=4).sample((8,))
    # continuous mixed at the input, each embedding hooked
    ref = _output_with_plan(TabularMixer(MixUp()), "embeddings.*", model, p, x_cont, x_cat)
    # the continuous columns enter unmixed: the joined hook mixes them
    got = _output_with_plan(TabularMixer(MixUp(), continuous_at_site=True), "joined", model, p, x_cont, x_cat)
    torch.testing.assert_close(got, ref)
    assert not model.joined._forward_hooks


def test_hooks_removed_even_on_error():
    model = TabularMLP(3, CARDS, 3)
    tm = TabularMixer(MixUp(alpha=1.0, seed=0))
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), attach(tm, model, at="embeddings.*") as mix:
            mix.arm(torch.zeros(8, dtype=torch.long))
            raise error
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_onehot_mixing_equals_embedding_mixing():
    """A linear layer on one-hot blocks is an embedding: "onehot" and "embedding" give the same model output."""
    torch.manual_seed(0)
    model = TabularMLP(3, CARDS, 3, dropout=0.0)
    x_cont, x_cat, y = _batch()
    p = MixUp(alpha=1.0, per_sample=True, seed=3).sample((8,))
    out_emb = _output_with_plan(TabularMixer(MixUp()), "embeddings.*", model, p, x_cont, x_cat)
    oh_tm = TabularMixer(MixUp(), categorical_mixing="onehot", cardinalities=CARDS)
    xc2, oh = oh_tm.mix(x_cont, x_cat, p)
    assert oh.is_floating_point() and oh.shape == (8, sum(CARDS))
    torch.testing.assert_close(oh.sum(1), torch.full((8,), 3.0))  # each block still sums to 1
    torch.testing.assert_close(model(xc2, oh), out_emb)
    # the handle feeds the model the same one-hot blocks inside its forward
    torch.testing.assert_close(_output_with_plan(oh_tm, None, model, p, x_cont, x_cat), out_emb)


@settings(max_examples=25, deadline=None)
@given(lam=st.floats(0.0, 1.0), seed=st.integers(0, 2**16), d=st.integers(0, 4))
def test_swap_never_interpolates_and_lam_is_kept_fraction(lam, seed, d):
    b, k = 16, 3
    x_cont, x_cat, y = _batch(b, max(d, 1), seed)
    x_cont = x_cont[:, :d] if d else None
    x_cat = x_cat * 0 + torch.arange(b)[:, None] * 10 + torch.arange(k)  # every code distinct
    tm = TabularMixer(MixUp(lam=lam), categorical_mixing="swap")
    p = tm.sample(x_cont, x_cat, generator=torch.Generator().manual_seed(seed))
    xc, xk = tm.mix(x_cont, x_cat, p)
    assert xk.dtype == x_cat.dtype
    partner = x_cat[p.index] if p.mixed else x_cat
    assert bool(((xk == x_cat) | (xk == partner)).all())  # own or partner category, nothing in between
    if not p.mixed:
        assert torch.equal(xk, x_cat)
        return
    own = (xk == x_cat) | (p.index == torch.arange(b))[:, None]
    swapped = p.extra.mask
    assert torch.equal(xk, torch.where(swapped, partner, x_cat))
    kept = (~swapped).float().sum(1)
    torch.testing.assert_close(p.target_lam, (d * lam + kept) / (d + k))
    torch.testing.assert_close(p.lam_rows(), torch.full((b,), float(lam)))  # the weight of the continuous columns
    assert torch.equal(tm.mix_target(y, p).lam, p.target_lam)  # targets weigh the kept share, not lam
    if d:
        torch.testing.assert_close(xc, lam * x_cont + (1 - lam) * x_cont[p.index])
    assert bool(own[~swapped].all())


def test_swap_probability_is_one_minus_lam():
    x_cat = torch.zeros(4000, 5, dtype=torch.long)
    tm = TabularMixer(MixUp(lam=0.3), categorical_mixing="swap")
    p = tm.sample(None, x_cat, generator=torch.Generator().manual_seed(0))
    kept = 1 - p.extra.mask.float().mean()
    assert abs(float(kept) - 0.3) < 0.02  # 20,000 Bernoulli draws: sd ≈ 0.003
    torch.testing.assert_close(p.target_lam.mean(), kept)


@pytest.mark.parametrize("mixing", ["embedding", "onehot", "swap"])
def test_lam_one_is_identity(mixing):
    model = TabularMLP(3, CARDS, 3, dropout=0.0)
    x_cont, x_cat, y = _batch()
    tm = TabularMixer(MixUp(lam=1.0), categorical_mixing=mixing, cardinalities=CARDS)
    with torch.no_grad():
        ref = model(x_cont, x_cat)
    with attach(tm, model, at="embeddings.*" if mixing == "embedding" else None) as mix:
        inputs, h = _inputs_seen(model)
        mix.arm(y)
        out = model(x_cont, x_cat)
        target = mix.target(y)
        h.remove()
    torch.testing.assert_close(out, ref)
    assert torch.equal(inputs["args"][0], x_cont)
    assert torch.equal(target.lam_rows(), torch.ones(8))


def test_codes_never_interpolated_and_embedding_needs_hooks():
    x_cont, x_cat, y = _batch()
    tm = TabularMixer(MixUp(alpha=1.0, seed=0))
    p = tm.sample(x_cont, x_cat)
    with pytest.raises(MixupError, match="integer category codes, got torch.float32"):
        tm.mix(x_cont, x_cat.float(), p)
    with pytest.raises(MixupError, match=r"embedding modules: pass attach\(TabularMixer\(...\), model, at="):
        attach(tm, TabularMLP(3, CARDS, 3))


def test_same_generator_seed_same_draw():
    x_cont, x_cat, _ = _batch()
    tm = TabularMixer(MixUp(alpha=0.4), categorical_mixing="swap")
    a = tm.sample(x_cont, x_cat, generator=torch.Generator().manual_seed(5))
    b = tm.sample(x_cont, x_cat, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.lam_rows(), b.lam_rows()) and torch.equal(a.index, b.index)
    assert torch.equal(a.extra.mask, b.extra.mask)


def test_one_hot_blocks_reference():
    x_cat = torch.tensor([[4, 0, 3], [1, 6, 0]])
    ref = torch.cat([nn.functional.one_hot(x_cat[:, j], c).float() for j, c in enumerate(CARDS)], 1)
    assert torch.equal(one_hot_blocks(x_cat, CARDS), ref)
    with pytest.raises(MixupError, match="outside"):
        one_hot_blocks(torch.tensor([[5, 0, 0]]), CARDS)


class OwnModel(nn.Module):
    """A user's model: its own names, a dict batch, embeddings not in a ModuleList."""

    def __init__(self) -> None:
        super().__init__()
        self.home = nn.Embedding(5, 3)
        self.job = nn.Embedding(7, 2)
        self.head = nn.Linear(4 + 3 + 2, 2)

    def forward(self, num: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([num, self.home(cats[:, 0]), self.job(cats[:, 1])], 1))


def test_wrapping_a_users_model():
    model = OwnModel()
    tm = TabularMixer(MixUp(alpha=1.0, num_classes=2, seed=0), continuous="num", categorical="cats")
    g = torch.Generator().manual_seed(0)
    batch = {"num": torch.randn(6, 4, generator=g), "cats": torch.randint(0, 5, (6, 2), generator=g)}
    y = torch.randint(0, 2, (6,), generator=g)
    with attach(tm, model, at=["home", model.job]) as mix:
        seen, hs = {}, [model.home.register_forward_hook(lambda m, a, o: seen.__setitem__("home", o))]
        inputs, h = _inputs_seen(model)
        mix.arm(y)
        loss = mix.loss(nn.functional.cross_entropy, model(**batch), y)
        mixed, p, home = inputs["kwargs"], mix.params, seen["home"]
        mix.arm(y)
        model(batch["num"], batch["cats"])  # positional call: the same inputs are found by name
        positional = inputs["args"]
        mix.target(y)
        hs[0].remove()
        h.remove()
    loss.backward()
    assert set(mixed) == {"num", "cats"} and torch.equal(mixed["cats"], batch["cats"])
    w = p.lam_rows()[:, None]
    torch.testing.assert_close(mixed["num"], w * batch["num"] + (1 - w) * batch["num"][p.index])
    assert not torch.equal(positional[0], batch["num"]) and torch.equal(positional[1], batch["cats"])
    with torch.no_grad():
        e = model.home(batch["cats"][:, 0])
    torch.testing.assert_close(home, w * e + (1 - w) * e[p.index])
    assert model.home.weight.grad is not None
    wrong = TabularMixer(MixUp(), continuous="x", categorical=None, categorical_mixing="swap")
    with attach(wrong, model) as mix, pytest.raises(MixupError, match="without the table's inputs.*continuous='x'"):
        mix.arm(y)
        model(**batch)


def test_replay_given_params():
    x_cont, x_cat, _ = _batch()
    p = MixParams(lam=torch.full((8,), 0.25), index=torch.arange(8).flip(0))
    swap = TabularMixer(MixUp(), categorical_mixing="swap")
    with pytest.raises(MixupError, match=r"TabularMixer\(categorical_mixing='swap'\) replays plans with Swap"):
        swap.mix(x_cont, x_cat, p)  # no mask: a swap plan cannot be replayed without it
    mask = torch.zeros_like(x_cat, dtype=torch.bool)
    mask[:, 0] = True
    xc, xk = swap.mix(x_cont, x_cat, dataclasses.replace(p, extra=Swap(mask)))
    torch.testing.assert_close(xc, 0.25 * x_cont + 0.75 * x_cont.flip(0))
    assert torch.equal(xk[:, 0], x_cat.flip(0)[:, 0]) and torch.equal(xk[:, 1:], x_cat[:, 1:])
    with pytest.raises(MixupError, match="MixUp replays plans with no record, but this plan carries Swap"):
        MixUp().mix(x_cont, dataclasses.replace(p, extra=Swap(mask)))


def test_bad_arguments():
    with pytest.raises(MixupError, match="Unknown categorical_mixing 'blend'"):
        TabularMixer(categorical_mixing="blend")
    with pytest.raises(MixupError, match="needs cardinalities"):
        TabularMixer(categorical_mixing="onehot")
    with pytest.raises(MixupError, match="TabularMixer needs a Mixer"):
        TabularMixer(mixer="mixup")


def test_continuous_at_site_leaves_the_input_unmixed_and_needs_a_hooked_site():
    x_cont, x_cat, _ = _batch()
    p = MixUp(alpha=1.0, seed=5).sample((8,))
    tm = TabularMixer(MixUp(), continuous_at_site=True)
    xc, xk = tm.mix(x_cont, x_cat, p)
    assert xc is x_cont and xk is x_cat  # the hook at the site mixes them
    with pytest.raises(MixupError, match="continuous_at_site"):
        TabularMixer(MixUp(), continuous_at_site=True, categorical_mixing="swap")
    with pytest.raises(MixupError, match="embedding modules"):
        attach(tm, TabularMLP(3, CARDS, 3))
    with pytest.raises(MixupError, match="only categorical_mixing='embedding' mixes"):
        attach(TabularMixer(MixUp(), categorical_mixing="swap"), TabularMLP(3, CARDS, 3), at="joined")


@pytest.mark.parametrize("mixing", ["swap", "onehot", "embedding"])
def test_regmixup_on_the_tabular_route_keeps_the_clean_half_and_replays_the_mixed_half(mixing):
    """mode='regmixup': the first half of model(cat([x, x])) is the clean forward, the second half the forward
    of the same batch mixed by the plan alone (same plan replayed without RegMixup), and the loss is RegMixup's."""
    import torch.nn.functional as F

    from mixup_any.modes import regmixup_loss

    torch.manual_seed(0)
    model = TabularMLP(3, CARDS, 3, dropout=0.0)
    x_cont, x_cat, y = _batch()
    at = "embeddings.*" if mixing == "embedding" else None
    tm = TabularMixer(MixUp(alpha=1.0, num_classes=3, seed=0), categorical_mixing=mixing, cardinalities=CARDS)
    with attach(tm, model, at=at, mode="regmixup", eta=0.7) as mix:
        mix.arm(y)
        out = model(torch.cat([x_cont, x_cont]), torch.cat([x_cat, x_cat]))
        plan, target = mix.params, mix.target(y)
        loss = regmixup_loss(F.cross_entropy, out, target, eta=0.7)
    torch.testing.assert_close(out[:8], model(x_cont, x_cat))  # clean half: no hook mixed it
    with attach(tm, model, at=at) as mix:
        mix.arm(y, params=plan)
        mixed_out = model(x_cont, x_cat)
        torch.testing.assert_close(out[8:], mixed_out)
        mixed_target = mix.target(y)
    from mixup_any import mixed_loss

    expected = F.cross_entropy(out[:8], y) + 0.7 * mixed_loss(F.cross_entropy, mixed_out, mixed_target)
    torch.testing.assert_close(loss, expected)
    with attach(tm, model, at=at, mode="regmixup") as mix:
        mix.arm(y)
        with pytest.raises(MixupError, match="concatenate every input with itself"):
            model(x_cont, x_cat)


def test_a_swap_plan_on_another_device_is_refused_not_copied():
    x_cont, x_cat, y = _batch()
    tm = TabularMixer(MixUp(alpha=1.0, seed=0), categorical_mixing="swap", cardinalities=CARDS)
    p = tm.sample(x_cont, x_cat, labels=y)
    meta = dataclasses.replace(p, lam=p.lam_rows().to("meta"), index=p.index.to("meta"),
                               extra=Swap(p.extra.mask.to("meta")), target_lam=p.target_lam.to("meta"))
    with pytest.raises(MixupError, match="is on meta"):
        tm.mix(None, x_cat, meta)

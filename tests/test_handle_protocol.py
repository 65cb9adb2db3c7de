"""One handle protocol for every modality: hooks, text and tables run the same loop with the same verbs.

Each route is built on a tiny model in code; every test runs the README's five-line loop shape on all of them.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_any import MixParams, MixUp, MixupError, attach
from mixup_any.handle import MixHandle, mixes
from mixup_any.tabular import TabularMixer, TabularMLP
from mixup_any.text import TextMixer

B = 6


class TinyText(nn.Module):
    """Token embeddings, mean pooling over the attention mask, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.emb, self.head = nn.Embedding(12, 4), nn.Linear(4, 3)

    def get_input_embeddings(self) -> nn.Module:
        return self.emb

    def forward(self, input_ids, attention_mask):
        m = attention_mask[..., None].float()
        return self.head((self.emb(input_ids) * m).sum(1) / m.sum(1))


def route(name: str, seed: int = 0):
    """``(model, attach() -> handle, call(model) -> output, y)`` for one modality."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(B) % 3
    mixer = MixUp(alpha=1.0, per_sample=True, num_classes=3, seed=seed)
    if name == "hooks":
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
        x = torch.randn(B, 5, generator=g)
        return model, lambda: attach(mixer, model, at="1"), lambda m: m(x), y
    if name == "text":
        model = TinyText()
        ids = torch.randint(1, 12, (B, 4), generator=g)
        mask = torch.ones(B, 4, dtype=torch.long)
        mask[::2, 3] = 0
        batch = {"input_ids": ids, "attention_mask": mask}
        return model, lambda: attach(TextMixer(mixer), model, at="tokens"), lambda m: m(**batch), y
    model = TabularMLP(3, [4, 5], 3, dropout=0.0)
    x_cont, x_cat = torch.randn(B, 3, generator=g), torch.randint(0, 4, (B, 2), generator=g)
    return model, lambda: attach(TabularMixer(mixer), model, at="embeddings.*"), lambda m: m(x_cont, x_cat), y


ROUTES = ["hooks", "text", "tabular"]


@pytest.mark.parametrize("name", ROUTES)
def test_the_same_loop_trains_every_modality(name):
    model, attach_, call, y = route(name)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with attach_() as mix:
        assert isinstance(mix, MixHandle)
        for _ in range(2):
            mix.arm(y)
            out = call(model)
            loss = mix.loss(F.cross_entropy, out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert mix.params.mixed and bool((mix.params.lam < 1).any()) and set(mix.calls.values()) == {1}
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("name", ROUTES)
def test_loss_is_the_mixed_loss_of_the_target_and_a_plan_replays_bit_for_bit(name):
    model, attach_, call, y = route(name)
    with attach_() as mix:
        mix.arm(y)
        out = call(model)
        p, target = mix.params, mix.target(y)
        by_hand = (p.lam * F.cross_entropy(out, y, reduction="none")
                   + (1 - p.lam) * F.cross_entropy(out, y[p.index], reduction="none")).mean()
        mix.arm(y, params=p)
        again = call(model)
        torch.testing.assert_close(mix.loss(F.cross_entropy, again, y), by_hand)
    assert torch.equal(again, out) and torch.equal(target.lam_rows(), p.lam_rows()) and torch.equal(target.y_b, y[p.index])


@pytest.mark.parametrize("name", ROUTES)
def test_eval_mode_is_the_identity_also_for_a_given_plan(name):
    model, attach_, call, y = route(name)
    model.eval()
    plain = call(model)
    plan = MixParams(lam=torch.full((B,), 0.5), index=torch.arange(B).flip(0))
    with attach_() as mix, pytest.warns(UserWarning, match="eval mode"):
        for params in (None, plan):
            mix.arm(y, params=params)
            assert torch.equal(call(model), plain)
            assert not mix.target(y).mixed and not mix.params.mixed
    assert not mixes(model) and mixes(model.train()) and not mixes(model, "erm")


@pytest.mark.parametrize("name", ROUTES)
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_forward_leaves_nothing_armed(name, interrupt):
    model, attach_, call, y = route(name)
    plain = call(model)
    stop = model.register_forward_hook(lambda m, a, o: (_ for _ in ()).throw(interrupt()))
    with attach_() as mix:
        mix.arm(y)
        with pytest.raises(interrupt):
            call(model)
        stop.remove()
        assert torch.equal(call(model), plain) and not mix.armed  # the next forward is not mixed
    with pytest.raises(interrupt), attach_() as mix:
        mix.arm(y)
        raise interrupt()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("name", ROUTES)
def test_labels_are_a_tensor_with_the_batch_rows(name):
    model, attach_, call, y = route(name)
    with attach_() as mix:
        for bad in ([0, 1, 2], torch.tensor(1)):  # None is allowed: B then comes from the forward
            with pytest.raises(MixupError, match=r"arm\(labels\) needs the batch's targets"):
                mix.arm(bad)
        with pytest.raises(MixupError, match="the plan is for 5 rows, but the batch has 6"):
            mix.arm(y, params=MixParams.identity(5))
        mix.arm(y[:4])
        with pytest.raises(MixupError, match="4"):
            call(model)
        assert not mix.armed


def test_the_attached_model_alone_decides_whether_to_mix():
    """A mixer left in eval mode (or following another model) still mixes while the attached model trains,
    and follows what it followed before once the handle is removed."""
    model = nn.Sequential(nn.Linear(4, 3)).train()
    other = nn.Linear(1, 1).eval()
    mixer = MixUp(alpha=1.0, num_classes=3, seed=0).follow(other)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    with attach(mixer, model, at="input") as mix:
        mix.arm(y)
        model(x)
        assert mix.params is not None and mix.params.mixed
        model.eval()
        mix.arm(y)
        model(x)
        assert not mix.params.mixed
    assert not mixer.is_training  # following `other` again, which is in eval mode
    other.train()
    assert mixer.is_training


class TinyTextWithLoss(TinyText):
    """A model that computes its own loss when given labels, as Hugging Face models do."""

    def forward(self, input_ids, attention_mask, labels=None):
        logits = super().forward(input_ids, attention_mask)
        return logits if labels is None else (F.cross_entropy(logits, labels), logits)


def test_text_armed_forward_refuses_labels_the_model_would_use_unmixed():
    model = TinyTextWithLoss().train()
    ids, mask = torch.randint(0, 12, (B, 5)), torch.ones(B, 5, dtype=torch.long)
    y = torch.arange(B) % 3
    with attach(TextMixer(MixUp(alpha=1.0, num_classes=3, seed=0)), model, at="tokens") as mix:
        mix.arm(y)
        with pytest.raises(MixupError, match="labels="):
            model(input_ids=ids, attention_mask=mask, labels=y)
        mix.arm(y)
        out = model(input_ids=ids, attention_mask=mask)  # without labels: mixed, the handle's loss
        assert mix.params is not None and mix.params.mixed and torch.isfinite(mix.loss(F.cross_entropy, out, y))
        model.eval()
        mix.arm(y)
        loss, _ = model(input_ids=ids, attention_mask=mask, labels=y)  # eval: nothing mixed, labels are fine
        assert torch.isfinite(loss)


def test_text_cutmix_needs_a_token_axis_and_says_so():
    from mixup_any import CutMix

    model = TinyText().train()
    ids, mask = torch.randint(0, 12, (B, 5)), torch.ones(B, 5, dtype=torch.long)
    with attach(TextMixer(CutMix(num_classes=3, seed=0)), model, at="tokens") as mix:
        mix.arm(torch.arange(B) % 3)
        with pytest.raises(MixupError, match=r"CutMix\(axis=1\)"):
            model(input_ids=ids, attention_mask=mask)
    with attach(TextMixer(CutMix(axis=1, num_classes=3, seed=0)), model, at="tokens") as mix:
        mix.arm(torch.arange(B) % 3)
        model(input_ids=ids, attention_mask=mask)
        assert mix.params is not None and mix.params.mixed


def test_eval_mode_mixes_nothing_on_every_route_a_given_plan_included():
    """The direct call agrees with the handles: in eval mode a given plan is not applied."""
    from mixup_any import attach

    mixer = MixUp(alpha=1.0, num_classes=3, seed=0)
    x, y = torch.randn(6, 4), torch.arange(6) % 3
    plan = mixer.sample(x.shape, labels=y)
    assert plan.mixed
    mixed, target = mixer(x, y, params=plan)
    assert not torch.equal(mixed, x)
    mixer.eval()
    same, target = mixer(x, y, params=plan)
    assert same is x and bool((target.lam_rows() == 1).all())
    model = nn.Linear(4, 3).eval()
    with attach(mixer.train(), model, at="input") as mix:
        mix.arm(y, params=plan)
        torch.testing.assert_close(model(x), nn.functional.linear(x, model.weight, model.bias))
        assert not mix.params.mixed


@pytest.mark.parametrize("name", ROUTES)
def test_arm_without_labels_draws_the_same_plan_when_the_draw_does_not_read_them(name):
    model, attach_, call, y = route(name)
    with attach_() as mix:
        mix.arm(y)
        with_labels = call(model)
        p = mix.params
        mix.target(y)
    model2, attach2, call2, _ = route(name)  # the same seed: the same stream of plans
    with attach2() as mix2:
        mix2.arm()
        without = call2(model2)
        target = mix2.target(y)
    assert mix2.params.mixed and torch.equal(mix2.params.index, p.index)
    torch.testing.assert_close(mix2.params.lam_rows(), p.lam_rows())
    torch.testing.assert_close(without, with_labels)
    assert torch.equal(target.y_b, y[p.index])


def test_arm_without_labels_is_refused_when_the_pairing_reads_them():
    model = nn.Sequential(nn.Linear(5, 3))
    with attach(MixUp(pairing="same_class", seed=0), model, at="0") as mix:
        with pytest.raises(MixupError, match=r"arm\(\) needs the batch's targets: .* Call mix.arm\(y\)"):
            mix.arm()
        mix.arm(torch.arange(4) % 2)  # with them it mixes
        model(torch.randn(4, 5))
        assert mix.params.mixed


# ------------------------------------------------------------------ the public route interface


class Scaled(nn.Module):
    """Returns ``(features, scale)``: the route picks element 0 to mix."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x), 2.0


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = Scaled(), Scaled()

    def forward(self, x):
        return self.a(x)[0] + self.b(x)[0]


def test_a_route_written_with_public_names_only_plugs_into_attach():
    """A user's route: ``bind`` is called once with the model and ``at``; its adapter's ``choose`` and ``output``
    become the handle's; ``prepare`` sees each armed forward's inputs and ``check`` each selected site's tensor
    before the mix, and an error raised there reaches the caller with the hooks disarmed."""
    from mixup_any.handle import Adapter, Route

    seen: dict[str, list] = {"bind": [], "prepare": [], "check": []}
    refuse: set[str] = set()

    class Both(Adapter):
        choose, output = "all", 0

        def prepare(self, handle, args, kwargs):
            seen["prepare"].append(args[0].shape)
            return (args[0] * 1.0,), kwargs

        def check(self, handle, name, module, t):
            seen["check"].append((name, tuple(t.shape)))
            if name in refuse:
                raise MixupError(f"{name} refused")

    class MyRoute(Route):
        def bind(self, model, at):
            seen["bind"].append(at)
            return ["a", "b"] if at is None else at, Both()

    model, x, y = Outer(), torch.randn(B, 4), torch.arange(B) % 3
    mixer = MixUp(alpha=1.0, num_classes=3, seed=0)
    with attach(MyRoute(mixer), model) as mix:
        mix.arm(y)
        out = model(x)
        p = mix.params
        mix.target(y)
    assert seen["bind"] == [None] and seen["prepare"] == [x.shape]
    assert seen["check"] == [("a", (B, 3)), ("b", (B, 3))]  # choose="all": both sites, element 0 of each
    w = p.lam_rows()[:, None]
    ref = sum(w * m.lin(x) + (1 - w) * m.lin(x)[p.index] for m in (model.a, model.b))
    torch.testing.assert_close(out, ref)
    refuse.add("b")
    with attach(MyRoute(mixer), model) as mix:
        mix.arm(y)
        with pytest.raises(MixupError, match="b refused"):
            model(x)
        assert not mix.armed
    with pytest.raises(MixupError, match="mixes its sites with choose='all', got choose='one'"):
        attach(MyRoute(mixer), model, choose="one")
    with pytest.raises(MixupError, match="MyRoute needs a Mixer"):
        MyRoute(lambda x: x)
    Both.output = 1  # the float element: the handle refuses it before any check
    with attach(MyRoute(mixer), model, at="a") as mix:
        mix.arm(y)
        with pytest.raises(MixupError, match=r"output\[1\] is a float"):
            model(x)
        assert not mix.armed
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_a_plain_mixer_defaults_to_the_input_and_a_route_to_its_own_site():
    model = nn.Sequential(nn.Linear(4, 3))
    with attach(MixUp(alpha=1.0, seed=0), model) as mix:
        assert mix.sites == ["input"]
    text = TinyText()
    with attach(TextMixer(MixUp(alpha=1.0, seed=0)), text) as mix:
        assert mix.sites == ["emb"] and mix.adapter.mask == "union"
    with pytest.raises(MixupError, match="needs a Mixer .* or a route wrapping one"):
        attach(lambda t: t, model)


def test_a_table_route_without_sites_still_refuses_a_second_live_handle():
    from mixup_any import HookSiteError

    model = TabularMLP(3, [4, 5], 3)
    swap = TabularMixer(MixUp(), categorical_mixing="swap")
    with attach(swap, model) as mix:
        assert mix.sites == []
        with pytest.raises(HookSiteError, match="already hooked by a live handle"):
            attach(swap, model)
    with attach(swap, model):  # removed: free again
        pass


def test_taken_says_whether_the_armed_forwards_target_was_taken():
    model, y = nn.Sequential(nn.Linear(4, 3)), torch.tensor([0, 1, 2, 1])
    with attach(MixUp(alpha=1.0, seed=0), model, at="0") as mix:
        mix.arm(y)
        assert not mix.taken
        model(torch.randn(4, 4))
        assert not mix.taken
        mix.target(y)
        assert mix.taken
        mix.arm(y)
        out = model(torch.randn(4, 4))
        mix.loss(F.cross_entropy, out, y)
        assert mix.taken

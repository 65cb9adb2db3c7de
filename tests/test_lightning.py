"""Lightning: MixupCallback (hook sites armed per batch, schedule off at an epoch, state in checkpoints) and
MixupModuleMixin (input mixing in on_after_batch_transfer), run with Lightning's Trainer on CPU for a few steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch")

from mixup_any import HookSiteError, MixSchedule, MixUp, MixupError, mixed_loss  # noqa: E402
from mixup_any.integrations.lightning import MixupCallback, MixupModuleMixin, default_labels  # noqa: E402

B, D, C, BATCHES = 4, 6, 3, 2
pytestmark = [pytest.mark.filterwarnings("ignore:.*LeafSpec.*"), pytest.mark.filterwarnings("ignore:.*val_dataloader.*")]


def _loader():
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(B * BATCHES, D, generator=g), torch.randint(0, C, (B * BATCHES,), generator=g))
    return DataLoader(ds, batch_size=B, shuffle=False)


def _trainer(epochs, callbacks, **kw):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
                      num_sanity_val_steps=0, **kw)


class HookNet(pl.LightningModule):
    """Hidden-layer mixing: the callback arms the hooks; training_step takes callback.target(y)."""

    def __init__(self, callback=None, take_target=True):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(D, 8), nn.ReLU(), nn.Linear(8, C))
        self.callback, self.take_target = callback, take_target
        self.log_ = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        if not self.take_target:
            return F.cross_entropy(out, y)
        target = self.mixup_target(y) if self.callback is None else self.callback.target(y)
        handle = (self.callback or self.trainer.callbacks[0]).handle
        p = handle.params
        with torch.no_grad():  # independent replay of the plan at the hidden site "net.1"
            ref = self.net[2](MixUp().mix(self.net[1](self.net[0](x)), p))
        self.log_.append((self.current_epoch, p.lam_rows(), p.site, torch.allclose(out, ref), target))
        return mixed_loss(F.cross_entropy, out, target)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        if self.callback is not None:  # the handle's rule: only an armed (training) forward has a mixed target
            with pytest.raises(HookSiteError, match="needs an armed forward"):
                self.callback.target(y)
            self.validated = True
        return mixed_loss(F.cross_entropy, self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class MixinHookNet(MixupModuleMixin, HookNet):
    pass


def test_callback_arms_hook_site_per_batch_and_schedule_turns_mixing_off_at_epoch():
    cb = MixupCallback(MixUp(alpha=1.0, num_classes=C, seed=0), at="net.1", off_after_epoch=2)
    model = HookNet(cb)
    _trainer(3, [cb], limit_val_batches=1).fit(model, _loader(), _loader())
    assert len(model.log_) == 3 * BATCHES and model.validated
    for epoch, lam, site, replay_ok, target in model.log_:
        assert site == "net.1" and replay_ok
        if epoch < 2:
            assert target.mixed and not bool((lam == 1).all())
        else:
            assert not target.mixed and bool((lam == 1).all())  # the schedule turned mixing off
    # hooks removed after fit
    assert cb.handle is None and not model.net[1]._forward_hooks and not model._forward_hooks


def test_mixup_target_through_the_mixin_finds_the_callback():
    cb = MixupCallback(MixUp(alpha=1.0, num_classes=C, seed=0), at=["input", "net.1"])
    model = MixinHookNet(None)  # no self.mixer: the mixin leaves inputs alone and only finds the callback
    _trainer(1, [cb]).fit(model, _loader())
    sites = {site for _, _, site, _, _ in model.log_}
    assert sites <= {"input", "net.1"} and all(t.mixed for *_, t in model.log_)


def test_forgetting_the_mixed_target_is_an_error_and_hooks_are_removed():
    cb = MixupCallback(MixUp(alpha=1.0, num_classes=C, seed=0), at="net.1")
    model = HookNet(cb, take_target=False)
    with pytest.raises(HookSiteError, match="mixed target was not taken"):
        _trainer(1, [cb]).fit(model, _loader())
    assert cb.handle is None and not model.net[1]._forward_hooks and not model._forward_hooks


class InputNet(MixupModuleMixin, pl.LightningModule):
    """Input mixing in on_after_batch_transfer; training_step receives (x_mixed, MixedTarget)."""

    def __init__(self, mixer):
        super().__init__()
        torch.manual_seed(0)
        self.net, self.mixer, self.log_ = nn.Linear(D, C), mixer, []

    def training_step(self, batch, batch_idx):
        x, target = batch
        self.log_.append((self.current_epoch, x.clone(), target))
        return mixed_loss(F.cross_entropy, self.net(x), target)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        assert isinstance(y, torch.Tensor) and y.dtype == torch.int64  # validation batches are never mixed
        return mixed_loss(F.cross_entropy, self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_mixin_mixes_training_batches_and_callback_turns_it_off_at_epoch():
    mixer = MixUp(alpha=1.0, num_classes=C, seed=0)
    cb = MixupCallback(mixer, off_after_epoch=1)
    model = InputNet(mixer)
    _trainer(2, [cb], limit_val_batches=1).fit(model, _loader(), _loader())
    xs, ys = next(iter(DataLoader(_loader().dataset, batch_size=B * BATCHES)))
    replay = MixUp(alpha=1.0, num_classes=C, seed=0)  # same seed: the same plans, checked independently
    for i, (epoch, x, target) in enumerate(model.log_):
        rows = slice((i % BATCHES) * B, (i % BATCHES + 1) * B)
        if epoch == 0:
            p = replay.sample((B, D), labels=ys[rows])
            lam = p.lam_rows().view(-1, 1)
            torch.testing.assert_close(x, lam * xs[rows] + (1 - lam) * xs[rows][p.index])
            assert target.mixed and torch.equal(target.y_b, ys[rows][p.index])
        else:
            assert torch.equal(x, xs[rows]) and not target.mixed


def test_mixer_state_is_saved_in_checkpoints_and_a_resumed_fit_draws_the_same_plans(tmp_path):
    def run(epochs, ckpt_in=None, ckpt_out=None):
        mixer = MixUp(alpha=1.0, num_classes=C, seed=0 if ckpt_in is None else 1)
        cb = MixupCallback(mixer)
        model = InputNet(mixer)
        trainer = _trainer(epochs, [cb])
        trainer.fit(model, _loader(), ckpt_path=ckpt_in)
        if ckpt_out is not None:
            trainer.save_checkpoint(ckpt_out)
        return model.log_, cb

    full, _ = run(3)
    ckpt = tmp_path / "mid.ckpt"
    first, cb = run(1, ckpt_out=ckpt)
    saved = torch.load(ckpt, weights_only=False)["callbacks"][cb.state_key]["mixer"]
    assert torch.equal(saved["generators"]["cpu"], cb.mixer.generator.get_state())
    rest, _ = run(3, ckpt_in=ckpt)  # a mixer seeded differently: the checkpoint's state must win
    resumed = first + rest
    assert len(resumed) == len(full) == 3 * BATCHES
    for (ea, xa, ta), (eb, xb, tb) in zip(full, resumed, strict=True):
        assert ea == eb and torch.equal(ta.lam_rows(), tb.lam_rows()) and torch.equal(ta.y_b, tb.y_b) and torch.equal(xa, xb)


def test_bad_arguments_raise_library_errors():
    with pytest.raises(MixupError, match="needs a Mixer"):
        MixupCallback(nn.Linear(2, 2))
    with pytest.raises(MixupError, match="off_after_epoch must be"):
        MixupCallback(MixUp(), off_after_epoch=-1)
    with pytest.raises(MixupError, match="conflicts with the mixer's schedule"):
        MixupCallback(MixUp(schedule=MixSchedule(off_after_epoch=3)), off_after_epoch=2)
    with pytest.raises(MixupError, match=r"mixes \(x, y\) batches"):
        InputNet(MixUp()).mix_batch((torch.randn(2, D),))
    cb = MixupCallback(MixUp(), at="nope")
    with pytest.raises(HookSiteError, match="No module named 'nope'"):
        _trainer(1, [cb]).fit(HookNet(cb), _loader())
    assert default_labels({"labels": torch.tensor([1])}).tolist() == [1] and default_labels(torch.ones(2)) is None
    with pytest.raises(MixupError, match="no hook sites attached"):  # no handle: nothing was armed to mix
        MixupCallback(MixUp()).target(torch.tensor([1]))


def test_get_labels_gives_the_targets_and_a_batch_without_them_is_a_clear_error():
    seen = []

    def get_labels(batch):
        seen.append(batch[1])
        return batch[1]

    cb = MixupCallback(MixUp(alpha=1.0, num_classes=C, seed=0), at="net.1", get_labels=get_labels)
    _trainer(1, [cb]).fit(HookNet(cb), _loader())
    assert len(seen) == BATCHES
    cb = MixupCallback(MixUp(alpha=1.0, num_classes=C, seed=0), at="net.1", get_labels=lambda batch: None)
    with pytest.raises(MixupError, match="found no targets in the training batch.*get_labels"):
        _trainer(1, [cb]).fit(HookNet(cb), _loader())
    assert cb.handle is None
    with pytest.raises(MixupError, match="get_labels must be a function"):
        MixupCallback(MixUp(), at="net.1", get_labels="y")


class TableNet(pl.LightningModule):
    """A table through a route: the callback attaches TabularMixer at the model's per-variable embeddings."""

    def __init__(self, callback):
        super().__init__()
        from mixup_any.tabular import TabularMLP

        torch.manual_seed(0)
        self.net, self.callback, self.plans = TabularMLP(2, [3, 4], C), callback, []

    def training_step(self, batch, batch_idx):
        x_cont, x_cat, y = batch
        out = self.net(x_cont, x_cat)
        self.plans.append(self.callback.handle.params)
        return self.callback.loss(F.cross_entropy, out, y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_callback_attaches_a_route_as_attach_does():
    pytest.importorskip("sklearn")
    from mixup_any.tabular import TabularMixer

    cb = MixupCallback(TabularMixer(MixUp(alpha=1.0, num_classes=C, seed=0)), at="embeddings.*", module="net",
                       get_labels=lambda batch: batch[2])
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(8, 2, generator=g), torch.stack([torch.randint(0, 3, (8,), generator=g),
                                                                    torch.randint(0, 4, (8,), generator=g)], 1),
                       torch.randint(0, C, (8,), generator=g))
    model = TableNet(cb)
    _trainer(1, [cb]).fit(model, DataLoader(ds, batch_size=4))
    assert len(model.plans) == 2 and all(p.mixed for p in model.plans)
    assert cb.mixer is cb.route.mixer and cb.handle is None  # the route's mixer keeps the schedule and state


def test_callback_attaches_a_route_at_its_default_site():
    pytest.importorskip("sklearn")
    from mixup_any.tabular import TabularMixer

    cb = MixupCallback(TabularMixer(MixUp(alpha=1.0, num_classes=C, seed=0), categorical_mixing="swap",
                                    cardinalities=[3, 4]), module="net", get_labels=lambda batch: batch[2])
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(8, 2, generator=g), torch.stack([torch.randint(0, 3, (8,), generator=g),
                                                                    torch.randint(0, 4, (8,), generator=g)], 1),
                       torch.randint(0, C, (8,), generator=g))
    model = TableNet(cb)  # the swap route has no hook site, only its adapter
    _trainer(1, [cb]).fit(model, DataLoader(ds, batch_size=4))
    assert len(model.plans) == 2 and all(p.mixed for p in model.plans) and cb.hooks


def test_mixup_target_outside_a_trainer_is_the_plain_target():
    y = torch.tensor([1, 0])
    assert InputNet(MixUp()).mixup_target(y) is y

"""Calibration-safe modes on the hooks, text, Trainer and Lightning routes, against the papers' formulas
written out by hand (row by row) on tiny in-code models, and the plan drawn once."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_any import CutMix, HookSiteError, MixParams, MixUp, MixupError, attach, mixed_loss
from mixup_any.functional import mix
from mixup_any.modes import MODES, clean_and_mixed, mode_loss
from mixup_any.params import Box, Choice


def _ce(logits: torch.Tensor, y: int) -> torch.Tensor:
    return -torch.log_softmax(logits, 0)[y]


def _regmixup_by_hand(clean_out, mixed_out, y, lam, index, eta):
    """Pinto et al. (2022): mean CE on clean rows + eta * mean of lam·CE(y) + (1-lam)·CE(y[index])."""
    b = len(y)
    clean = sum(_ce(clean_out[i], int(y[i])) for i in range(b)) / b
    mixed = sum(lam[i] * _ce(mixed_out[i], int(y[i])) + (1 - lam[i]) * _ce(mixed_out[i], int(y[index[i]]))
                for i in range(b)) / b
    return clean + eta * mixed


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).train()


# ------------------------------------------------------------------ the 2B plan
def test_clean_and_mixed_plan():
    p = MixParams(lam=torch.tensor([0.3, 0.8, 0.5]), index=torch.tensor([2, 0, 1]),
                  extra=Choice(1, Box(torch.arange(12).view(3, 4), (12, 12))))
    q = clean_and_mixed(p)
    assert q.lam.tolist() == pytest.approx([1, 1, 1, 0.3, 0.8, 0.5])
    assert q.index.tolist() == [0, 1, 2, 5, 3, 4]
    assert torch.equal(q.extra.inner.bounds, torch.cat([p.extra.inner.bounds] * 2)) and q.extra.member == 1
    x = torch.randn(3, 2)
    xx = mix(torch.cat([x, x]), q.lam, q.index)  # the lerp the plan's lam and index describe
    torch.testing.assert_close(xx[:3], x, rtol=0, atol=0)                    # the clean half is untouched
    torch.testing.assert_close(xx[3:], mix(x, p.lam, p.index))
    ident = clean_and_mixed(MixParams.identity(3))
    assert not ident.mixed and ident.batch_size == 6
    with pytest.raises(MixupError, match="MixParams"):
        clean_and_mixed("plan")


def test_mode_loss_vocabulary_and_bad_input():
    assert MODES == ("erm", "mixup", "regmixup", "inputs_only")
    from mixup_any import MixedTarget
    t = MixedTarget(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([0.3, 0.9]), "index", 2)
    out = torch.randn(2, 2)
    # inputs only: row 0's dominant input is its partner (lam 0.3), row 1 its own
    torch.testing.assert_close(mode_loss(F.cross_entropy, out, t, mode="inputs_only"),
                               F.cross_entropy(out, torch.tensor([1, 1])))
    with pytest.raises(MixupError, match="Unknown mode 'manifold'"):
        mode_loss(F.cross_entropy, out, t, mode="manifold")
    with pytest.raises(MixupError, match="eta"):
        mode_loss(F.cross_entropy, out, t, mode="mixup", eta=-1)


# ------------------------------------------------------------------ hooks
@pytest.mark.parametrize("eta", [0.5, 1.0])
@pytest.mark.parametrize("per_sample", [False, True])
def test_hooks_regmixup_one_forward_equals_the_hand_computation(eta, per_sample):
    model = _mlp()
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    mixer = MixUp(alpha=1.0, per_sample=per_sample, num_classes=3, seed=5)
    twin = MixUp(alpha=1.0, per_sample=per_sample, num_classes=3, seed=5)
    with attach(mixer, model, at="0", mode="regmixup", eta=eta) as handle:
        handle.arm(y)
        out = model(torch.cat([x, x]))
        loss = handle.loss(F.cross_entropy, out, y)
    p = handle.params
    assert p.batch_size == 6 and p.site == "0"
    # one draw, from the site's own shape with B rows: the twin mixer draws the same plan
    ref_p = twin.sample((6, 5))
    assert torch.equal(p.lam_rows(), ref_p.lam_rows()) and torch.equal(p.index, ref_p.index)
    assert torch.equal(mixer.generator.get_state(), twin.generator.get_state())
    with torch.no_grad():
        h = model[0](x)
        lam = p.lam_rows()[:, None]
        mixed_out = model[2](model[1](lam * h + (1 - lam) * h[p.index]))
        clean_out = model(x)
    # the clean half is the unmixed model; a 12-row and a 6-row forward may be blocked differently by the BLAS
    # kernel, so they agree to float32 rounding, not bit for bit
    torch.testing.assert_close(out[:6], clean_out)
    torch.testing.assert_close(out[6:], mixed_out)
    torch.testing.assert_close(loss, _regmixup_by_hand(clean_out, mixed_out, y, p.lam_rows(), p.index, eta))
    assert loss.requires_grad


def test_hooks_regmixup_replays_a_given_plan_and_keeps_cutmix_clean_half():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3)).train()
    x, y = torch.randn(4, 1, 6, 6), torch.tensor([0, 1, 2, 1])
    with attach(CutMix(alpha=1.0, num_classes=3, seed=2), model, at="0", mode="regmixup") as handle:
        handle.arm(y)
        out = model(torch.cat([x, x]))
        first = handle.params
        handle.loss(F.cross_entropy, out, y)
        handle.arm(y, params=first)
        again = model(torch.cat([x, x]))
        handle.target(y)
    with torch.no_grad():
        torch.testing.assert_close(out[:4], model(x))  # 8 rows vs 4: equal to float32 rounding
    torch.testing.assert_close(again, out, rtol=0, atol=0)  # the same forward on the same shapes


def test_hooks_inputs_only_and_erm():
    model = _mlp()
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    with attach(MixUp(alpha=1.0, per_sample=True, num_classes=3, seed=1), model, at="input",
                mode="inputs_only") as handle:
        handle.arm(y)
        out = model(x)
        loss = handle.loss(F.cross_entropy, out, y)
    p = handle.params
    dominant = torch.where(p.lam > 0.5, y, y[p.index])
    torch.testing.assert_close(loss, sum(_ce(out[i], int(dominant[i])) for i in range(6)) / 6)
    with torch.no_grad():
        torch.testing.assert_close(out, model(p.lam[:, None] * x + (1 - p.lam[:, None]) * x[p.index]))
    mixer = MixUp(alpha=1.0, num_classes=3, seed=1)
    state = mixer.generator.get_state()
    with attach(mixer, model, at=["0", "2"], mode="erm") as handle:
        handle.arm(y)
        out = model(x)
        loss = handle.loss(F.cross_entropy, out, y)
        with pytest.raises(MixupError, match="mode='erm'"):
            handle.arm(y, params=MixUp(alpha=1.0, seed=0).sample((6, 4)))
    assert torch.equal(mixer.generator.get_state(), state) and not handle.params.mixed
    with torch.no_grad():
        torch.testing.assert_close(out, model(x), rtol=0, atol=0)
    torch.testing.assert_close(loss, F.cross_entropy(out, y))


def test_hooks_bad_mode_eta_and_forgotten_concatenation():
    model, mixer = _mlp(), MixUp(alpha=1.0, num_classes=3, seed=0)
    with pytest.raises(MixupError, match="Unknown mode 'reg_mixup' for attach"):
        attach(mixer, model, at="0", mode="reg_mixup")
    with pytest.raises(MixupError, match="eta"):
        attach(mixer, model, at="0", mode="regmixup", eta=-0.5)
    assert not model[0]._forward_hooks  # nothing was left installed
    y = torch.tensor([0, 1, 2])
    with attach(mixer, model, at="0", mode="regmixup") as handle:
        handle.arm(y)
        with pytest.raises(HookSiteError, match=r"torch.cat\(\[x, x\]\)"):
            model(torch.randn(3, 4))


# ------------------------------------------------------------------ text
class TinyText(nn.Module):
    """A bag-of-embeddings classifier with a masked mean: the mask of each row matters."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.head = nn.Embedding(12, 4), nn.Linear(4, 3)

    def get_input_embeddings(self):
        return self.emb

    def forward(self, input_ids, attention_mask):
        e = self.emb(input_ids)
        m = attention_mask[..., None].float()
        return self.head((e * m).sum(1) / m.sum(1))


def _text_batch():
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9], [10, 11, 2, 0]])
    mask = (ids != 0).long()
    return {"input_ids": ids, "attention_mask": mask}, torch.tensor([0, 1, 2, 1])


def _forward_seeing_inputs(model, batch):
    """``model(**batch)`` and the kwargs its forward received (a pre-hook registered after the handle's)."""
    seen = {}
    h = model.register_forward_pre_hook(lambda m, a, kw: seen.update(kw), with_kwargs=True)
    try:
        return model(**batch), seen
    finally:
        h.remove()


@pytest.mark.parametrize("eta", [0.0, 2.0])
def test_text_regmixup_equals_the_hand_computation(eta):
    from mixup_any.text import TextMixer
    from mixup_any.text.masks import mix_attention_mask
    model = TinyText().train()
    batch, y = _text_batch()
    doubled = {k: torch.cat([v, v]) for k, v in batch.items()}
    with attach(TextMixer(MixUp(alpha=1.0, per_sample=True, num_classes=3, seed=3)), model, at="tokens",
                mode="regmixup", eta=eta) as mix:
        mix.arm(y)
        logits, inputs = _forward_seeing_inputs(model, doubled)
        loss = mix.loss(F.cross_entropy, logits, y)
        p = mix.params
    assert torch.equal(inputs["input_ids"], doubled["input_ids"])
    union = mix_attention_mask(batch["attention_mask"], p, "union")
    assert torch.equal(inputs["attention_mask"], torch.cat([batch["attention_mask"], union]))
    with torch.no_grad():
        e = model.emb(batch["input_ids"])
        lam = p.lam[:, None, None]
        em = lam * e + (1 - lam) * e[p.index]
        m = union[..., None].float()
        mixed_out = model.head((em * m).sum(1) / m.sum(1))
        clean_out = model(**batch)
    torch.testing.assert_close(logits[:4], clean_out)
    torch.testing.assert_close(logits[4:], mixed_out)
    torch.testing.assert_close(loss, _regmixup_by_hand(clean_out, mixed_out, y, p.lam_rows(), p.index, eta))
    # outside training the batch is not doubled and the loss is the plain one
    model.eval()
    with attach(TextMixer(MixUp(alpha=1.0, num_classes=3, seed=3)), model, at="tokens", mode="regmixup") as mix, \
            pytest.warns(UserWarning, match="eval mode"):
        mix.arm(y)
        logits = model(**batch)
        assert logits.shape == (4, 3)
        torch.testing.assert_close(mix.loss(F.cross_entropy, logits, y), F.cross_entropy(logits, y))
    model.train()
    with attach(TextMixer(MixUp(alpha=1.0, num_classes=3, seed=3)), model, at="tokens", mode="regmixup") as mix:
        mix.arm(y)
        with pytest.raises(MixupError, match="regmixup.*concatenate every input with itself"):
            model(**batch)  # B rows, not the doubled batch


def test_text_inputs_only_erm_and_bad_input():
    from mixup_any.text import TextMixer
    model = TinyText().train()
    batch, y = _text_batch()
    with attach(TextMixer(MixUp(alpha=1.0, per_sample=True, num_classes=3, seed=4)), model, at="tokens",
                mode="inputs_only") as mix:
        mix.arm(y)
        logits = model(**batch)
        target = mix.target(y)
        p = mix.params
    dominant = torch.where(p.lam > 0.5, y, y[p.index])
    assert torch.equal(target.y_a, dominant) and not target.mixed
    mix_loss = mixed_loss(F.cross_entropy, logits, target)
    torch.testing.assert_close(mix_loss, F.cross_entropy(logits, dominant))
    with attach(TextMixer(MixUp(alpha=1.0, num_classes=3, seed=4)), model, at="tokens", mode="erm") as mix:
        mix.arm(y)
        out, inputs = _forward_seeing_inputs(model, batch)
        assert torch.equal(inputs["attention_mask"], batch["attention_mask"]) and not mix.params.mixed
        with torch.no_grad():
            torch.testing.assert_close(out, model(**batch), rtol=0, atol=0)
    with pytest.raises(MixupError, match="Unknown mode 'io' for attach"):
        attach(TextMixer(MixUp(alpha=1.0)), model, mode="io")
    with pytest.raises(MixupError, match="eta"):
        attach(TextMixer(MixUp(alpha=1.0)), model, mode="regmixup", eta=float("-inf"))


# ------------------------------------------------------------------ Hugging Face Trainer
def test_trainer_regmixup_step_matches_the_hand_computation(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from mixup_any.integrations.hf import MixupTrainer
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=16, max_position_embeddings=16, num_labels=3,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = transformers.BertForSequenceClassification(cfg)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], save_strategy="no",
                                          logging_strategy="no", per_device_train_batch_size=4, max_steps=1,
                                          seed=0, disable_tqdm=True)
    with pytest.raises(MixupError, match="Unknown mode 'mix' for MixupTrainer"):
        MixupTrainer(model=model, args=args, mixer=MixUp(alpha=1.0), mode="mix")
    with pytest.raises(MixupError, match="eta"):
        MixupTrainer(model=model, args=args, mixer=MixUp(alpha=1.0), mode="regmixup", eta=-1.0)
    tr = MixupTrainer(model=model, args=args, mixer=MixUp(alpha=1.0, per_sample=True, seed=0), mode="regmixup",
                      eta=0.5)
    model.train()
    ids = torch.tensor([[2, 5, 7, 0], [3, 9, 0, 0], [4, 4, 6, 8], [11, 12, 13, 0]])
    inputs = {"input_ids": ids, "attention_mask": (ids != 0).long(), "labels": torch.tensor([0, 2, 1, 2])}
    twin = MixUp(alpha=1.0, per_sample=True, seed=0)
    loss = tr.compute_loss(model, inputs)
    p = twin.sample((4, 4))
    emb = model.get_input_embeddings()
    with torch.no_grad():
        clean_out = model(input_ids=ids, attention_mask=inputs["attention_mask"]).logits
        e = emb(ids)
        lam = p.lam[:, None, None]
        mask = inputs["attention_mask"] | inputs["attention_mask"][p.index]
        mixed_out = model(inputs_embeds=lam * e + (1 - lam) * e[p.index], attention_mask=mask).logits
    y = inputs["labels"]
    torch.testing.assert_close(loss, _regmixup_by_hand(clean_out, mixed_out, y, p.lam, p.index, 0.5),
                               rtol=1e-5, atol=1e-6)
    assert all(not m._forward_hooks for m in model.modules())


# ------------------------------------------------------------------ Lightning
def test_lightning_callback_regmixup_and_bad_input(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from mixup_any.integrations.lightning import MixupCallback

    with pytest.raises(MixupError, match="at='input'"):
        MixupCallback(MixUp(alpha=1.0), mode="regmixup")
    with pytest.raises(MixupError, match="Unknown mode 'ERM' for MixupCallback"):
        MixupCallback(MixUp(alpha=1.0), at="net.0", mode="ERM")
    with pytest.raises(MixupError, match="eta"):
        MixupCallback(MixUp(alpha=1.0), at="net.0", mode="regmixup", eta=-2)

    seen = []

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            out = self(torch.cat([x, x]))
            loss = cb.loss(F.cross_entropy, out, y)
            seen.append((x, y, out.detach(), loss.detach(), cb.handle.params))
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    cb = MixupCallback(MixUp(alpha=1.0, per_sample=True, num_classes=3, seed=0), at="net.0", mode="regmixup",
                       eta=1.0)
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(8, 4, generator=g), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    net = Net()
    pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, default_root_dir=str(tmp_path), callbacks=[cb]).fit(
        net, torch.utils.data.DataLoader(data, batch_size=4))
    assert len(seen) == 2 and cb.handle is None
    for x, y, out, loss, p in seen:
        with torch.no_grad():
            h = net.net[0](x)
            lam = p.lam_rows()[:, None]
            mixed_out = net.net[2](net.net[1](lam * h + (1 - lam) * h[p.index]))
            clean_out = net(x)
        torch.testing.assert_close(out[:4], clean_out)
        torch.testing.assert_close(loss, _regmixup_by_hand(clean_out, mixed_out, y, p.lam, p.index, 1.0))

"""MixupTrainer: mixed training steps (checked against a hand-computed step), untouched evaluation and
prediction, gradient accumulation, and label smoothing composed explicitly."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # transformers 5.x Trainer needs it

from mixup_any import MixUp, MixupError  # noqa: E402
from mixup_any.integrations.hf import MixupTrainer  # noqa: E402
from mixup_any.text import TextMixer  # noqa: E402

V, H, C, L = 40, 16, 3, 6


def tiny_model() -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=16, num_labels=C,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return transformers.BertForSequenceClassification(cfg)


def dataset(n: int = 16) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    rows = []
    for i in range(n):
        k = int(torch.randint(2, L + 1, (1,), generator=g))
        ids = torch.randint(3, V, (L,), generator=g)
        ids[k:] = 0
        mask = torch.zeros(L, dtype=torch.long)
        mask[:k] = 1
        rows.append({"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(i % C)})
    return rows


def args(tmp_path, **kw) -> transformers.TrainingArguments:
    base = dict(output_dir=str(tmp_path), use_cpu=True, report_to=[], save_strategy="no", logging_strategy="no",
                per_device_train_batch_size=4, per_device_eval_batch_size=8, max_steps=2, learning_rate=1e-2,
                seed=0, disable_tqdm=True)
    base.update(kw)
    return transformers.TrainingArguments(**base)


class InOrder:
    """Feed the training set in order, so a step can be recomputed by hand."""

    def _get_train_sampler(self, train_dataset=None):
        return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)


class SeqMixupTrainer(InOrder, MixupTrainer):
    pass


class SeqTrainer(InOrder, transformers.Trainer):
    pass


class CountingMixUp(MixUp):
    def sample(self, *a, **k):
        self.draws = getattr(self, "draws", 0) + 1
        return super().sample(*a, **k)


def test_trains_with_mixing_and_removes_hooks(tmp_path):
    model, mixer = tiny_model(), CountingMixUp(alpha=1.0, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    tr = MixupTrainer(model=model, args=args(tmp_path, max_steps=2), train_dataset=dataset(), mixer=mixer)
    out = tr.train()
    assert mixer.draws == 2 and torch.isfinite(torch.tensor(out.training_loss))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_evaluation_and_prediction_are_untouched(tmp_path):
    model, mixer = tiny_model(), CountingMixUp(alpha=1.0, seed=0)
    ds = dataset()
    mixed = MixupTrainer(model=model, args=args(tmp_path), eval_dataset=ds, mixer=mixer)
    plain = transformers.Trainer(model=model, args=args(tmp_path), eval_dataset=ds)
    a, b = mixed.evaluate(), plain.evaluate()
    assert a["eval_loss"] == b["eval_loss"]
    pa, pb = mixed.predict(ds), plain.predict(ds)
    assert (pa.predictions == pb.predictions).all()
    assert getattr(mixer, "draws", 0) == 0


@pytest.mark.parametrize("smoothing,counts_items", [(0.1, True), (0.1, False)])
def test_lam_one_with_accumulation_equals_one_big_batch_of_the_plain_trainer(tmp_path, smoothing, counts_items):
    """lam = 1 mixes nothing: 2 micro-batches of 4 give the weights of the stock Trainer on batches of 8.

    Both loss paths: sum / num_items_in_batch, and the micro-batch mean. (The stock Trainer itself is not compared at the same accumulation: for heads whose forward takes **kwargs
    but ignores num_items_in_batch it skips the 1/accumulation scaling, huggingface/transformers#47688.)
    """
    common = dict(max_steps=2, label_smoothing_factor=smoothing, optim="sgd")
    m1, m2 = tiny_model(), tiny_model()
    tr = SeqMixupTrainer(model=m1, args=args(tmp_path, gradient_accumulation_steps=2, **common),
                         train_dataset=dataset(), mixer=MixUp(lam=1.0, seed=0))
    tr.model_accepts_loss_kwargs = counts_items  # False: no num_items_in_batch, the micro-batch mean path
    tr.train()
    SeqTrainer(model=m2, args=args(tmp_path, per_device_train_batch_size=8, **common), train_dataset=dataset()).train()
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6)


def test_mixed_step_with_accumulation_and_smoothing_matches_a_hand_computed_step(tmp_path):
    """One optimizer step (SGD, lr 1, two micro-batches of 4) = minus the gradient of the mean over micro-batches of
    CE(logits of mixed embeddings, lam·smooth(y_a) + (1-lam)·smooth(y_b)), mask = union."""
    eps, lam = 0.1, 0.7
    ds = dataset(8)
    model, ref = tiny_model(), tiny_model()
    tr = SeqMixupTrainer(model=model, train_dataset=ds, mixer=MixUp(lam=lam, pairing="flip", num_classes=C),
                         args=args(tmp_path, max_steps=1, gradient_accumulation_steps=2, label_smoothing_factor=eps,
                                   optim="sgd", learning_rate=1.0, lr_scheduler_type="constant", max_grad_norm=0.0,
                                   weight_decay=0.0))
    tr.train()
    total = 0.0
    for start in (0, 4):
        rows = ds[start:start + 4]
        ids = torch.stack([r["input_ids"] for r in rows])
        mask = torch.stack([r["attention_mask"] for r in rows])
        y = torch.stack([r["labels"] for r in rows])
        flip = torch.arange(3, -1, -1)
        e = ref.get_input_embeddings()(ids)
        logits = ref(inputs_embeds=lam * e + (1 - lam) * e[flip], attention_mask=mask | mask[flip]).logits
        smooth = F.one_hot(y, C).float() * (1 - eps) + eps / C
        target = lam * smooth + (1 - lam) * smooth[flip]
        total = total + F.cross_entropy(logits, target) / 2
    total.backward()
    for (name, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
        expected = q.detach() - (q.grad if q.grad is not None else 0.0)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-4, atol=1e-6, msg=name)


def test_tmix_and_pooled_sites_train(tmp_path):
    for at, layers in (("hidden", [1]), ("pooled", None)):
        mixer = CountingMixUp(alpha=1.0, seed=0)
        tr = MixupTrainer(model=tiny_model(), args=args(tmp_path, max_steps=1), train_dataset=dataset(),
                          mixer=TextMixer(mixer, layers=layers), at=at)
        tr.train()
        assert mixer.draws == 1


def test_label_smoothing_set_twice_raises(tmp_path):
    with pytest.raises(MixupError, match="Label smoothing is set twice"):
        MixupTrainer(model=tiny_model(), args=args(tmp_path, label_smoothing_factor=0.1), train_dataset=dataset(),
                     mixer=MixUp(label_smoothing=0.1))


def test_bad_construction(tmp_path):
    with pytest.raises(MixupError, match="needs mixer="):
        MixupTrainer(model=tiny_model(), args=args(tmp_path), train_dataset=dataset(), mixer=None)
    with pytest.raises(MixupError, match="numbered 1..1"):
        MixupTrainer(model=tiny_model(), args=args(tmp_path), train_dataset=dataset(),
                     mixer=TextMixer(MixUp(), layers=[5]), at="hidden")
    with pytest.raises(MixupError, match="label_smoothing must be one float"):
        MixupTrainer(model=tiny_model(), args=args(tmp_path), train_dataset=dataset(),
                     mixer=MixUp(label_smoothing={"labels": 0.1}))


def test_training_batch_without_labels_raises(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "labels"} for r in dataset()]
    tr = MixupTrainer(model=tiny_model(), args=args(tmp_path, max_steps=1), train_dataset=rows, mixer=MixUp(seed=0))
    with pytest.raises(MixupError, match="needs the targets under 'labels'"):
        tr.train()


def test_custom_criterion_is_used(tmp_path):
    calls = []

    def crit(logits, y, reduction="mean"):
        calls.append(reduction)
        return F.cross_entropy(logits, y, reduction=reduction)

    tr = MixupTrainer(model=tiny_model(), args=args(tmp_path, max_steps=1), train_dataset=dataset(),
                      mixer=MixUp(seed=0), criterion=functools.partial(crit))
    tr.train()
    assert calls and set(calls) == {"none"}


def test_hooks_are_attached_once_per_run_and_removed_when_it_ends(tmp_path, monkeypatch):
    import mixup_any.integrations.hf as hf

    calls = []
    real = hf.attach
    monkeypatch.setattr(hf, "attach", lambda *a, **k: calls.append(1) or real(*a, **k))
    model, mixer = tiny_model(), CountingMixUp(alpha=1.0, seed=0)
    tr = MixupTrainer(model=model, args=args(tmp_path, max_steps=3), train_dataset=dataset(), mixer=mixer)
    calls.clear()  # the constructor's check that the site exists
    tr.train()
    assert mixer.draws == 3 and len(calls) == 1  # three steps, one attach
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())

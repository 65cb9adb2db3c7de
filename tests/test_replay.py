"""A plan is closed: a plan of every mixer replays bit for bit through every entry point that accepts one, and
an entry point that cannot replay it says so.

Entry points: ``mixer.mix(x, p)`` (the reference), ``mixer(x, y, params=p)``, a ``state_dict`` round trip (through
``torch.save``), a hooked site armed with ``handle.arm(y, params=p)``, :class:`DetectionMix` and
:class:`SegmentationMix` (``params=``), :class:`TabularMixer`, the text handle at the token embeddings (the same
mixers, a CutMix cutting along the sequence); the collate function draws its own plan with the mixer's generator
and applies it the same way. A mixer given a plan whose record it does not understand raises a :class:`MixupError`.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch
from torch import nn

from mixup_any import CutMix, MixParams, MixUp, MixupCollate, MixupError, RandomChoice, attach
from mixup_any.dense import DetectionMix, SegmentationMix
from mixup_any.params import Box, Choice, Swap
from mixup_any.tabular import TabularMixer

C = 4
MIXERS = {
    "mixup": lambda: MixUp(alpha=1.0, num_classes=C, seed=0),
    "mixup per sample": lambda: MixUp(alpha=0.4, per_sample=True, num_classes=C, seed=0),
    "cutmix": lambda: CutMix(num_classes=C, seed=0),
    "cutmix per sample": lambda: CutMix(per_sample=True, num_classes=C, seed=0),
    "choice per batch": lambda: RandomChoice([MixUp(num_classes=C), CutMix(num_classes=C)], seed=0),
    "choice per sample": lambda: RandomChoice([MixUp(num_classes=C), CutMix(num_classes=C)], per_sample_member=True, seed=0),
}
RECORD = {"mixup": type(None), "mixup per sample": type(None), "cutmix": Box, "cutmix per sample": Box,
          "choice per batch": Choice, "choice per sample": Choice}


def batch():
    g = torch.Generator().manual_seed(3)
    return torch.randn(6, 3, 8, 8, generator=g), torch.randint(0, C, (6,), generator=g)


def drawn(name):
    """A mixer and a real (non-identity) plan it drew for :func:`batch`."""
    mixer = MIXERS[name]()
    x, y = batch()
    for _ in range(10):  # a per-batch choice may draw either member: any draw that mixes will do
        p = mixer.sample(x.shape, labels=y)
        if not torch.equal(mixer.mix(x, p), x):
            return mixer, p
    raise AssertionError(f"{name} drew only identity plans")


class Recorder(nn.Module):
    """Identity network that records what reaches it (the hooked site is the model's input)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Identity()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        self.seen.append(out)
        return out


def _call(mixer, p, x, y):
    got, target = mixer(x, y, params=p)
    assert torch.equal(target.lam_rows(), p.target_rows()) and torch.equal(target.y_b, y[p.index])
    return got


def _state_dict(mixer, p, x, y):
    buf = io.BytesIO()
    torch.save(p.state_dict(), buf)
    buf.seek(0)
    return mixer.mix(x, MixParams.from_state_dict(torch.load(buf, weights_only=True)))


def _hook(mixer, p, x, y):
    model = Recorder().train()
    with attach(mixer, model, at="body") as handle:
        handle.arm(y, params=p)
        model(x)
    return model.seen[-1]


def _segmentation(mixer, p, x, y):
    if not isinstance(mixer, (MixUp, CutMix)):
        with pytest.raises(MixupError, match="SegmentationMix .* replays plans with no record or Box"):
            SegmentationMix(MIXERS["mixup"]())(x, torch.zeros(6, 8, 8, dtype=torch.long), params=p)
        return None
    return SegmentationMix(mixer)(x, torch.zeros(6, 8, 8, dtype=torch.long), params=p)[0]


def _detection(mixer, p, x, y):
    targets = [{"boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]), "labels": torch.tensor([int(c)])} for c in y]
    if not isinstance(mixer, (MixUp, CutMix)):
        with pytest.raises(MixupError, match="DetectionMix .* replays plans with no record or Box"):
            DetectionMix(MIXERS["mixup"]())(x, targets, params=p)
        return None
    return DetectionMix(mixer)(x, targets, params=p)[0]


ENTRY_POINTS = {"mixer(x, y, params=)": _call, "state_dict": _state_dict, "hook arm(params=)": _hook,
                "SegmentationMix": _segmentation, "DetectionMix": _detection}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("name", list(MIXERS))
def test_a_plan_replays_bit_for_bit_through_every_entry_point(name, entry):
    mixer, p = drawn(name)
    x, y = batch()
    assert isinstance(p.extra, RECORD[name])
    want = mixer.mix(x, p)
    got = ENTRY_POINTS[entry](mixer, p, x, y)
    if got is not None:  # None: the entry point refused the plan with a clear error (checked inside)
        assert torch.equal(got, want)


@pytest.mark.parametrize("name", list(MIXERS))
def test_collate_applies_the_plan_its_mixer_draws(name):
    x, y = batch()
    out, target = MixupCollate(MIXERS[name]())(list(zip(x, y, strict=True)))
    reference = MIXERS[name]()  # same seed: the same stream of plans
    p = reference.sample(x.shape, labels=y)
    assert torch.equal(out, reference.mix(x, p)) and torch.equal(target.lam_rows(), p.target_rows())


@pytest.mark.parametrize(("owner", "other"), [(a, b) for a in MIXERS for b in MIXERS if RECORD[a] is not RECORD[b]])
def test_a_mixer_refuses_a_plan_whose_record_it_does_not_understand(owner, other):
    _, p = drawn(owner)
    x, _ = batch()
    with pytest.raises(MixupError, match="replays plans with .* but this plan carries"):
        MIXERS[other]().mix(x, p)


def test_a_swap_plan_replays_through_the_tabular_mixer_and_nowhere_else():
    g = torch.Generator().manual_seed(0)
    x_cont, x_cat = torch.randn(8, 3, generator=g), torch.randint(0, 5, (8, 4), generator=g)
    tm = TabularMixer(MixUp(alpha=1.0, seed=0), categorical_mixing="swap")
    p = tm.sample(x_cont, x_cat)
    assert isinstance(p.extra, Swap) and p.target_lam is not None
    want = tm.mix(x_cont, x_cat, p)
    q = MixParams.from_state_dict(p.state_dict())
    for a, b in zip(tm.mix(x_cont, x_cat, q), want, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(q.target_lam, p.target_lam)
    for mixer in (MixUp(), CutMix(axis=-1), RandomChoice([MixUp(), MixUp()])):
        with pytest.raises(MixupError, match="but this plan carries Swap"):
            mixer.mix(x_cont, p)
    with pytest.raises(MixupError, match="replays plans with no record, but this plan carries Swap"):
        TabularMixer(MixUp(), categorical_mixing="onehot", cardinalities=[5] * 4).mix(x_cont, x_cat, p)
    with pytest.raises(MixupError, match="replays plans with Swap, but this plan carries no record"):
        tm.mix(x_cont, x_cat, dataclasses.replace(p, extra=None))


# the same mixers configured for token embeddings (B, L, H): a CutMix cuts a span of the sequence (axis 1)
TEXT_MIXERS = {
    "mixup": lambda: MixUp(alpha=1.0, num_classes=C, seed=0),
    "mixup per sample": lambda: MixUp(alpha=0.4, per_sample=True, num_classes=C, seed=0),
    "cutmix": lambda: CutMix(axis=1, num_classes=C, seed=0),
    "cutmix per sample": lambda: CutMix(axis=1, per_sample=True, num_classes=C, seed=0),
    "choice per batch": lambda: RandomChoice([MixUp(num_classes=C), CutMix(axis=1, num_classes=C)], seed=0),
    "choice per sample": lambda: RandomChoice([MixUp(num_classes=C), CutMix(axis=1, num_classes=C)], per_sample_member=True,
                                              seed=0),
}


@pytest.mark.parametrize("name", list(TEXT_MIXERS))
def test_a_plan_replays_at_the_token_embeddings(name):
    transformers = pytest.importorskip("transformers")
    from mixup_any.text import TextMixer

    cfg = transformers.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=16, num_labels=C)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(cfg).train()
    ids = torch.randint(0, 30, (6, 7))
    inputs = {"input_ids": ids, "attention_mask": torch.ones(6, 7, dtype=torch.int64)}
    labels = torch.randint(0, C, (6,))
    emb = model.get_input_embeddings()
    with torch.no_grad():
        plain = emb(ids)
    mixer = TEXT_MIXERS[name]()
    for _ in range(10):  # a plan that changes the embeddings (a per-batch choice may draw either member)
        p = mixer.sample((6, 7), labels=labels)
        if not torch.equal(mixer.mix(plain, p), plain):
            break
    assert isinstance(p.extra, RECORD[name]) and not torch.equal(mixer.mix(plain, p), plain)
    seen = []
    with attach(TextMixer(mixer), model, at="tokens") as mix:
        mix.arm(labels, params=p)
        handle = emb.register_forward_hook(lambda m, a, out: seen.append(out))  # after the mixing hook: sees the mix
        model(**inputs)
        target = mix.target(labels)
        handle.remove()
    assert len(seen) == 1 and torch.equal(seen[0], mixer.mix(plain, p))
    assert torch.equal(target.lam_rows(), p.target_rows()) and torch.equal(target.y_b, labels[p.index])

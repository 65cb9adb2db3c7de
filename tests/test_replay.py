"""A plan is closed: a plan of every mixer replays bit for bit through every entry point that accepts one, and
an entry point that cannot replay it says so.

Entry points: ``mixer.mix(x, p)`` (the reference), ``mixer(x, y, params=p)``, a hooked site armed with
``handle.arm(params=p)``, the text handle at the token embeddings, a ``state_dict`` round trip, and
``MixParams.mix`` (plans without extras only).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mixup_any import CutMix, MixParams, MixUp, MixupError, RandomChoice, attach

C = 4
MIXERS = {
    "mixup": lambda: MixUp(alpha=1.0, num_classes=C, seed=0),
    "mixup per sample": lambda: MixUp(alpha=0.4, per_sample=True, num_classes=C, seed=0),
    "cutmix": lambda: CutMix(num_classes=C, seed=0),
    "cutmix per sample": lambda: CutMix(per_sample=True, num_classes=C, seed=0),
    "choice per batch": lambda: RandomChoice([MixUp(num_classes=C), CutMix(num_classes=C)], seed=0),
    "choice per sample": lambda: RandomChoice([MixUp(num_classes=C), CutMix(num_classes=C)], per_sample=True, seed=0),
}


def batch():
    g = torch.Generator().manual_seed(3)
    return torch.randn(6, 3, 8, 8, generator=g), torch.randint(0, C, (6,), generator=g)


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


@pytest.mark.parametrize("name", list(MIXERS))
def test_a_plan_replays_bit_for_bit_through_every_entry_point(name):
    mixer = MIXERS[name]()
    x, y = batch()
    p = mixer.sample(x.shape, labels=y)
    want = mixer.mix(x, p)
    assert not torch.equal(want, x)  # a real mix, not the identity

    got, target = mixer(x, y, params=p)
    assert torch.equal(got, want) and torch.equal(target.lam, p.lam) and torch.equal(target.y_b, y[p.index])

    model = Recorder().train()
    with attach(mixer, model, at="body") as handle:
        handle.arm(y, params=p)
        model(x)
    assert torch.equal(model.seen[-1], want)

    replayed = MixParams.from_state_dict(p.state_dict())
    assert torch.equal(mixer.mix(x, replayed), want)

    if p.extras:  # a box or a choice: only the mixer that drew it can replay it
        with pytest.raises(MixupError, match="replay it with the mixer that drew it"):
            p.mix(x)
    else:
        assert torch.equal(p.mix(x), want)


def test_a_plan_replays_at_the_token_embeddings():
    transformers = pytest.importorskip("transformers")
    from mixup_any.text import attach_text

    cfg = transformers.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=16, num_labels=C)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(cfg).train()
    ids = torch.randint(0, 30, (5, 7))
    inputs = {"input_ids": ids, "attention_mask": torch.ones(5, 7, dtype=torch.int64)}
    labels = torch.randint(0, C, (5,))
    mixer = MixUp(alpha=1.0, per_sample=True, num_classes=C, seed=0)
    p = mixer.sample((5, 7), labels=labels)
    seen = []
    emb = model.get_input_embeddings()
    with attach_text(mixer, model, at="tokens") as mix:
        mix.arm(labels, params=p)
        handle = emb.register_forward_hook(lambda m, a, out: seen.append(out))  # after the mixing hook: sees the mix
        model(**inputs)
        target = mix.target(labels)
        handle.remove()
    with torch.no_grad():
        plain = emb(ids)
    torch.testing.assert_close(seen[0], mixer.mix(plain, p), rtol=0, atol=0)
    assert torch.equal(target.lam, p.lam)

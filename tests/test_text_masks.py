"""Attention-mask rules for mixed pairs: pure functions, checked row by row against a loop reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixup_any import MixupError
from mixup_any.params import MixParams
from mixup_any.text.masks import MASK_RULES, mix_attention_mask


@st.composite
def mask_and_plan(draw):
    b = draw(st.integers(1, 6))
    length = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, length + 1, (b,), generator=g)
    left = draw(st.booleans())
    pos = torch.arange(length).expand(b, length)
    mask = (pos >= length - lengths[:, None]) if left else (pos < lengths[:, None])
    lam = torch.rand(b, generator=g)
    lam[torch.rand(b, generator=g) < 0.3] = 1.0  # some rows not mixed
    index = torch.randperm(b, generator=g)
    return mask, MixParams(lam=lam, index=index)


def reference(mask: torch.Tensor, p: MixParams, rule: str) -> torch.Tensor:
    rows = []
    for i in range(mask.shape[0]):
        own, other = mask[i].tolist(), mask[int(p.index[i])].tolist()
        if float(p.lam[i]) == 1.0 or rule == "own":
            rows.append(own)
        elif rule == "union":
            rows.append([max(a, b) for a, b in zip(own, other, strict=True)])
        else:
            rows.append([min(a, b) for a, b in zip(own, other, strict=True)])
    return torch.tensor(rows, dtype=mask.dtype).reshape(mask.shape)


@pytest.mark.parametrize("dtype", [torch.long, torch.bool, torch.float32, torch.int32])
@pytest.mark.parametrize("rule", MASK_RULES)
@settings(max_examples=25, deadline=None)
@given(data=mask_and_plan())
def test_mask_rules_match_reference_and_keep_dtype(data, rule, dtype):
    mask, p = data
    mask = mask.to(dtype)
    before = mask.clone()
    out = mix_attention_mask(mask, p, rule)
    assert out.dtype == dtype and out.shape == mask.shape
    assert torch.equal(out, reference(mask, p, rule))
    assert torch.equal(mask, before)  # never in place


@settings(max_examples=25, deadline=None)
@given(data=mask_and_plan())
def test_union_contains_own_contains_intersection(data):
    mask, p = data
    u, o, i = (mix_attention_mask(mask, p, k) for k in ("union", "own", "intersection"))
    assert bool((u >= o).all()) and bool((o >= i).all())


def test_identity_plan_returns_the_mask_itself():
    m = torch.tensor([[1, 0], [1, 1]])
    assert mix_attention_mask(m, MixParams.identity(2), "union") is m


def test_bad_masks_and_mask_rules():
    p = MixParams(lam=torch.tensor([0.5, 0.5]), index=torch.tensor([1, 0]))
    with pytest.raises(MixupError, match="must be a \\(B, L\\) tensor.*got \\(2, 1, 1, 3\\)"):
        mix_attention_mask(torch.ones(2, 1, 1, 3), p)
    with pytest.raises(MixupError, match="batch size 3 .* plan is for 2 rows"):
        mix_attention_mask(torch.ones(3, 4), p)
    with pytest.raises(MixupError, match="Unknown attention-mask rule 'xor'"):
        mix_attention_mask(torch.ones(2, 4), p, "xor")
    with pytest.raises(MixupError, match="must return a tensor of shape \\(2, 4\\)"):
        mix_attention_mask(torch.ones(2, 4), p, lambda m, q: m[:1])


def test_a_per_batch_lam_of_one_keeps_every_mask():
    # an empty CutMix span gives lam = 1.0 for the batch: no row changed, so no row gains its partner's tokens
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    plan = MixParams(lam=1.0, index=torch.tensor([1, 0]))
    assert torch.equal(mix_attention_mask(mask, plan, "union"), mask)
    assert torch.equal(mix_attention_mask(mask, MixParams(lam=0.5, index=torch.tensor([1, 0])), "union"),
                       torch.ones(2, 4, dtype=mask.dtype))


def test_a_plan_on_another_device_than_the_mask_is_refused_not_copied():
    plan = MixParams(lam=0.5, index=torch.tensor([1, 0], device="meta"))
    with pytest.raises(MixupError, match="plan is on meta but attention_mask is on cpu"):
        mix_attention_mask(torch.ones(2, 3, dtype=torch.long), plan)

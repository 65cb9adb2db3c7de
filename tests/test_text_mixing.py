"""Token-embedding, embeddings-block, hidden-state (TMix) and pooled (senMixup) mixing on unmodified
Hugging Face models, each checked against an independent route (``inputs_embeds`` / the model's own heads)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

transformers = pytest.importorskip("transformers")

from mixup_any import HookSiteError, MixUp, MixupError, attach, mixed_loss  # noqa: E402
from mixup_any.frozen import cache_features  # noqa: E402
from mixup_any.params import MixParams  # noqa: E402
from mixup_any.text import SentenceEncoder, TextMixer  # noqa: E402
from mixup_any.text.masks import mix_attention_mask  # noqa: E402

V, H, NL, C, PAD = 50, 16, 3, 3, 1
ARCHS = ["bert", "roberta", "distilbert", "gpt2"]


def make_model(arch: str) -> nn.Module:
    torch.manual_seed(0)
    common = dict(vocab_size=V, num_labels=C, pad_token_id=PAD)
    if arch == "bert":
        cfg = transformers.BertConfig(hidden_size=H, num_hidden_layers=NL, num_attention_heads=2, intermediate_size=32,
                                      max_position_embeddings=32, hidden_dropout_prob=0.0,
                                      attention_probs_dropout_prob=0.0, type_vocab_size=2, **common)
        model = transformers.BertForSequenceClassification(cfg)
    elif arch == "roberta":
        cfg = transformers.RobertaConfig(hidden_size=H, num_hidden_layers=NL, num_attention_heads=2, intermediate_size=32,
                                         max_position_embeddings=40, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0, **common)
        model = transformers.RobertaForSequenceClassification(cfg)
    elif arch == "distilbert":
        cfg = transformers.DistilBertConfig(dim=H, n_layers=NL, n_heads=2, hidden_dim=32, max_position_embeddings=32,
                                            dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, **common)
        model = transformers.DistilBertForSequenceClassification(cfg)
    else:
        cfg = transformers.GPT2Config(n_embd=H, n_layer=NL, n_head=2, n_positions=32, resid_pdrop=0.0, embd_pdrop=0.0,
                                      attn_pdrop=0.0, bos_token_id=V - 1, eos_token_id=V - 1, **common)
        model = transformers.GPT2ForSequenceClassification(cfg)
    return model.train()


def make_batch(arch: str, b: int = 6, length: int = 7, left: bool | None = None, seed: int = 0) -> dict:
    """Sequences of different lengths; GPT-2 is left-padded (its head pools the last position)."""
    g = torch.Generator().manual_seed(seed)
    left = (arch == "gpt2") if left is None else left
    lengths = torch.randint(2, length + 1, (b,), generator=g)
    lengths[0] = length
    pos = torch.arange(length).expand(b, length)
    mask = (pos >= length - lengths[:, None]) if left else (pos < lengths[:, None])
    ids = torch.randint(3, V - 1, (b, length), generator=g).masked_fill(~mask, PAD)
    batch = {"input_ids": ids, "attention_mask": mask.long()}
    if arch == "bert":
        batch["token_type_ids"] = (pos >= length // 2).long() * mask.long()
    return batch


def labels_for(b: int) -> torch.Tensor:
    return torch.arange(b) % C


def reference_forward(model: nn.Module, arch: str, batch: dict, mixed_embeds: torch.Tensor, mask: torch.Tensor):
    """The same model fed the mixed token embeddings directly (``inputs_embeds``), positions from the own ids."""
    kwargs = {"inputs_embeds": mixed_embeds, "attention_mask": mask}
    if "token_type_ids" in batch:
        kwargs["token_type_ids"] = batch["token_type_ids"]
    if arch == "roberta":  # RoBERTa derives positions from the ids; give the same ones explicitly
        m = batch["input_ids"].ne(PAD).long()
        kwargs["position_ids"] = torch.cumsum(m, 1) * m + PAD
    return model(**kwargs).logits


def forward_seeing_mask(model: nn.Module, batch: dict):
    """``(model(**batch), the attention mask its forward received)``: a pre-hook registered after the handle's."""
    seen = {}
    h = model.register_forward_pre_hook(lambda m, a, kw: seen.update(mask=kw.get("attention_mask")),
                                        with_kwargs=True)
    try:
        out = model(**batch)
    finally:
        h.remove()
    return out, seen["mask"]


def union_ref(mask: torch.Tensor, p: MixParams) -> torch.Tensor:
    rows = []
    for i in range(mask.shape[0]):
        j = int(p.index[i])
        rows.append(mask[i] | mask[j] if float(p.lam[i]) < 1 else mask[i])
    return torch.stack(rows)


@pytest.mark.parametrize("arch", ARCHS)
def test_token_embeddings_are_mixed_as_lerp_and_match_inputs_embeds_route(arch):
    model, batch = make_model(arch), make_batch(arch)
    y = labels_for(6)
    mixer = MixUp(alpha=1.0, per_sample=True, seed=3)
    with attach(TextMixer(mixer), model, at="tokens") as mix:
        mix.arm(y)
        out, seen = forward_seeing_mask(model, batch)
        logits, target = out.logits, mix.target(y)
    p = mix.params
    assert p.site == mix.sites[0] and bool((p.lam < 1).all())
    e = model.get_input_embeddings().weight[batch["input_ids"]]
    expected = torch.stack([p.lam[i] * e[i] + (1 - p.lam[i]) * e[int(p.index[i])] for i in range(6)])
    mask = union_ref(batch["attention_mask"], p)
    torch.testing.assert_close(seen, mask, rtol=0, atol=0)
    torch.testing.assert_close(logits, reference_forward(model, arch, batch, expected, mask))
    assert torch.equal(target.y_b, y[p.index]) and torch.equal(target.lam_rows(), p.lam_rows())
    # the caller's batch is untouched
    assert all(torch.equal(batch[k], v) for k, v in make_batch(arch).items())


@pytest.mark.parametrize("arch", ARCHS)
def test_lam_one_is_bit_for_bit_the_unmixed_forward(arch):
    model, batch = make_model(arch), make_batch(arch)
    plain = model(**batch).logits
    with attach(TextMixer(MixUp(lam=1.0, per_sample=True, seed=0)), model, at="tokens") as mix:
        mix.arm(labels_for(6))
        out, seen = forward_seeing_mask(model, batch)
        target = mix.target(labels_for(6))
        assert mix.params.mixed and torch.equal(seen, batch["attention_mask"])
        assert torch.equal(out.logits, plain)
    assert torch.equal(target.soft(num_classes=C), F.one_hot(labels_for(6), C).float())


@pytest.mark.parametrize("arch", ["bert", "gpt2"])
@pytest.mark.parametrize("left", [False, True])
def test_padding_side_and_partner_lengths(arch, left):
    model, batch = make_model(arch), make_batch(arch, left=left, seed=5)
    # pair the longest row with the shortest: the union mask then covers the long partner
    short = int(batch["attention_mask"].sum(1).argmin())
    index = torch.arange(6)
    index[0], index[short] = short, 0
    p = MixParams(lam=torch.full((6,), 0.3), index=index)
    with attach(TextMixer(MixUp(seed=0)), model, at="tokens") as mix:
        mix.arm(labels_for(6), params=p)
        out, seen = forward_seeing_mask(model, batch)
        logits = out.logits
    assert torch.equal(seen[short], batch["attention_mask"][0])
    e = model.get_input_embeddings().weight[batch["input_ids"]]
    expected = torch.lerp(e[index], e, 0.3)
    ref = reference_forward(model, arch, batch, expected, union_ref(batch["attention_mask"], p))
    if arch == "gpt2" and not left:
        # right padding: GPT-2's head pools each row at its *own* last token, which the inputs_embeds route
        # cannot know; compare the rows whose last token is the last position
        rows = batch["attention_mask"][:, -1].bool()
        torch.testing.assert_close(logits[rows], ref[rows])
    else:
        torch.testing.assert_close(logits, ref)


@pytest.mark.parametrize("arch", ["bert", "distilbert", "gpt2"])
def test_embeddings_block_site_mixes_after_positions(arch):
    model, batch = make_model(arch), make_batch(arch)
    site = {"bert": "bert.embeddings", "distilbert": "distilbert.embeddings", "gpt2": "transformer.drop"}[arch]
    seen = {}
    block = model.get_submodule(site)
    h = block.register_forward_hook(lambda m, a, out: seen.setdefault("out", out))
    unmixed = model(**batch)
    h.remove()
    plain = seen.pop("out")
    p = MixParams(lam=torch.linspace(0.1, 0.9, 6), index=torch.tensor([5, 4, 3, 2, 1, 0]))
    with attach(TextMixer(MixUp(seed=0)), model, at="embeddings") as mix:
        h = block.register_forward_hook(lambda m, a, out: seen.setdefault("out", out))  # runs after the mix
        mix.arm(labels_for(6), params=p)
        model(**batch)
        h.remove()
    assert mix.sites == [site]
    w = p.lam_rows().view(-1, 1, 1)
    torch.testing.assert_close(seen["out"], w * plain + (1 - w) * plain[p.index])
    assert unmixed.logits.shape == (6, C)


@pytest.mark.parametrize("arch", ["bert", "gpt2"])
def test_tmix_draws_one_layer_per_batch_and_mixes_its_output(arch):
    model, batch = make_model(arch), make_batch(arch)
    hidden = model(**batch, output_hidden_states=True).hidden_states  # hidden_states[k] = output of layer k
    mixer = MixUp(alpha=1.0, seed=1)
    chosen = set()
    with attach(TextMixer(mixer, layers=[1, 2, 3]), model, at="hidden") as tm:
        assert tm.adapter.mask == "own" and tm.adapter.at == "hidden"
        for _ in range(24):
            seen = {}
            hooks = [model.get_submodule(s).register_forward_hook(
                lambda m, a, out, s=s, seen=seen: seen.setdefault(s, out[0] if isinstance(out, tuple) else out)) for s in tm.sites]
            tm.arm(labels_for(6))
            _, mask = forward_seeing_mask(model, batch)
            tm.target(labels_for(6))
            for hk in hooks:
                hk.remove()
            p = tm.params
            assert torch.equal(mask, batch["attention_mask"])  # the "own" mask rule
            k = tm.sites.index(p.site) + 1
            chosen.add(k)
            w = p.lam_rows().view(-1, 1, 1)
            if arch == "gpt2" and k == NL:  # GPT-2's last block output is normalised by ln_f in hidden_states
                continue
            torch.testing.assert_close(seen[p.site], w * hidden[k] + (1 - w) * hidden[k][p.index])
    assert chosen == {1, 2, 3}


@pytest.mark.parametrize("arch", ARCHS)
def test_pooled_mixing_mixes_the_vector_the_head_reads(arch):
    model, batch = make_model(arch), make_batch(arch)
    out = model(**batch, output_hidden_states=True)
    p = MixParams(lam=torch.tensor([0.2, 0.5, 0.7, 0.9, 0.4, 0.6]), index=torch.tensor([1, 0, 3, 2, 5, 4]))
    with attach(TextMixer(MixUp(seed=0)), model, at="pooled") as mix:
        mix.arm(labels_for(6), params=p)
        mixed, mask = forward_seeing_mask(model, batch)
        logits = mixed.logits
    w = p.lam_rows().view(-1, 1)
    last = out.hidden_states[-1]
    if arch == "bert":
        pooled = model.bert.pooler(last)
        ref = model.classifier(w * pooled + (1 - w) * pooled[p.index])
    elif arch == "roberta":
        ref = model.classifier(w.unsqueeze(-1) * last + (1 - w.unsqueeze(-1)) * last[p.index])
    elif arch == "distilbert":
        cls = w * last[:, 0] + (1 - w) * last[p.index, 0]
        ref = model.classifier(F.relu(model.pre_classifier(cls)))
    else:  # left padded: every row's head reads the last position
        ref = model.score(w * last[:, -1] + (1 - w) * last[p.index, -1])
    torch.testing.assert_close(logits, ref)
    assert torch.equal(mask, batch["attention_mask"])


def test_eval_mode_mixes_nothing():
    model, batch = make_model("bert"), make_batch("bert")
    model.eval()
    plain = model(**batch).logits
    mixer = MixUp(alpha=1.0, seed=0)
    with attach(TextMixer(mixer), model, at="tokens") as mix, pytest.warns(UserWarning, match="eval mode"):
        mix.arm(labels_for(6))
        out, mask = forward_seeing_mask(model, batch)
        target = mix.target(labels_for(6))
        assert not target.mixed and not mix.params.mixed
        assert mask is batch["attention_mask"]
        assert torch.equal(out.logits, plain)


def test_eval_mode_ignores_a_given_plan():
    model, batch = make_model("bert"), make_batch("bert")
    model.eval()
    plain = model(**batch).logits
    plan = MixParams(lam=torch.full((6,), 0.5), index=torch.arange(6).flip(0))
    with attach(TextMixer(MixUp(alpha=1.0, seed=0)), model, at="tokens") as mix, pytest.warns(UserWarning):
        mix.arm(labels_for(6), params=plan)
        out, mask = forward_seeing_mask(model, batch)
        target = mix.target(labels_for(6))
        assert not target.mixed and not mix.params.mixed
        assert torch.equal(mask, batch["attention_mask"])
        assert torch.equal(out.logits, plain)


def test_hooks_removed_after_with_block_and_on_error():
    model, batch = make_model("bert"), make_batch("bert")
    before = model(**batch).logits
    with pytest.raises(RuntimeError, match="boom"):
        with attach(TextMixer(MixUp(seed=0), layers=[1, 3]), model, at="hidden") as mix:
            mix.arm(labels_for(6))
            raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt):
        with attach(TextMixer(MixUp(seed=0)), model, at="tokens") as mix:
            mix.arm(labels_for(6))
            model(**batch)
            raise KeyboardInterrupt
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert torch.equal(model(**batch).logits, before)


def test_mask_passed_positionally_is_mixed_too():
    model, batch = make_model("bert"), make_batch("bert")
    p = MixParams(lam=torch.full((6,), 0.5), index=torch.tensor([5, 4, 3, 2, 1, 0]))
    with attach(TextMixer(MixUp(seed=0)), model, at="tokens") as mix:
        mix.arm(labels_for(6), params=p)
        by_keyword = model(**batch).logits
        mix.target(labels_for(6))
        mix.arm(labels_for(6), params=p)
        positional = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).logits
        mix.target(labels_for(6))
    torch.testing.assert_close(positional, by_keyword, rtol=0, atol=0)


def test_missing_attention_mask_means_all_ones():
    model, batch = make_model("bert"), make_batch("bert")
    batch = {"input_ids": batch["input_ids"].clamp(min=3)}
    p = MixParams(lam=torch.full((6,), 0.25), index=torch.tensor([1, 2, 3, 4, 5, 0]))
    with attach(TextMixer(MixUp(seed=0)), model, at="tokens") as mix:
        mix.arm(labels_for(6), params=p)
        logits, mask = forward_seeing_mask(model, batch)
        logits = logits.logits
    assert mask is None
    e = model.get_input_embeddings().weight[batch["input_ids"]]
    ref = reference_forward(model, "bert", batch, torch.lerp(e[p.index], e, 0.25), torch.ones(6, 7, dtype=torch.long))
    torch.testing.assert_close(logits, ref)


def test_frozen_encoder_token_mixing_trains_only_the_head():
    model, batch = make_model("bert"), make_batch("bert")
    for prm in model.bert.parameters():
        prm.requires_grad_(False)
    with attach(TextMixer(MixUp(alpha=1.0, seed=0)), model, at="tokens") as mix:
        mix.arm(labels_for(6))
        loss = mixed_loss(F.cross_entropy, model(**batch).logits, mix.target(labels_for(6)))
    loss.backward()
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0
    assert all(prm.grad is None for prm in model.bert.parameters())


def test_cache_features_matches_mean_pooling_and_feeds_a_plain_mixer():
    model, batch = make_model("bert"), make_batch("bert")
    enc = model.bert
    cache = cache_features(SentenceEncoder(enc), [(batch, labels_for(6)), (batch, labels_for(6))])
    feats = cache.features
    assert enc.training and cache.targets.shape == (12,)  # mode restored, labels kept
    with torch.no_grad():
        enc.eval()
        last = enc(**batch).last_hidden_state
        enc.train()
    m = batch["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(feats[:6], (last * m).sum(1) / m.sum(1))
    x, target = MixUp(alpha=1.0, seed=0)(feats[:6], labels_for(6))
    assert x.shape == (6, H) and target.lam_rows().shape == (6,)


# ------------------------------------------------------------------------------------- bad input


def test_model_without_get_input_embeddings():
    with pytest.raises(HookSiteError, match="no get_input_embeddings"):
        attach(TextMixer(MixUp()), nn.Sequential(nn.Embedding(5, 2)), at="tokens")


def test_inputs_embeds_is_refused_for_token_mixing():
    model = make_model("bert")
    with attach(TextMixer(MixUp(seed=0)), model, at="tokens") as mix:
        mix.arm(torch.tensor([0, 1]))
        with pytest.raises(MixupError, match="inputs_embeds.*input_ids instead"):
            model(inputs_embeds=torch.randn(2, 3, H))
        assert not mix.armed


def test_batch_sizes_that_disagree():
    model, batch = make_model("bert"), make_batch("bert")
    with attach(TextMixer(MixUp(seed=0)), model, at="tokens") as mix:
        mix.arm(labels_for(6))
        with pytest.raises(MixupError, match=r"attention_mask has shape \(5, 7\), but the inputs are \(6, 7\)"):
            model(**{**batch, "attention_mask": batch["attention_mask"][:5]})
        mix.arm(labels_for(5))
        with pytest.raises(MixupError, match="batch size 6 but the labels have 5 rows"):
            model(**batch)
        with pytest.raises(MixupError, match=r"arm\(labels\) needs the batch's targets"):
            mix.arm([0, 1])


def test_token_ids_given_to_an_input_mixer_point_to_text_mixing():
    with pytest.raises(MixupError, match="mixup_any.text"):
        MixUp()(torch.randint(0, 5, (4, 7)), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(MixupError, match="mixup_any.text"):
        MixUp()({"input_ids": torch.randint(0, 5, (4, 7))}, torch.tensor([0, 1, 0, 1]))


def test_bad_site_arguments():
    model = make_model("bert")
    with pytest.raises(HookSiteError, match="numbered 1..3"):
        attach(TextMixer(MixUp(), layers=[4]), model, at="hidden")
    with pytest.raises(MixupError, match=r"needs TextMixer\(mixer, layers=\.\.\.\)"):
        attach(TextMixer(MixUp()), model, at="hidden")
    with pytest.raises(MixupError, match=r"TextMixer\(layers=\.\.\.\) is for at='hidden'"):
        attach(TextMixer(MixUp(), layers=[1]), model, at="tokens")
    with pytest.raises(MixupError, match="Unknown attention-mask rule"):
        attach(TextMixer(MixUp(), mask="both"), model, at="tokens")
    with pytest.raises(MixupError, match="cannot apply"):
        attach(TextMixer(MixUp(), mask="union"), model, at="pooled")
    assert all(not m._forward_hooks for m in model.modules())


def test_pooled_site_of_unknown_model_type_asks_for_at():
    class Odd(nn.Module):
        config = type("C", (), {"model_type": "odd"})()

    with pytest.raises(HookSiteError, match="No known pooled site for model_type='odd'"):
        attach(TextMixer(MixUp()), Odd(), at="pooled")


def test_custom_mask_rule_is_used():
    model, batch = make_model("bert"), make_batch("bert")
    calls = []

    def ones(mask, params):
        calls.append(params)
        return torch.ones_like(mask)

    with attach(TextMixer(MixUp(alpha=1.0, seed=0), mask=ones), model, at="tokens") as mix:
        mix.arm(labels_for(6))
        _, mask = forward_seeing_mask(model, batch)
    assert len(calls) == 1 and bool((mask == 1).all())
    assert mix_attention_mask(batch["attention_mask"], calls[0], "own") is batch["attention_mask"]

"""Every per-batch route on every device: no host-device sync, dtype / device / memory format kept, and the
result equal to the CPU kernels replaying the same plan.

On CUDA each route runs under ``torch.cuda.set_sync_debug_mode("error")``, which raises on any operation
that waits for the device (``.item()``, ``.tolist()``, a blocking copy of a CPU tensor to the device). The
CUDA cases are skipped where there is no GPU; the CPU cases run everywhere and check the same logic.
"""

from __future__ import annotations

import contextlib
import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mixup_any import CutMix, MixParams, MixUp, MixupError, RandomChoice, attach, mixed_loss

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]
C = 5


@contextlib.contextmanager
def no_sync(device: str):
    """Raise on any host-device synchronization inside the block (CUDA only; CPU has none to find)."""
    if device != "cuda":
        yield
        return
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def on_cpu(p: MixParams) -> MixParams:
    return p.to("cpu")


MIXERS = {
    "mixup": lambda: MixUp(alpha=0.4, num_classes=C, seed=0),
    "mixup per sample, p, fold": lambda: MixUp(alpha=0.4, per_sample=True, p=0.7, per_sample_p=True, fold=True,
                                               num_classes=C, seed=0),
    "mixup exclude_classes": lambda: MixUp(alpha=1.0, exclude_classes=[0, 3], num_classes=C, seed=0),
    "mixup same_class": lambda: MixUp(pairing="same_class", num_classes=C, seed=0),
    "mixup different_class": lambda: MixUp(pairing="different_class", num_classes=C, seed=0),
    "mixup flip": lambda: MixUp(pairing="flip", num_classes=C, seed=0),
    "mixup uniform lam": lambda: MixUp(lam=(0.2, 0.8), num_classes=C, seed=0),
    "cutmix": lambda: CutMix(alpha=1.0, num_classes=C, seed=0),
    "cutmix per sample": lambda: CutMix(alpha=1.0, per_sample=True, min_area=0.1, num_classes=C, seed=0),
    "choice per batch": lambda: RandomChoice([MixUp(alpha=0.8, num_classes=C), CutMix(num_classes=C)], seed=0),
    "choice per sample": lambda: RandomChoice([MixUp(alpha=0.8, num_classes=C), CutMix(num_classes=C)],
                                              per_sample_member=True, seed=0),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(MIXERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_tensor_mixers_stay_on_the_device_and_equal_the_cpu_replay(device, name, dtype):
    mixer = MIXERS[name]()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 12, 12, generator=g).to(device=device, dtype=dtype).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, C, (16,), generator=g).to(device)
    mixer(x, y)  # first call: makes the device generator
    with no_sync(device):
        xm, target = mixer(x, y)
        loss = mixed_loss(F.cross_entropy, xm.float().mean((2, 3)).repeat(1, 2)[:, :C], target)
        loss.backward() if loss.requires_grad else None
    p = mixer.last_params if hasattr(mixer, "last_params") else None
    assert xm.device == x.device and xm.dtype == dtype
    assert xm.is_contiguous(memory_format=torch.channels_last)
    assert target.lam_rows().device == x.device and target.y_b.device == x.device
    # the same plan replayed on the CPU gives the same batch
    plan = mixer.sample(x.shape, labels=y)
    with no_sync(device):
        got = mixer.mix(x, plan)
    want = mixer.mix(x.cpu(), on_cpu(plan))
    torch.testing.assert_close(got.cpu(), want)
    del p


@pytest.mark.parametrize("device", DEVICES)
def test_label_distance_pairing_on_the_device(device):
    mixer = MixUp(pairing="label_distance", bandwidth=0.5, seed=0)
    x, y = torch.randn(12, 4, device=device), torch.randn(12, device=device)
    mixer(x, y)
    with no_sync(device):
        xm, target = mixer(x, y)
    assert xm.device == x.device and target.kind == "regression"


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.block1(x)).mean((2, 3)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mixer", [MixUp(alpha=2.0, num_classes=C, seed=0), CutMix(per_sample=True, seed=0)], ids=repr)
def test_hooks_stay_on_the_device(device, mixer):
    torch.manual_seed(0)
    model = Net().to(device)
    x, y = torch.randn(8, 3, 10, 10, device=device), torch.randint(0, C, (8,), device=device)
    with attach(mixer, model, at=["block1", "block2"]) as handle:
        for _ in range(2):  # the first forward makes the device generator
            with no_sync(device):
                handle.arm(y)
                loss = mixed_loss(nn.CrossEntropyLoss(), model(x), handle.target(y))
                loss.backward()
    assert handle.params.lam_rows().device == x.device


@pytest.mark.parametrize("device", DEVICES)
def test_text_token_embeddings_stay_on_the_device(device):
    transformers = pytest.importorskip("transformers")
    from mixup_any.text import TextMixer

    cfg = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, num_labels=C)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(cfg).to(device)
    batch = {"input_ids": torch.randint(0, 50, (6, 9), device=device),
             "attention_mask": torch.ones(6, 9, dtype=torch.int64, device=device)}
    batch["attention_mask"][:3, 6:] = 0
    labels = torch.randint(0, C, (6,), device=device)
    seen = {}
    with attach(TextMixer(MixUp(alpha=0.4, num_classes=C, seed=0)), model, at="tokens") as mix:
        model.register_forward_pre_hook(lambda m, a, kw: seen.update(kw), with_kwargs=True)  # after the handle's
        for _ in range(2):
            with no_sync(device):
                mix.arm(labels)
                loss = mix.loss(F.cross_entropy, model(**batch).logits, labels)
                loss.backward()
    assert seen["attention_mask"].device == labels.device and mix.params.mixed


@pytest.mark.parametrize("device", DEVICES)
def test_tabular_continuous_and_embeddings_stay_on_the_device(device):
    pytest.importorskip("sklearn")
    from mixup_any.tabular import TabularMixer, TabularMLP

    torch.manual_seed(0)
    model = TabularMLP(3, [4, 3], 2, dropout=0.0).to(device)
    x_cont, x_cat = torch.randn(8, 3, device=device), torch.randint(0, 3, (8, 2), device=device)
    y = torch.randint(0, 2, (8,), device=device)
    tm = TabularMixer(MixUp(alpha=1.0, per_sample=True, seed=1))
    with attach(tm, model, at="embeddings.*") as mix:
        for _ in range(2):
            with no_sync(device):
                mix.arm(y)
                loss = mix.loss(F.cross_entropy, model(x_cont, x_cat), y)
                loss.backward()
    assert mix.params.lam.device == x_cont.device and mix.params.mixed


@pytest.mark.parametrize("device", DEVICES)
def test_mixed_loss_with_class_weights_stays_on_the_device(device):
    mixer = MixUp(alpha=1.0, per_sample=True, num_classes=C, seed=0)
    out = torch.randn(8, C, device=device, requires_grad=True)
    y = torch.randint(0, C, (8,), device=device)
    _, target = mixer(torch.randn(8, 2, device=device), y)
    criterion = nn.CrossEntropyLoss(weight=torch.rand(C, device=device) + 0.5, label_smoothing=0.1)
    with no_sync(device):
        loss = mixed_loss(criterion, out, target) + mixed_loss(functools.partial(F.cross_entropy), out, target)
        loss.backward()
        target.soft()


@pytest.mark.parametrize("device", DEVICES)
def test_plan_or_generator_on_the_wrong_device_is_a_clear_error(device):
    other = "meta" if device == "cpu" else "cpu"
    x = torch.randn(4, 3, device=device)
    plan = MixParams(lam=torch.full((4,), 0.5, device=other), index=torch.arange(4, device=other).flip(0))
    with pytest.raises(MixupError, match=f"plan is on {other}"):
        MixUp().mix(x, plan)
    if device == "cuda":
        with pytest.raises(MixupError, match="generator is on cpu but the batch is on cuda"):
            MixUp().sample(x.shape, device=device, generator=torch.Generator())
    with pytest.raises(MixupError, match="out must have the shape, dtype and device"):
        plan = MixUp(seed=0).sample(x.shape, device=device)
        from mixup_any.functional import mix

        mix(x, plan.lam, plan.index, out=torch.empty(4, 3, device=other))


def test_the_same_seed_replays_per_device_and_state_dicts_carry_every_device():
    a, b = MixUp(alpha=0.4, per_sample=True, seed=7), MixUp(alpha=0.4, per_sample=True, seed=7)
    assert torch.equal(a.sample((5,)).lam, b.sample((5,)).lam)
    state = a.state_dict()
    first = a.sample((5,))
    a.load_state_dict(state)
    again = a.sample((5,))
    assert torch.equal(first.lam_rows(), again.lam_rows()) and torch.equal(first.index, again.index)
    assert set(state["generators"]) == {"cpu"}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("how", ["mixup", "cutmix", "classmix"])
def test_segmentation_masks_stay_on_the_device(device, how):
    from mixup_any.dense import SegmentationMix, mixed_mask_loss

    mixer = CutMix(per_sample=True, seed=0) if how != "mixup" else MixUp(alpha=1.0, seed=0)
    sm = SegmentationMix(mixer, classmix=how == "classmix", num_classes=C)
    images = torch.randn(4, 3, 8, 8, device=device)
    masks = torch.randint(0, C, (4, 8, 8), device=device)
    logits = torch.randn(4, C, 8, 8, device=device, requires_grad=True)
    sm(images, masks)
    with no_sync(device):
        x, target = sm(images, masks)
        mixed_mask_loss(logits, target).backward()
    assert x.device == images.device and target.lam.device == images.device

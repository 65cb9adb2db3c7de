"""Hook mixing costs, as ratios measured side by side (interleaved medians) in one run.

* ``hook_overhead_ratio``: forward + backward of a ResNet-style CNN (3x32x32 input, stem + 3 stages of
  basic residual blocks, batch 128, CPU) with hooks attached and armed, mixing at one block
  (``layer2``), over the same model without hooks. Target <= 1.03.
* ``hook_vs_inline_ratio``: hooked and armed over the same mix written into ``forward`` by hand, i.e. the
  cost of the hook machinery alone (the mixing arithmetic is in both).
* ``hook_disarmed_ratio``: the same hooked model, not armed (the validation path), over no hooks.
* the detail of ``hook_overhead_ratio`` gives the noise floor: the plain step timed twice, interleaved.
  On a shared 2-core machine it is often a few percent, as large as the effect measured.
* ``site_mix_fraction``: the mix at the site alone (partner gather + lerp on the ``layer2`` output,
  forward and backward), as a fraction of the plain step: the part of the overhead that is the
  mixing arithmetic itself rather than the hook machinery.

    python benchmarks/run.py --only hooks            # full sizes
    python benchmarks/run.py --only hooks --quick    # one thread, about 30 s
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from _timing import Figure, num_threads, time_many
from torch import nn

from mixup_any import MixUp, attach, mixed_loss
from mixup_any.functional import mix


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.short(x))


class ResNetish(nn.Module):
    def __init__(self, width: int = 16, blocks: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        chans = [width, 2 * width, 4 * width]
        layers, cin = [], width
        for i, c in enumerate(chans):
            layers.append(nn.Sequential(*[Block(cin if j == 0 else c, c, 2 if (i and j == 0) else 1)
                                          for j in range(blocks)]))
            cin = c
        self.layer1, self.layer2, self.layer3 = layers
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def run(quick: bool = False) -> list[dict]:
    # quick: one thread, since on a shared 2-core machine two threads oversubscribe and swing by +-20%
    with num_threads(1 if quick else None):
        return _run(quick)


def _run(quick: bool) -> list[dict]:
    b, blocks, repeats = (128, 1, 5) if quick else (128, 2, 15)
    torch.manual_seed(0)
    net = ResNetish(blocks=blocks).train()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(b, 3, 32, 32, generator=g), torch.randint(0, 10, (b,), generator=g)
    mixer = MixUp(alpha=2.0, num_classes=10, seed=0)
    with torch.no_grad():
        site_shape = net.layer2(net.layer1(net.stem(x))).shape

    # one model for all variants (no copy whose memory layout could differ); hooks are attached per step,
    # as a training loop that attaches inside its step would, so the attach/remove cost is included too
    def plain() -> None:
        F.cross_entropy(net(x), y).backward()
        net.zero_grad(set_to_none=True)

    def hooked_armed() -> None:
        with attach(mixer, net, at="layer2") as handle:
            handle.arm(labels=y)
            out = net(x)
            mixed_loss(F.cross_entropy, out, handle.target(y)).backward()
        net.zero_grad(set_to_none=True)

    def inline() -> None:  # the same mixing written into the forward by hand: no hooks at all
        p = mixer.sample(site_shape, labels=y)
        h = mix(net.layer2(net.layer1(net.stem(x))), p.lam, p.index)
        mixed_loss(F.cross_entropy, net.head(net.layer3(h)), mixer.mix_target(y, p)).backward()
        net.zero_grad(set_to_none=True)

    def hooked_disarmed() -> None:
        with attach(mixer, net, at="layer2"):
            F.cross_entropy(net(x), y).backward()
        net.zero_grad(set_to_none=True)

    act = torch.randn(site_shape, generator=g).requires_grad_()
    p = mixer.sample(site_shape, labels=y)
    grad_out = torch.randn(site_shape, generator=g)

    def site_mix() -> None:  # partner gather + lerp, forward and backward, at the site's shape
        mix(act, p.lam, p.index).backward(grad_out)
        act.grad = None

    # "plain" twice: the ratio of the two copies is the noise floor of this run (same code, same model)
    t = time_many({"plain": plain, "armed": hooked_armed, "inline": inline, "disarmed": hooked_disarmed,
                   "mix": site_mix, "plain_again": plain}, repeats=repeats, warmup=1 if quick else 2)
    ratio = t["armed"] / t["plain"]
    detail = (f"ResNet-style CNN ({3 * blocks} residual blocks), batch {b}, 3x32x32, CPU "
              f"{torch.get_num_threads()} threads, mixing at layer2 {tuple(site_shape)}; interleaved medians of "
              f"{repeats}: plain {t['plain'] * 1e3:.1f} ms, hooked+armed {t['armed'] * 1e3:.1f} ms")
    detail += f"; noise floor (plain vs plain): {t['plain_again'] / t['plain']:.3f}"
    return [
        Figure("hook_overhead_ratio", ratio, "<= 1.03", detail),
        Figure("hook_vs_inline_ratio", t["armed"] / t["inline"], "~1.00",
               f"hooked+armed over the same mix written into forward by hand: {t['inline'] * 1e3:.1f} ms "
               "(the hook machinery alone)"),
        Figure("hook_disarmed_ratio", t["disarmed"] / t["plain"], "~1.00",
               f"hooks attached, not armed: {t['disarmed'] * 1e3:.1f} ms"),
        Figure("site_mix_fraction", t["mix"] / t["plain"], "",
               f"mix() at the site alone, fwd+bwd: {t['mix'] * 1e3:.2f} ms (share of the plain step)"),
    ]


if __name__ == "__main__":
    for f in run(quick=True):
        print(f)

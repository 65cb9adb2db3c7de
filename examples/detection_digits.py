"""Detection mixup on real digits: scikit-learn's 8x8 digits composed into 40x40 scenes with their boxes.

Each scene holds 1 to 3 digits (scaled 1x or 2x, placed at random, overlaps allowed); each box is the
tight box of the digit's inked pixels. Train and test scenes are built from disjoint halves of the
digits. The detector is a small grid detector (stride 4: objectness, 10 classes and the box per cell,
the box assigned to the cell of its centre), trained on CPU with ERM and with detection mixup
(``DetectionMix``, λ ~ Beta(1.5, 1.5); the per-box weights enter the loss through
``box_weighted_loss``), over several seeds; the metric is mAP at IoU 0.5 on the test scenes, and the
verdict is the paired t-interval over seeds (95%, ``paired_t_interval``), pairs sharing the seed's scenes,
init and batch order.

    python examples/detection_digits.py                 # 3 seeds, about 2-3 minutes on 2 CPU cores
    python examples/detection_digits.py --seeds 5 --epochs 12 --arms erm mixup cutmix
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor, nn

from mixup_any import CutMix, MixUp
from mixup_any.dense import DetectionMix, box_weighted_loss
from mixup_any.metrics import paired_t_interval

S, STRIDE, K = 40, 4, 10  # scene side, cell size, classes
G = S // STRIDE



def make_scenes(digits: Tensor, labels: Tensor, n: int, g: torch.Generator) -> tuple[Tensor, list[dict]]:
    """``n`` scenes ``(n, 1, S, S)`` in [0, 1] and their targets (XYXY pixel boxes, labels)."""
    images = torch.zeros(n, 1, S, S)
    targets = []
    for i in range(n):
        k = int(torch.randint(1, 4, (1,), generator=g))
        boxes, labs = [], []
        for _ in range(k):
            j = int(torch.randint(len(digits), (1,), generator=g))
            scale = int(torch.randint(1, 3, (1,), generator=g))
            patch = F.interpolate(digits[j][None, None], scale_factor=scale, mode="nearest")[0, 0]
            ys, xs = (patch > 0.1).nonzero(as_tuple=True)
            p = 8 * scale
            y0, x0 = (int(v) for v in torch.randint(0, S - p + 1, (2,), generator=g))
            images[i, 0, y0:y0 + p, x0:x0 + p] = torch.maximum(images[i, 0, y0:y0 + p, x0:x0 + p], patch)
            boxes.append([x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1])
            labs.append(int(labels[j]))
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labs)})
    return images, targets


class GridDetector(nn.Module):
    """Per cell of a G x G grid: objectness, K class logits, box (dx, dy in the cell; w, h / S)."""

    def __init__(self) -> None:
        super().__init__()
        c = 32
        def block(cin: int, cout: int, **kw: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, bias=False, **kw), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, c // 2, padding=1), *block(c // 2, c, stride=2, padding=1), *block(c, c, padding=1),
            *block(c, c, stride=2, padding=1), *block(c, c, padding=2, dilation=2),
            nn.Conv2d(c, 1 + K + 4, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)  # (B, 1 + K + 4, G, G)


def assign(targets: list[dict]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Each box to the cell of its centre: (image, gy, gx, labels, box parameters, weights)."""
    boxes = torch.cat([t["boxes"] for t in targets])
    img = torch.repeat_interleave(torch.arange(len(targets)), torch.tensor([len(t["boxes"]) for t in targets]))
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    gx, gy = (cx / STRIDE).long().clamp(max=G - 1), (cy / STRIDE).long().clamp(max=G - 1)
    params = torch.stack((cx / STRIDE - gx, cy / STRIDE - gy, (boxes[:, 2] - boxes[:, 0]) / S,
                          (boxes[:, 3] - boxes[:, 1]) / S), dim=1)
    weights = torch.cat([t.get("weights", torch.ones(len(t["boxes"]))) for t in targets])
    return img, gy, gx, torch.cat([t["labels"] for t in targets]), params, weights


def detection_loss(out: Tensor, targets: list[dict]) -> Tensor:
    img, gy, gx, labels, params, weights = assign(targets)
    cell = out[img, :, gy, gx]  # (N, 1 + K + 4): the prediction responsible for each box
    per_box = (F.binary_cross_entropy_with_logits(cell[:, 0], torch.ones_like(cell[:, 0]), reduction="none")
               + F.cross_entropy(cell[:, 1:1 + K], labels, reduction="none")
               + 5 * F.l1_loss(torch.cat((cell[:, 1 + K:3 + K].sigmoid(), cell[:, 3 + K:]), 1), params,
                               reduction="none").sum(1))
    empty = torch.ones(out.shape[0], G, G, dtype=torch.bool)
    empty[img, gy, gx] = False
    neg = F.binary_cross_entropy_with_logits(out[:, 0][empty], torch.zeros(int(empty.sum())))
    return box_weighted_loss(per_box, weights) + neg


@torch.no_grad()
def detect(model: nn.Module, images: Tensor, min_score: float = 0.05) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per image: boxes (n, 4), scores (n,), labels (n,), after per-class greedy NMS at IoU 0.5."""
    out = model(images)
    obj = out[:, 0].sigmoid()
    prob, label = out[:, 1:1 + K].softmax(1).max(1)
    score = obj * prob
    gy, gx = torch.meshgrid(torch.arange(G), torch.arange(G), indexing="ij")
    cx = (gx + out[:, 1 + K].sigmoid()) * STRIDE
    cy = (gy + out[:, 2 + K].sigmoid()) * STRIDE
    w, h = out[:, 3 + K] * S, out[:, 4 + K] * S
    boxes = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)
    res = []
    for i in range(images.shape[0]):
        s, order = score[i].flatten().topk(10)  # at most 10 candidates per scene (scenes hold at most 3 digits)
        keep = s > min_score
        b, s, lab = boxes[i].view(-1, 4)[order][keep], s[keep], label[i].flatten()[order][keep]
        clash = ((iou(b, b) >= 0.5) & (lab[:, None] == lab[None, :])).tolist()
        chosen: list[int] = []
        for k in range(len(s)):  # greedy NMS per class over the precomputed IoU matrix
            if not any(clash[c][k] for c in chosen):
                chosen.append(k)
        res.append((b[chosen], s[chosen], lab[chosen]))
    return res


def iou(a: Tensor, b: Tensor) -> Tensor:
    """(n, m) IoU of XYXY boxes."""
    lo = torch.maximum(a[:, None, :2], b[None, :, :2])
    hi = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    area = lambda z: (z[:, 2:] - z[:, :2]).clamp(min=0).prod(-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def mean_ap(dets: list[tuple[Tensor, Tensor, Tensor]], targets: list[dict]) -> float:
    """mAP at IoU 0.5 (all-point interpolated AP, averaged over the classes)."""
    aps = []
    for c in range(K):
        gts = [t["boxes"][t["labels"] == c] for t in targets]
        n_gt = sum(len(g) for g in gts)
        found = [(float(s), i, b) for i, (bx, sc, lb) in enumerate(dets) for b, s in zip(bx[lb == c], sc[lb == c], strict=False)]
        found.sort(key=lambda r: -r[0])
        used = [torch.zeros(len(g), dtype=torch.bool) for g in gts]
        tp = []
        for _, i, b in found:
            ok = False
            if len(gts[i]):
                ious = iou(b[None], gts[i])[0].masked_fill(used[i], -1.0)
                j = int(ious.argmax())
                if ious[j] >= 0.5:
                    used[i][j] = ok = True
            tp.append(ok)
        if n_gt == 0:
            continue
        tp_t = torch.tensor(tp, dtype=torch.float64)
        recall = torch.cat((torch.zeros(1), tp_t.cumsum(0) / n_gt))
        precision = torch.cat((torch.ones(1), tp_t.cumsum(0) / torch.arange(1, len(tp) + 1)))
        precision = precision.flip(0).cummax(0).values.flip(0)  # the precision envelope
        aps.append(float(((recall[1:] - recall[:-1]) * precision[1:]).sum()))
    return sum(aps) / len(aps)


def run(seed: int, arm: str, data: tuple, epochs: int, alpha: float) -> float:
    (xtr, ttr), (xte, tte) = data
    torch.manual_seed(seed)  # same init for every arm of a seed
    model = GridDetector()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=steps)
    mixer = {"erm": None, "mixup": DetectionMix(MixUp(alpha=alpha, seed=seed)),
             "cutmix": DetectionMix(CutMix(alpha=1.0, seed=seed))}[arm]
    order = torch.Generator().manual_seed(seed)  # same batch order for every arm
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=order).tolist()
        for k in range(0, len(perm), 64):
            idx = perm[k:k + 64]
            x, t = xtr[idx], [ttr[i] for i in idx]
            if mixer is not None:
                x, t = mixer(x, t)
            loss = detection_loss(model(x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return mean_ap(detect(model, xte), tte)


def paired(a: list[float], b: list[float]) -> str:
    iv = paired_t_interval(a, b)
    verdict = "beyond the seed noise" if iv.beyond_noise else "within the seed noise"
    return f"{iv.diff:+.4f}, 95% interval [{iv.low:+.4f}, {iv.high:+.4f}]: {verdict}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train", type=int, default=1200, help="training scenes")
    ap.add_argument("--test", type=int, default=500, help="test scenes")
    ap.add_argument("--alpha", type=float, default=1.5)
    ap.add_argument("--figure", help="save a picture of a mixed training batch (MixUp and CutMix) here and exit")
    ap.add_argument("--arms", nargs="+", default=["erm", "mixup"], choices=["erm", "mixup", "cutmix"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = load_digits()
    digits = torch.tensor(d.images, dtype=torch.float32) / 16.0
    labels = torch.tensor(d.target)
    if args.figure:
        from mixup_any.viz import plot_dense_batch

        x, t = make_scenes(digits, labels, 4, torch.Generator().manual_seed(0))
        xm, tm = DetectionMix(MixUp(alpha=args.alpha, seed=0))(x, t)
        xc, tc = DetectionMix(CutMix(alpha=1.0, seed=1), min_visible=0.3)(x, t)
        plot_dense_batch(torch.cat((xm, xc)), tm + tc, ncols=4).savefig(args.figure, dpi=110)
        return
    res: dict[str, list[float]] = {a: [] for a in args.arms}
    t0 = time.time()
    for seed in range(args.seeds):
        g = torch.Generator().manual_seed(1000 + seed)
        perm = torch.randperm(len(digits), generator=g)
        tr, te = perm[: len(perm) // 2], perm[len(perm) // 2:]
        data = (make_scenes(digits[tr], labels[tr], args.train, g), make_scenes(digits[te], labels[te], args.test, g))
        for arm in args.arms:
            res[arm].append(run(seed, arm, data, args.epochs, args.alpha))
            print(f"seed {seed} {arm:<7} mAP@0.5 = {res[arm][-1]:.4f}   ({time.time() - t0:.0f} s)", flush=True)
    print(f"\n{args.train} training scenes, {args.test} test scenes, {args.epochs} epochs, {args.seeds} seeds")
    for arm, v in res.items():
        t = torch.tensor(v)
        print(f"{arm:<7} mAP@0.5 {float(t.mean()):.4f} ± {float(t.std()) if len(t) > 1 else 0.0:.4f} (std over seeds)")
    for arm in args.arms[1:]:
        print(f"{arm} - {args.arms[0]} (paired by seed): {paired(res[arm], res[args.arms[0]])}")


if __name__ == "__main__":
    main()

"""The estimators' training loop: the seed, the validation split, epochs of AdamW steps on mixed
batches, early stopping on the validation loss (not public; :mod:`mixup_any.tabular.estimators` uses it).

Every random draw comes from one ``torch.Generator``, in a fixed order: the split, then per epoch the
batch order, and per batch the C-Mixup partners (when on) and the mixing draw.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..exceptions import MixupError
from ..extras import require
from ..hooks import attach
from ..modes import mode_loss
from .cmixup import label_distance_partners
from .mixer import TabularMixer
from .model import TabularMLP

LossFn = Callable[..., Tensor]
PREDICT_CHUNK = 16384


def seed_from(random_state: Any) -> int:
    """The generator's seed: ``random_state`` itself, a draw from a numpy ``RandomState``, or a fresh one."""
    if random_state is None:
        return secrets.randbits(62)
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):  # the caller's own RNG, as sklearn allows
        return int(random_state.randint(0, 2**31 - 1))
    raise MixupError(f"random_state must be None, an int or a numpy RandomState, got {random_state!r}.")


def split_rows(y: Tensor, fraction: float, stratify: bool, g: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """``(train, validation)`` row ids: ``fraction`` of the rows (of each class when ``stratify``) held out.

    Every row is a training row (and the validation part ``None``) when ``fraction`` is 0 or a part
    would have fewer than 2 rows.
    """
    n = y.shape[0]
    perm = torch.randperm(n, generator=g)
    if fraction == 0:
        return perm, None
    if stratify:
        ys = y[perm]
        parts = [perm[ys == c] for c in torch.unique(ys)]
        val = torch.cat([rows[:int(fraction * rows.shape[0])] for rows in parts])
        train = torch.cat([rows[int(fraction * rows.shape[0]):] for rows in parts])
    else:
        k = int(fraction * n)
        val, train = perm[:k], perm[k:]
    if val.shape[0] < 2 or train.shape[0] < 2:
        return perm, None
    return train, val


def auto_batch_size(n_train: int) -> int:
    """``batch_size="auto"``: 256 rows up to 25,600 training rows, then 1% of them, at most 1024."""
    return int(min(1024, max(256, n_train // 100)))


def forward_in_chunks(model: TabularMLP, x_cont: Tensor, x_cat: Tensor) -> Tensor:
    """``model`` on ``(n, ...)`` inputs, :data:`PREDICT_CHUNK` rows at a time."""
    outs = [model(x_cont[i:i + PREDICT_CHUNK], x_cat[i:i + PREDICT_CHUNK])
            for i in range(0, x_cont.shape[0], PREDICT_CHUNK)]
    return torch.cat(outs) if outs else torch.zeros(0, model.out_features)


@dataclass(frozen=True)
class LoopOptions:
    """The estimator's training options, as the loop reads them.

    ``cmixup_bandwidth``: whole-set C-Mixup partners with this σ (``None``: in-batch pairing).
    ``progress``: the title of a tqdm bar over epochs (``None``: no bar).
    """

    max_epochs: int
    batch_size: int | str
    lr: float
    weight_decay: float
    early_stopping: bool
    n_iter_no_change: int
    mode: str
    eta: float
    cmixup_bandwidth: float | None = None
    progress: str | None = None


class _EarlyStopping:
    """Keeps the best epoch's weights; stops after ``patience`` epochs without improvement."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best, self.best_epoch, self.waited = float("inf"), 0, 0
        self.best_state: dict[str, Tensor] | None = None

    def update(self, val_loss: float, epoch: int, model: TabularMLP) -> bool:
        """Record an epoch's validation loss; ``True`` when training should stop."""
        if val_loss < self.best - 1e-4:
            self.best, self.best_epoch, self.waited = val_loss, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.waited += 1
        return self.waited >= self.patience


def train(model: TabularMLP, tm: TabularMixer, loss_fn: LossFn, data: tuple[Tensor, Tensor, Tensor],
          train_idx: Tensor, val_idx: Tensor | None, g: torch.Generator,
          opts: LoopOptions) -> tuple[list[dict[str, float]], int]:
    """Train ``model`` in place; returns the per-epoch log and the epoch whose weights it keeps.

    Args:
        data: ``x_cont (n, D)``, ``x_cat (n, K)`` and the targets ``y (n, ...)`` of the whole table.
        train_idx, val_idx: row ids of the training and validation parts (``val_idx`` may be ``None``).
    """
    x_cont, x_cat, y = data
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    n = train_idx.shape[0]
    bs = auto_batch_size(n) if opts.batch_size == "auto" else int(opts.batch_size)
    epochs: Any = range(opts.max_epochs)
    bar = None
    if opts.progress is not None:
        bar = epochs = require("tqdm", feature="verbose=True (a progress bar)").tqdm(epochs, desc=opts.progress,
                                                                                    leave=False)
    stopper = _EarlyStopping(opts.n_iter_no_change) if opts.early_stopping and val_idx is not None else None
    log: list[dict[str, float]] = []
    with attach(tm, model, at="joined" if tm.categorical_mixing == "embedding" else None) as mixing:
        for epoch in epochs:
            model.train()
            tm.mixer.set_epoch(epoch)
            entry = {"epoch": epoch, "train_loss": _epoch(model, mixing, opt, loss_fn, data, train_idx, bs, g, opts)}
            if val_idx is not None:
                model.eval()
                with torch.no_grad():
                    entry["val_loss"] = float(loss_fn(forward_in_chunks(model, x_cont[val_idx], x_cat[val_idx]),
                                                      y[val_idx]))
            log.append(entry)
            if bar is not None:
                bar.set_postfix({k: f"{v:.4f}" for k, v in entry.items() if k != "epoch"})
            if stopper is not None and stopper.update(entry["val_loss"], epoch, model):
                break
    if bar is not None:
        bar.close()
    return log, _keep_best(model, stopper, len(log) - 1)


def _keep_best(model: TabularMLP, stopper: _EarlyStopping | None, last_epoch: int) -> int:
    """Load the early-stopping's best weights into ``model`` (if any) and set it to eval; the epoch kept."""
    best_epoch = last_epoch
    if stopper is not None and stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
        best_epoch = stopper.best_epoch
    model.eval()
    return best_epoch


def _epoch(model: TabularMLP, mixing: Any, opt: torch.optim.Optimizer, loss_fn: LossFn,
           data: tuple[Tensor, Tensor, Tensor], train_idx: Tensor, bs: int, g: torch.Generator,
           opts: LoopOptions) -> float:
    """One pass over the training rows in a fresh order; the mean training loss."""
    x_cont, x_cat, y = data
    n = train_idx.shape[0]
    perm = train_idx[torch.randperm(n, generator=g)]
    total = torch.zeros(())
    for start in range(0, n, bs):
        idx = perm[start:start + bs]
        rows, n_rows = idx, None
        if opts.cmixup_bandwidth is not None:  # the batch, then each row's partner from the whole training set
            rows = torch.cat([idx, label_distance_partners(y[idx], y[train_idx], idx, train_idx,
                                                           opts.cmixup_bandwidth, g)])
            n_rows = idx.shape[0]
        loss = _step(model, mixing, opt, loss_fn, (x_cont[rows], x_cat[rows], y[rows]), g, opts, n_rows)
        total += loss * idx.shape[0]
    return float(total) / n


def _step(model: TabularMLP, mixing: Any, opt: torch.optim.Optimizer, loss_fn: LossFn,
          batch: tuple[Tensor, Tensor, Tensor], g: torch.Generator, opts: LoopOptions,
          n_rows: int | None) -> Tensor:
    """One training step: one draw, mixed inputs and embeddings, the mode's loss, update; the detached loss.

    ``n_rows``: only the first ``n_rows`` rows are the batch; the rest are their partners (whole-set
    C-Mixup), which pair with themselves, stay unmixed and are left out of the loss.

    RegMixup runs two forwards, the clean batch before the draw arms the embedding hooks, then the
    mixed batch: :class:`TabularMLP` has no batch statistics, so this equals one forward on the
    concatenated batch (:func:`~mixup_any.modes.regmixup_loss`), and the hooks keep the batch's plan.
    """
    x_cont, x_cat, y = batch
    n = x_cont.shape[0] if n_rows is None else n_rows
    clean = model(x_cont[:n], x_cat[:n]) if opts.mode == "regmixup" else None
    mixing.arm(y, params=mixing.adapter.tabular.sample(x_cont, x_cat, labels=y, generator=g))
    out = model(x_cont, x_cat)
    target = mixing.target(y)
    if n_rows is not None:
        out = out[:n]
        target = target.first(n)
    if clean is not None:
        out = torch.cat([clean, out])
    loss = mode_loss(loss_fn, out, target, mode=opts.mode, eta=opts.eta)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()

"""The estimators' training loop: the seed, the validation split, epochs of AdamW steps on mixed
batches, early stopping on the validation loss (not public; :mod:`mixup_any.tabular._base` uses it).

Every random draw comes from one ``torch.Generator``, in a fixed order: the split, then per epoch the
batch order, and per batch the C-Mixup partners (when on) and the mixing draw.
"""

from __future__ import annotations

import secrets
from numbers import Integral
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..exceptions import MixupError
from ..extras import require
from ..hooks import attach
from ..modes import mode_loss
from ..sampling import label_distance_partners
from .mixer import TabularMixer
from .model import TabularMLP

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


def forward_in_chunks(model: TabularMLP, x_cont: Tensor, x_cat: Tensor) -> Tensor:
    """``model`` on ``(n, ...)`` inputs, :data:`PREDICT_CHUNK` rows at a time."""
    outs = [model(x_cont[i:i + PREDICT_CHUNK], x_cat[i:i + PREDICT_CHUNK])
            for i in range(0, x_cont.shape[0], PREDICT_CHUNK)]
    return torch.cat(outs) if outs else torch.zeros(0, model.out_features)


def train(est: Any, model: TabularMLP, tm: TabularMixer, data: tuple[Tensor, Tensor, Tensor], train_idx: Tensor,
          val_idx: Tensor | None, g: torch.Generator) -> tuple[list[dict[str, float]], int]:
    """Train ``model`` in place with the options of the estimator ``est``; returns the per-epoch log and the
    epoch whose weights it keeps (early stopping keeps the best). ``data``: the table's ``x_cont (n, D)``,
    ``x_cat (n, K)``, ``y (n, ...)``; ``train_idx``, ``val_idx`` (or ``None``) index its rows."""
    x_cont, x_cat, y = data
    opt = torch.optim.AdamW(model.parameters(), lr=float(est.lr), weight_decay=float(est.weight_decay))
    n = train_idx.shape[0]
    bs = int(min(1024, max(256, n // 100))) if est.batch_size == "auto" else int(est.batch_size)
    epochs: Any = range(int(est.max_epochs))
    if est.verbose:  # a tqdm bar over epochs
        epochs = require("tqdm", "tabular", feature="verbose=True (a progress bar)").tqdm(
            epochs, desc=f"{type(est).__name__} {est._mode()} alpha={est._alpha():g}", leave=False)
    early_stopping = est.early_stopping and val_idx is not None
    best, best_epoch, waited, best_state = float("inf"), 0, 0, None
    log: list[dict[str, float]] = []
    with attach(tm, model, at="joined" if tm.categorical_mixing == "embedding" else None) as mixing:
        for epoch in epochs:
            model.train()
            tm.mixer.set_epoch(epoch)
            entry = {"epoch": epoch, "train_loss": _epoch(est, model, mixing, opt, data, train_idx, bs, g)}
            if val_idx is not None:
                model.eval()
                with torch.no_grad():
                    entry["val_loss"] = float(est._loss_fn(forward_in_chunks(model, x_cont[val_idx],
                                                                             x_cat[val_idx]), y[val_idx]))
            log.append(entry)
            if est.verbose:
                epochs.set_postfix({k: f"{v:.4f}" for k, v in entry.items() if k != "epoch"})
            if early_stopping:  # keep the best epoch's weights; stop after n_iter_no_change without improvement
                if entry["val_loss"] < best - 1e-4:
                    best, best_epoch, waited = entry["val_loss"], epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    waited += 1
                if waited >= est.n_iter_no_change:
                    break
    if est.verbose:
        epochs.close()
    if best_state is None:
        best_epoch = len(log) - 1
    else:
        model.load_state_dict(best_state)
    return log, best_epoch


def _epoch(est: Any, model: TabularMLP, mixing: Any, opt: torch.optim.Optimizer, data: tuple[Tensor, Tensor, Tensor],
           train_idx: Tensor, bs: int, g: torch.Generator) -> float:
    """One pass over the training rows in a fresh order, one step per batch; the mean training loss.

    With whole-set C-Mixup each row's partner is appended to the batch (unmixed, left out of the loss).
    RegMixup runs the clean batch before arming, then the mixed one: :class:`TabularMLP` has no batch
    statistics, so this equals one forward on the concatenated batch.
    """
    x_cont, x_cat, y = data
    mode, whole_set = est._mode(), est._whole_set_pairing()
    n = train_idx.shape[0]
    perm = train_idx[torch.randperm(n, generator=g)]
    total = torch.zeros(())
    pool = y[train_idx] if whole_set else None  # whole-set C-Mixup's candidate labels, one per fit
    for start in range(0, n, bs):
        idx = perm[start:start + bs]
        b = idx.shape[0]
        rows = idx if not whole_set else torch.cat([idx, train_idx[label_distance_partners(
            y[idx], float(est.bandwidth), g, pool=pool, same=idx[:, None] == train_idx[None, :])]])
        xc, xk, yb = x_cont[rows], x_cat[rows], y[rows]
        clean = model(xc[:b], xk[:b]) if mode == "regmixup" else None
        mixing.arm(yb, params=mixing.adapter.tabular.sample(xc, xk, labels=yb, generator=g))
        out, target = model(xc, xk), mixing.target(yb)
        if whole_set:
            out, target = out[:b], target.first(b)
        if clean is not None:
            out = torch.cat([clean, out])
        loss = mode_loss(est._loss_fn, out, target, mode=mode, eta=float(est.eta))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * b
    return float(total) / n

"""Mix a table batch with one draw: continuous columns directly, each categorical variable in its own
embedding space (forward hooks on its ``nn.Embedding``), or by one-hot mixing, or by swapping.

Category codes are never interpolated: ``0.3 * "rent" + 0.7 * "owner"`` is not a category, and
rounding the average of two codes gives a third, unrelated one. The three policies:

``"embedding"`` (default)
    The continuous tensor is mixed with the draw, and the *same* draw is armed on hooks attached to
    every per-variable embedding module, so each variable is mixed in its own embedding space
    (``e(x̃_j) = lam·e(x_j) + (1-lam)·e(x_j[index])``). Targets use the same ``lam``.
``"onehot"``
    For models without embeddings: each variable becomes a one-hot block (its cardinality wide), the
    blocks are concatenated ``(B, sum(cardinalities))`` and mixed with the draw. A linear first layer
    on one-hot inputs is an embedding, so this equals embedding mixing for such a layer.
``"swap"``
    Row ``i`` takes its partner's category for each variable with probability ``1 - lam``. The
    continuous columns are mixed with ``lam``, and the target weight becomes the share of the row's
    own features that it kept: ``(n_cont·lam + n_kept) / (n_cont + n_cat)``, i.e. the kept fraction of
    the categorical variables when there are no continuous columns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..exceptions import MixupError
from ..functional import rebuild_mapping
from ..mixers.base import Mixer
from ..mixers.mixup import MixUp
from ..params import MixParams, Swap, check_extra
from ..targets import MixedTarget

__all__ = ["TabularMixer", "TabularMixHandle", "POLICIES"]

POLICIES = ("embedding", "onehot", "swap")
Key = str | int


def _get(batch: Any, key: Key | None, what: str) -> Tensor | None:
    if key is None:
        return None
    try:
        return batch[key]
    except (KeyError, IndexError, TypeError) as err:
        raise MixupError(f"The batch has no {what} input at {key!r} (batch is a {type(batch).__name__}); "
                         f"set TabularMixer({what}=...) to the key or position that holds it.") from err


def _put(batch: Any, updates: dict[Key, Tensor]) -> Any:
    if isinstance(batch, Mapping):
        return rebuild_mapping(batch, {**batch, **updates})
    if isinstance(batch, (tuple, list)):
        items = list(batch)
        for k, v in updates.items():
            if not isinstance(k, int):
                raise MixupError(f"A {type(batch).__name__} batch is indexed by position, not by {k!r}.")
            items[k] = v
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):
            return type(batch)(*items)
        return type(batch)(items)
    raise MixupError(f"A table batch must be a dict, tuple or list of tensors, got {type(batch).__name__}.")


class TabularMixer:
    """One draw per batch for a table: continuous tensor, categorical variables and targets.

    Args:
        mixer: the policy for λ and pairing (default ``MixUp(alpha=0.4)``); its ``alpha``, ``p``,
            ``pairing`` (e.g. ``"label_distance"`` for C-Mixup) etc. all apply.
        policy: ``"embedding"``, ``"onehot"`` or ``"swap"`` (see the module docstring).
        embeddings: for ``"embedding"``: the model's per-variable embedding modules, by name, glob,
            type or instance (anything :func:`mixup_any.hooks.attach` accepts).
        continuous: key (dict batch) or position (tuple batch) of the continuous ``(B, D)`` float
            input; ``None`` if the model has none.
        categorical: key or position of the ``(B, K)`` integer codes; ``None`` if there are none.
        cardinalities: number of codes of each variable, needed by ``"onehot"``.
        continuous_at_site: for ``"embedding"``: the hooked site also holds the continuous columns
            (e.g. :class:`TabularMLP`'s ``joined`` input), so they are mixed there, not at the input.

    Example:
        >>> tm = TabularMixer(MixUp(alpha=1.0, seed=0), policy="swap")
        >>> x_cont, x_cat = torch.randn(4, 3), torch.randint(0, 5, (4, 2))
        >>> p = tm.sample(x_cont, x_cat)
        >>> xc, xk = tm.mix(x_cont, x_cat, p)
        >>> xk.dtype, xc.shape
        (torch.int64, torch.Size([4, 3]))
    """

    def __init__(
        self,
        mixer: Mixer | None = None,
        *,
        policy: str = "embedding",
        embeddings: Any = None,
        continuous: Key | None = "x_cont",
        categorical: Key | None = "x_cat",
        cardinalities: Sequence[int] | None = None,
        continuous_at_site: bool = False,
    ) -> None:
        if mixer is None:
            mixer = MixUp(alpha=0.4)
        if not isinstance(mixer, Mixer):
            raise MixupError(f"mixer must be a mixup_any Mixer (e.g. MixUp(alpha=0.4)), got {type(mixer).__name__}.")
        if policy not in POLICIES:
            raise MixupError(f"Unknown categorical policy {policy!r}; expected one of {POLICIES}.")
        if policy == "onehot" and cardinalities is None:
            raise MixupError("policy='onehot' needs cardinalities=[number of codes of each categorical variable].")
        if continuous_at_site and (policy != "embedding" or embeddings is None):
            raise MixupError("continuous_at_site=True needs policy='embedding' and the hooked site(s) in embeddings=.")
        self.mixer = mixer
        self.policy = policy
        self.embeddings = embeddings
        self.continuous = continuous
        self.categorical = categorical
        self.cardinalities = list(cardinalities) if cardinalities is not None else None
        self.continuous_at_site = continuous_at_site

    # ------------------------------------------------------------------ the draw
    def sample(
        self,
        x_cont: Tensor | None,
        x_cat: Tensor | None,
        *,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> MixParams:
        """Draw the plan for a batch with continuous ``(B, D)`` and categorical ``(B, K)`` inputs."""
        ref = x_cont if x_cont is not None else x_cat
        if ref is None:
            raise MixupError("A table batch needs at least one of x_cont and x_cat.")
        if x_cont is not None and x_cat is not None and x_cont.shape[0] != x_cat.shape[0]:
            raise MixupError(f"x_cont has {x_cont.shape[0]} rows but x_cat has {x_cat.shape[0]}; they must match.")
        gen = generator if generator is not None else self.mixer.generator_for(ref.device)
        p = self.mixer.sample((ref.shape[0],), labels=labels, device=ref.device, generator=gen)
        if self.policy != "swap" or x_cat is None or x_cat.shape[-1] == 0 or not p.mixed:
            return p
        k = x_cat.shape[-1]
        d = x_cont.shape[-1] if x_cont is not None else 0
        u = torch.rand(ref.shape[0], k, generator=gen, device=ref.device)
        swap = u >= p.lam.unsqueeze(1)  # P(swap) = 1 - lam for each variable
        kept = (~swap).sum(1).to(p.lam.dtype)
        # lam stays the weight of the continuous columns; the target weighs the share of own features kept
        return replace(p, target_lam=(d * p.lam + kept) / (d + k), extra=Swap(swap))

    # ------------------------------------------------------------------ applying it
    def mix(self, x_cont: Tensor | None, x_cat: Tensor | None, params: MixParams) -> tuple[Tensor | None, Any]:
        """Apply ``params``: returns ``(x_cont, x_cat)`` mixed by the policy.

        ``"embedding"`` returns the codes unchanged (the hooks mix them); ``"onehot"`` returns a float
        ``(B, sum(cardinalities))`` block; ``"swap"`` returns integer codes.
        """
        if x_cat is not None and x_cat.is_floating_point():
            raise MixupError(f"x_cat must hold integer category codes, got {x_cat.dtype}; category codes are "
                             "never interpolated.")
        onehot = self.policy == "onehot"
        if not params.mixed:
            return x_cont, one_hot_blocks(x_cat, self.cardinalities) if onehot and x_cat is not None else x_cat
        swap = self.policy == "swap" and x_cat is not None and x_cat.shape[-1] > 0
        check_extra(params, (Swap,) if swap else (type(None),), f"TabularMixer(policy={self.policy!r})")
        # the continuous columns and one-hot blocks are lerped with lam (the swap record is for the codes)
        plain = replace(params, extra=None)
        cont = x_cont if x_cont is None or self.continuous_at_site else self.mixer.mix(x_cont, plain)
        if x_cat is None:
            return cont, None
        if onehot:
            return cont, self.mixer.mix(one_hot_blocks(x_cat, self.cardinalities), plain)
        if isinstance(params.extra, Swap):
            partner = x_cat.index_select(0, params.index.to(x_cat.device))
            return cont, torch.where(params.extra.mask.to(x_cat.device), partner, x_cat)
        return cont, x_cat

    def mix_target(self, y: Tensor, params: MixParams) -> MixedTarget:
        return self.mixer.mix_target(y, params)

    # ------------------------------------------------------------------ with a model
    @contextlib.contextmanager
    def attach(self, model: nn.Module) -> Iterator[TabularMixHandle]:
        """Attach to ``model``: hooks on the embedding modules (policy ``"embedding"``), removed on exit."""
        if self.policy != "embedding" or self.embeddings is None:
            yield TabularMixHandle(self, None)
            return
        from ..hooks import attach

        with attach(self.mixer, model, at=self.embeddings, choose="all") as handle:
            yield TabularMixHandle(self, handle)

    def __repr__(self) -> str:
        return f"TabularMixer({self.mixer!r}, policy={self.policy!r}, embeddings={self.embeddings!r})"


class TabularMixHandle:
    """Mixes whole batches for one attached model: ``batch, target = handle(batch, y)``.

    Draws one plan, mixes the continuous input with it, arms the embedding hooks with the same plan
    (they mix during the *next* forward only), and returns the mixed target.
    """

    def __init__(self, tabular: TabularMixer, hooks: Any) -> None:
        self.tabular = tabular
        self.hooks = hooks
        self.last_params: MixParams | None = None

    def mix_tensors(
        self, x_cont: Tensor | None, x_cat: Tensor | None, y: Tensor, *, generator: torch.Generator | None = None,
        labels: Tensor | None = None,
    ) -> tuple[Tensor | None, Any, MixedTarget]:
        """Tensor form: ``x_cont, x_cat, target = handle.mix_tensors(x_cont, x_cat, y)``."""
        tm = self.tabular
        p = tm.sample(x_cont, x_cat, labels=y if labels is None else labels, generator=generator)
        self.last_params = p
        site_mixes = tm.continuous_at_site or (x_cat is not None and x_cat.shape[-1] > 0)
        if p.mixed and tm.policy == "embedding" and site_mixes:
            if self.hooks is None:
                raise MixupError(
                    "policy='embedding' mixes categorical variables through hooks on their embedding modules, "
                    "but none are attached: pass TabularMixer(embeddings=[...]) and use `with tm.attach(model)`, "
                    "or choose policy='swap' / 'onehot' for models without embeddings."
                )
            self.hooks.arm(params=p)
        xc, xk = tm.mix(x_cont, x_cat, p)
        return xc, xk, tm.mix_target(y, p)

    def __call__(self, batch: Any, y: Tensor, *, generator: torch.Generator | None = None) -> tuple[Any, MixedTarget]:
        tm = self.tabular
        x_cont = _get(batch, tm.continuous, "continuous")
        x_cat = _get(batch, tm.categorical, "categorical")
        xc, xk, target = self.mix_tensors(x_cont, x_cat, y, generator=generator)
        updates: dict[Key, Tensor] = {}
        if tm.continuous is not None and xc is not None:
            updates[tm.continuous] = xc
        if tm.categorical is not None:
            updates[tm.categorical] = xk
        return _put(batch, updates), target


def one_hot_blocks(x_cat: Tensor, cardinalities: Sequence[int] | None) -> Tensor:
    """``(B, K)`` codes to concatenated one-hot blocks ``(B, sum(cardinalities))`` float32.

    Example:
        >>> one_hot_blocks(torch.tensor([[1, 0]]), [2, 3])
        tensor([[0., 1., 1., 0., 0.]])
    """
    if cardinalities is None or len(cardinalities) != x_cat.shape[-1]:
        raise MixupError(f"x_cat has {x_cat.shape[-1]} variables but cardinalities is {cardinalities!r}.")
    if x_cat.device.type == "cpu" and x_cat.numel() and bool(((x_cat < 0) | (x_cat >= torch.tensor(cardinalities))).any()):
        raise MixupError(f"x_cat holds a code outside [0, cardinality) for cardinalities {list(cardinalities)}.")
    # one block per variable (a few columns, not rows): no host list is copied to the device
    return torch.cat([F.one_hot(x_cat[:, k].long(), int(c)) for k, c in enumerate(cardinalities)], dim=1).float()



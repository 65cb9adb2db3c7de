"""Mix a table batch with one draw; category codes are never interpolated. ``categorical_mixing=``:

``"embedding"`` (default)
    the continuous columns are mixed directly, and hooks apply the *same* draw to every per-variable
    embedding module: each variable is mixed in its own embedding space.
``"onehot"``
    each variable becomes a one-hot block, the blocks ``(B, sum(cardinalities))`` are mixed as floats.
``"swap"``
    row ``i`` takes its partner's category for each variable with probability ``1 - lam``; the target
    weight is the share of the row's own features kept: ``(n_cont·lam + n_kept) / (n_cont + n_cat)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..exceptions import MixupError
from ..functional import check_same_device, gather_rows
from ..handle import Adapter, Argument, MixHandle, Route, mixes
from ..mixers.base import Mixer
from ..mixers.mixup import MixUp
from ..params import MixParams, Swap, check_extra
from ..targets import MixedTarget
from .model import check_codes

__all__ = ["TabularMixer"]

CATEGORICAL_MIXING = ("embedding", "onehot", "swap")
Key = str | int


def check_categorical_mixing(categorical_mixing: Any) -> None:
    """A ``MixupError`` unless ``categorical_mixing`` is one of :data:`CATEGORICAL_MIXING`."""
    if categorical_mixing not in CATEGORICAL_MIXING:
        raise MixupError(f"Unknown categorical_mixing {categorical_mixing!r}; "
                         f"expected one of {CATEGORICAL_MIXING}.")


class TabularMixer(Route):
    """One draw per batch for a table: continuous tensor, categorical variables and targets.

    Standalone it draws and applies a plan (:meth:`sample`, :meth:`mix`); as the tables' route it goes to
    :func:`~mixup_any.attach` where the mixer goes: ``attach(TabularMixer(mixer), model, at=...)``, the model
    then called unchanged as ``model(x_cont, x_cat)`` (or with those keyword arguments). ``at=`` names the
    model's per-variable embedding modules for ``"embedding"`` (anything :func:`~mixup_any.attach` accepts);
    leave it out for the other modes, which mix the model's inputs. Every site mixes the one draw.

    Args:
        mixer: draws λ and the pairing (default ``MixUp(alpha=0.4)``); its ``alpha``, ``p``,
            ``pairing`` (e.g. ``"label_distance"`` for C-Mixup) etc. all apply.
        categorical_mixing: how categorical variables are mixed: ``"embedding"``, ``"onehot"`` or ``"swap"``
            (see the module docstring).
        continuous: parameter name or position, in ``model.forward``, of the continuous ``(B, D)``
            float input; ``None`` if the model has none.
        categorical: parameter name or position of the ``(B, K)`` integer codes; ``None`` if none.
        cardinalities: number of codes of each variable, needed by ``"onehot"``.
        continuous_at_site: for ``"embedding"``: the hooked site also holds the continuous columns
            (e.g. :class:`TabularMLP`'s ``joined`` input), so they are mixed there, not at the input.

    Example:
        >>> tm = TabularMixer(MixUp(alpha=1.0, seed=0), categorical_mixing="swap")
        >>> x_cont, x_cat = torch.randn(4, 3), torch.randint(0, 5, (4, 2))
        >>> p = tm.sample(x_cont, x_cat)
        >>> xc, xk = tm.mix(x_cont, x_cat, p)
        >>> xk.dtype, xc.shape
        (torch.int64, torch.Size([4, 3]))

        >>> from mixup_any import attach
        >>> from mixup_any.tabular import TabularMLP
        >>> model = TabularMLP(n_continuous=3, cardinalities=[4, 5], out_features=2)
        >>> x_cont, x_cat, y = torch.randn(6, 3), torch.randint(0, 4, (6, 2)), torch.randint(0, 2, (6,))
        >>> with attach(TabularMixer(MixUp(alpha=1.0, seed=0)), model, at="embeddings.*") as mix:
        ...     mix.arm(y)
        ...     loss = mix.loss(F.cross_entropy, model(x_cont, x_cat), y)
        >>> mix.params.mixed, mix.calls
        (True, {'embeddings.0': 1, 'embeddings.1': 1})
    """

    def __init__(
        self,
        mixer: Mixer | None = None,
        *,
        categorical_mixing: str = "embedding",
        continuous: Key | None = "x_cont",
        categorical: Key | None = "x_cat",
        cardinalities: Sequence[int] | None = None,
        continuous_at_site: bool = False,
    ) -> None:
        super().__init__(MixUp(alpha=0.4) if mixer is None else mixer)
        check_categorical_mixing(categorical_mixing)
        if categorical_mixing == "onehot" and cardinalities is None:
            raise MixupError("categorical_mixing='onehot' needs cardinalities=[number of codes of each categorical "
                             "variable].")
        if continuous_at_site and categorical_mixing != "embedding":
            raise MixupError("continuous_at_site=True needs categorical_mixing='embedding' (the hooked site holds the "
                             "columns).")
        self.categorical_mixing = categorical_mixing
        self.continuous = continuous
        self.categorical = categorical
        self.cardinalities = list(cardinalities) if cardinalities is not None else None
        self.continuous_at_site = continuous_at_site

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
        if self.categorical_mixing != "swap" or x_cat is None or x_cat.shape[-1] == 0 or not p.mixed:
            return p
        k = x_cat.shape[-1]
        d = x_cont.shape[-1] if x_cont is not None else 0
        u = torch.rand(ref.shape[0], k, generator=gen, device=ref.device)
        lam = p.lam_rows()
        swap = u >= lam.unsqueeze(1)  # P(swap) = 1 - lam for each variable
        kept = (~swap).sum(1).to(lam.dtype)
        # lam stays the weight of the continuous columns; the target weighs the share of own features kept
        return replace(p, target_lam=(d * lam + kept) / (d + k), extra=Swap(swap))

    def mix(self, x_cont: Tensor | None, x_cat: Tensor | None, params: MixParams) -> tuple[Tensor | None, Any]:
        """Apply ``params``: returns ``(x_cont, x_cat)`` mixed by ``categorical_mixing``.

        ``"embedding"`` returns the codes unchanged (the hooks mix them); ``"onehot"`` returns a float
        ``(B, sum(cardinalities))`` block; ``"swap"`` returns integer codes.
        """
        if x_cat is not None and x_cat.is_floating_point():
            raise MixupError(f"x_cat must hold integer category codes, got {x_cat.dtype}; category codes are "
                             "never interpolated.")
        onehot = self.categorical_mixing == "onehot"
        if not params.mixed:
            return x_cont, one_hot_blocks(x_cat, self.cardinalities) if onehot and x_cat is not None else x_cat
        swap = self.categorical_mixing == "swap" and x_cat is not None and x_cat.shape[-1] > 0
        check_extra(params, (Swap,) if swap else (type(None),),
                    f"TabularMixer(categorical_mixing={self.categorical_mixing!r})")
        # the continuous columns and one-hot blocks are lerped with lam (the swap record is for the codes)
        plain = replace(params, extra=None)
        cont = x_cont if x_cont is None or self.continuous_at_site else self.mixer.mix(x_cont, plain)
        if x_cat is None:
            return cont, None
        if onehot:
            return cont, self.mixer.mix(one_hot_blocks(x_cat, self.cardinalities), plain)
        if isinstance(params.extra, Swap):
            check_same_device(x_cat, params.index, "x_cat")
            return cont, torch.where(params.extra.mask, gather_rows(x_cat, params.index), x_cat)
        return cont, x_cat

    def mix_target(self, y: Tensor, params: MixParams) -> MixedTarget:
        return self.mixer.mix_target(y, params)

    def bind(self, model: nn.Module, at: Any) -> tuple[Any, TableAdapter]:
        """The embedding sites ``at`` names on ``model`` (none for the other modes) and the table adapter."""
        embedding = self.categorical_mixing == "embedding"
        if at is not None and not embedding:
            raise MixupError(f"at= names embedding sites, which only categorical_mixing='embedding' mixes; "
                             f"categorical_mixing={self.categorical_mixing!r} mixes the model's inputs.")
        if at is None and embedding and (self.categorical is not None or self.continuous_at_site):
            raise MixupError(
                "categorical_mixing='embedding' mixes categorical variables through hooks on their embedding modules: "
                "pass attach(TabularMixer(...), model, at=<the embedding modules>), or choose "
                "categorical_mixing='swap' / 'onehot' for models without embeddings."
            )
        return at, TableAdapter(self, model)

    def __repr__(self) -> str:
        return f"TabularMixer({self.mixer!r}, categorical_mixing={self.categorical_mixing!r})"


class TableAdapter(Adapter):
    """The tables' part of a handle: before the model runs, draws one plan for the whole table and mixes the
    inputs found by the keys ``continuous`` / ``categorical`` (:meth:`TabularMixer.mix`); sites mix it too."""

    choose = "all"

    def __init__(self, tabular: TabularMixer, model: nn.Module) -> None:
        self.tabular = tabular
        self.inputs = [None if key is None else Argument(model, key) for key in (tabular.continuous, tabular.categorical)]

    def prepare(self, handle: MixHandle, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        tm = self.tabular
        x_cont, x_cat = (None if a is None else a.get(args, kwargs) for a in self.inputs)
        ref = x_cont if x_cont is not None else x_cat
        if ref is None:
            raise MixupError(f"The model was called without the table's inputs: looked for continuous={tm.continuous!r} "
                             f"and categorical={tm.categorical!r} among its arguments.")
        b = handle.batch_size(ref.shape[0])
        # the embedding sites must run when they hold something to mix
        must_run = tm.continuous_at_site or (x_cat is not None and x_cat.shape[-1] > 0)
        if not mixes(handle.model, handle.mode):
            p = handle.use(MixParams.identity(ref.shape[0], ref.device), sites_must_run=False)
        else:  # RegMixup: drawn for the second half; use() extends it to the clean first half
            start = b if handle.doubled else 0
            drawn = handle.given or tm.sample(None if x_cont is None else x_cont[start:],
                                              None if x_cat is None else x_cat[start:], labels=handle.labels)
            p = handle.use(drawn, sites_must_run=drawn.mixed and must_run)
        for a, value in zip(self.inputs, tm.mix(x_cont, x_cat, p), strict=True):
            args, kwargs = (args, kwargs) if a is None else a.put(args, kwargs, value)
        return args, kwargs

    def __repr__(self) -> str:
        return f"TableAdapter({self.tabular!r})"


def one_hot_blocks(x_cat: Tensor, cardinalities: Sequence[int] | None) -> Tensor:
    """``(B, K)`` codes to concatenated one-hot blocks ``(B, sum(cardinalities))`` float32.

    Example:
        >>> one_hot_blocks(torch.tensor([[1, 0]]), [2, 3])
        tensor([[0., 1., 1., 0., 0.]])
    """
    if cardinalities is None or len(cardinalities) != x_cat.shape[-1]:
        raise MixupError(f"x_cat has {x_cat.shape[-1]} variables but cardinalities is {cardinalities!r}.")
    check_codes(x_cat, cardinalities)
    # one block per variable (a few columns, not rows): no host list is copied to the device
    return torch.cat([F.one_hot(x_cat[:, k].long(), int(c)) for k, c in enumerate(cardinalities)], dim=1).float()



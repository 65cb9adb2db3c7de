"""Mix a Hugging Face model's batch inside the unmodified model: token embeddings, the embeddings
block, a transformer layer drawn per batch (TMix) or the pooled vector (senMixup).

:func:`attach_text` returns a :class:`~mixup_any.handle.MixHandle` with a :class:`TextAdapter`: the same
verbs (``arm``, ``target``, ``loss``, ``remove``) as every route. In the armed forward the adapter draws
the plan from the batch's ``(B, L)`` and rewrites ``attention_mask`` for the mixed pairs (by the mask
policy), so ``model(**batch)`` is called unchanged; the hooked site then applies that same plan.

Calibration-safe modes (``mode=``, ``eta=``; see :mod:`mixup_any.calibration`): with ``"regmixup"`` the
training forward takes the clean batch followed by its copy (every ``(B, ...)`` input concatenated with
itself, ``2B`` rows); the pre-hook sets the copy's attention mask, the site mixes only the copy, and
``mix.loss(criterion, logits, y)`` computes RegMixup's loss.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..calibration import check_eta, check_mode
from ..exceptions import MixupError
from ..handle import Adapter, MixHandle
from ..hooks import check_attach, free_sites
from ..mixers.base import Mixer
from ..params import MixParams
from ..sites import describe
from .masks import MaskPolicy, check_mask_policy, mix_attention_mask
from .sites import embeddings_block_site, layer_sites, pooled_site, token_embedding_site

__all__ = ["TextAdapter", "attach_text"]

TEXT_SITES = ("tokens", "embeddings", "hidden", "pooled")
_MASK = "attention_mask"


def _position(model: nn.Module, name: str) -> int | None:
    """Position of parameter ``name`` in ``model.forward`` (for an input passed positionally)."""
    try:
        names = list(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):  # a builtin or C-implemented forward: keyword arguments only
        return None
    return names.index(name) if name in names else None


class TextAdapter(Adapter):
    """The text route's part of a handle: draws the plan from the call's ``(B, L)`` and mixes the attention
    mask of the pairs it mixes, before the model runs.

    Attributes:
        at: ``"tokens"``, ``"embeddings"``, ``"hidden"``, ``"pooled"`` or ``"custom"``.
        mask: the attention-mask policy (see :mod:`mixup_any.text.masks`).
    """

    def __init__(self, model: nn.Module, *, at: str, mask: MaskPolicy) -> None:
        self.at = at
        self.mask = mask
        self.mask_position = _position(model, _MASK)

    def prepare(self, handle: MixHandle, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        ref, b = self._tokens(handle, args, kwargs)
        try:
            p = handle.use(handle.draw((b, ref.shape[1]), ref.device))
        except MixupError as err:
            raise type(err)(f"{err} (The text route draws one plan per batch from the (B, L) token shape; CutMix "
                            "cuts a span of tokens with CutMix(axis=1).)") from err
        if p.mixed and kwargs.get("labels") is not None:
            raise MixupError("The armed forward was called with labels=, so the model would compute its own loss "
                             "against the unmixed labels. Call the model without them (batch.pop('labels')) and "
                             "use mix.loss(criterion, out.logits, labels); MixupTrainer does this for you.")
        mask, positional = self._find_mask(args, kwargs)
        if mask is None or not p.mixed:  # no mask means every token is attended: every policy keeps it
            return None
        if not isinstance(mask, Tensor) or mask.ndim != 2 or mask.shape != ref.shape[:2]:
            got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise MixupError(f"attention_mask has shape {got}, but the inputs are {tuple(ref.shape[:2])} (B, L); "
                             "a (B, L) mask is needed to mix it (custom 3-D/4-D masks: pass mask='own').")
        plan = cast(MixParams, handle.params)
        mixed = mix_attention_mask(mask[b:] if handle.doubled else mask, plan, self.mask)
        mixed = torch.cat([mask[:b], mixed]) if handle.doubled else mixed
        if positional:
            k = cast(int, self.mask_position)
            return (*args[:k], mixed, *args[k + 1:]), kwargs
        return args, {**kwargs, _MASK: mixed}

    def _tokens(self, handle: MixHandle, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Tensor, int]:
        """The ``(B, L)`` ids or ``(B, L, H)`` embeddings of the call, checked against the labels; and ``B``."""
        if self.at == "tokens" and kwargs.get("inputs_embeds") is not None:
            raise MixupError(
                "The model was called with inputs_embeds, so it never calls its input embedding and the token "
                "site cannot mix. Pass input_ids instead, mix your embeddings directly with "
                "mixer(inputs_embeds, labels), or use at='embeddings' (the block after the token embedding)."
            )
        ref = next((kwargs[k] for k in ("input_ids", "inputs_embeds") if kwargs.get(k) is not None),
                   args[0] if args else None)
        if not isinstance(ref, Tensor) or ref.ndim < 2:
            raise MixupError(f"A text model's forward needs input_ids (B, L) or inputs_embeds (B, L, H) to be "
                             f"mixed, got {describe(ref)}.")
        b = handle.batch_size(ref.shape[0])
        if ref.shape[0] != (2 * b if handle.doubled else b):
            hint = (" mode='regmixup' forwards the clean batch and its copy: concatenate every input with itself."
                    if handle.doubled else "")
            raise MixupError(f"The inputs have batch size {ref.shape[0]} but the labels have {b} rows.{hint}")
        return ref, b

    def _find_mask(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, bool]:
        """The attention mask of the call and whether it was passed positionally."""
        if _MASK in kwargs:
            return kwargs[_MASK], False
        k = self.mask_position
        return (args[k], True) if k is not None and k < len(args) else (None, False)

    def __repr__(self) -> str:
        return f"TextAdapter(at={self.at!r}, mask={self.mask!r})"


def attach_text(
    mixer: Mixer,
    model: nn.Module,
    at: str | Any = "tokens",
    *,
    layers: int | Iterable[int] | None = None,
    mask: MaskPolicy | None = None,
    output: Any = None,
    mode: str = "mixup",
    eta: float = 1.0,
) -> MixHandle:
    """Attach ``mixer`` inside an unmodified Hugging Face model (or any model with the same layout).

    Args:
        mixer: any :class:`~mixup_any.mixers.base.Mixer` (e.g. ``MixUp(alpha=0.4)``).
        model: e.g. ``AutoModelForSequenceClassification``; nothing in it is changed.
        at: where to mix:
            ``"tokens"``: the output of ``model.get_input_embeddings()`` (word embeddings only; position and
            token-type embeddings are added afterwards from the unmixed ids, so they are left alone);
            ``"embeddings"``: the output of the whole embeddings block (positions, LayerNorm, dropout);
            ``"hidden"``: the output of one transformer layer from ``layers``, drawn per batch (TMix);
            ``"pooled"``: the vector the classification head reads (senMixup, see
            :data:`mixup_any.text.sites.POOLED_SITES`);
            anything else is passed to :func:`mixup_any.hooks.attach` (names, globs, types, ...).
        layers: for ``at="hidden"``: layer numbers as in ``output_hidden_states`` (``1..N``; e.g.
            ``[7, 9, 12]``), one drawn per batch.
        mask: attention-mask policy for mixed rows (:mod:`mixup_any.text.masks`). Default ``"union"`` for
            ``"tokens"``, ``"embeddings"`` and custom sites; ``"own"`` for ``"hidden"`` (the mask is set once
            for the whole forward, so a union would also open the padding of the layers below the mixed
            one; ``"own"`` keeps them exactly as unmixed); ``"pooled"`` mixes after attention, so its mask
            is always ``"own"``.
        output: which element of a tuple/dict output to mix (see :func:`mixup_any.hooks.attach`).
        mode: ``"mixup"`` (default), ``"erm"``, ``"regmixup"`` or ``"inputs_only"`` (see
            :mod:`mixup_any.calibration`); train with ``mix.loss(criterion, logits, y)``.
        eta: RegMixup's weight of the mixed term, ``>= 0``.

    Returns:
        A :class:`~mixup_any.handle.MixHandle` with a :class:`TextAdapter` (use ``with``).

    Example:
        >>> from mixup_any import MixUp
        >>> class Tiny(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.emb, self.head = nn.Embedding(10, 4), nn.Linear(4, 2)
        ...     def get_input_embeddings(self):
        ...         return self.emb
        ...     def forward(self, input_ids, attention_mask=None):
        ...         self.seen_mask = attention_mask
        ...         return self.head(self.emb(input_ids).mean(1))
        >>> model, y = Tiny(), torch.tensor([0, 1])
        >>> batch = {"input_ids": torch.tensor([[1, 2], [3, 0]]), "attention_mask": torch.tensor([[1, 1], [1, 0]])}
        >>> with attach_text(MixUp(alpha=1.0, pairing="flip", seed=0), model, at="tokens") as mix:
        ...     mix.arm(y)
        ...     loss = mix.loss(torch.nn.functional.cross_entropy, model(**batch), y)
        >>> model.seen_mask, mix.params.site
        (tensor([[1, 1],
                [1, 1]]), 'emb')
    """
    check_attach(mixer, model, "attach_text()")
    check_mode(mode, where="attach_text()")
    check_eta(eta)
    if layers is not None and at != "hidden":
        raise MixupError(f"layers= is for at='hidden' (TMix), but at={at!r}.")
    kind = at if isinstance(at, str) and at in TEXT_SITES else "custom"
    if at == "tokens":
        sites = [token_embedding_site(model)]
    elif at == "embeddings":
        sites = [embeddings_block_site(model)]
    elif at == "hidden":
        if layers is None:
            raise MixupError("at='hidden' needs layers=, e.g. layers=[7, 9, 12] (numbered as output_hidden_states).")
        sites = layer_sites(model, layers)
    elif at == "pooled":
        name, element = pooled_site(model)
        sites = [name]
        output = element if output is None else output
        if mask not in (None, "own"):
            raise MixupError(f"at='pooled' mixes after attention, so an attention-mask policy cannot apply; got "
                             f"mask={mask!r}. Leave mask unset.")
    else:
        sites = at if isinstance(at, list) else [at]
    if mask is None:
        mask = "own" if kind in ("hidden", "pooled") else "union"
    check_mask_policy(mask)
    return MixHandle(mixer, model, free_sites(model, sites), choose="one", output=output, mode=mode, eta=eta,
                     adapter=TextAdapter(model, at=kind, mask=mask))

"""The text route, :class:`TextMixer`: mix inside an unmodified Hugging Face model through the one handle.

In the armed forward :class:`TextAdapter` draws the plan from the batch's ``(B, L)`` and rewrites
``attention_mask`` for the mixed pairs, so ``model(**batch)`` is called unchanged; the hooked site then
applies that same plan (with ``mode="regmixup"``, to the second half of a ``2B``-row forward only).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..exceptions import MixupError
from ..handle import Adapter, Argument, MixHandle, Route
from ..mixers.base import Mixer
from ..params import MixParams
from ..sites import describe
from .masks import MaskRule, check_mask_rule, mix_attention_mask
from .sites import embeddings_block_site, layer_sites, pooled_site, token_embedding_site

__all__ = ["TextMixer"]

class TextAdapter(Adapter):
    """The text route's part of a handle: draws the plan from the call's ``(B, L)`` and mixes the attention
    mask of the pairs it mixes, before the model runs.

    Attributes:
        at: ``"tokens"``, ``"embeddings"``, ``"hidden"``, ``"pooled"`` or ``"custom"``.
        mask: the attention-mask rule (see :mod:`mixup_any.text.masks`).
        output: the element of the site's output to mix (the pooled vector's, for ``"pooled"``).
    """

    def __init__(self, model: nn.Module, *, at: str, mask: MaskRule, output: int | str | None = None) -> None:
        self.at = at
        self.mask = mask
        self.output = output
        self.attention_mask = Argument(model, "attention_mask")

    def prepare(self, handle: MixHandle, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if self.at == "tokens" and kwargs.get("inputs_embeds") is not None:
            raise MixupError(
                "The model was called with inputs_embeds, so it never calls its input embedding and the token "
                "site cannot mix. Pass input_ids instead, mix your embeddings directly with "
                "mixer(inputs_embeds, labels), or use at='embeddings' (the block after the token embedding)."
            )
        # the (B, L) ids or (B, L, H) embeddings of the call, checked against the labels
        ref = next((kwargs[k] for k in ("input_ids", "inputs_embeds") if kwargs.get(k) is not None),
                   args[0] if args else None)
        if not isinstance(ref, Tensor) or ref.ndim < 2:
            raise MixupError(f"A text model's forward needs input_ids (B, L) or inputs_embeds (B, L, H) to be "
                             f"mixed, got {describe(ref)}.")
        b = handle.batch_size(ref.shape[0])
        try:
            p = handle.use(handle.draw((b, ref.shape[1]), ref.device))
        except MixupError as err:
            raise type(err)(f"{err} (The text route draws one plan per batch from the (B, L) token shape; CutMix "
                            "cuts a span of tokens with CutMix(axis=1).)") from err
        if p.mixed and kwargs.get("labels") is not None:
            raise MixupError("The armed forward was called with labels=, so the model would compute its own loss "
                             "against the unmixed labels. Call the model without them (batch.pop('labels')) and "
                             "use mix.loss(criterion, out.logits, labels); MixupTrainer does this for you.")
        mask = self.attention_mask.get(args, kwargs)
        if mask is None or not p.mixed:  # no mask means every token is attended: every rule keeps it
            return None
        if not isinstance(mask, Tensor) or mask.ndim != 2 or mask.shape != ref.shape[:2]:
            got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise MixupError(f"attention_mask has shape {got}, but the inputs are {tuple(ref.shape[:2])} (B, L); "
                             "a (B, L) mask is needed to mix it (custom 3-D/4-D masks: pass mask='own').")
        plan = cast(MixParams, handle.params)
        mixed = mix_attention_mask(mask[b:] if handle.doubled else mask, plan, self.mask)
        return self.attention_mask.put(args, kwargs, torch.cat([mask[:b], mixed]) if handle.doubled else mixed)

    def __repr__(self) -> str:
        return f"TextAdapter(at={self.at!r}, mask={self.mask!r})"


class TextMixer(Route):
    """The text route: ``attach(TextMixer(mixer, mask=..., layers=...), model, at=...)`` mixes inside an
    unmodified Hugging Face model (or any model with the same layout).

    Args:
        mixer: any :class:`~mixup_any.mixers.base.Mixer` (e.g. ``MixUp(alpha=0.4)``).
        mask: attention-mask rule for mixed rows (:mod:`mixup_any.text.masks`). Default ``"union"``; ``"own"``
            for ``"hidden"`` (the mask is set once for the whole forward, so a union would also open the
            padding of the layers below) and always for ``"pooled"`` (it mixes after attention).
        layers: for ``at="hidden"``: layer numbers as in ``output_hidden_states`` (``1..N``; e.g.
            ``[7, 9, 12]``), one drawn per batch.

    ``at=`` of :func:`~mixup_any.attach` says where to mix (docs/text.md): ``"tokens"`` (the default, the
    output of ``model.get_input_embeddings()``), ``"embeddings"`` (the whole embeddings block), ``"hidden"``
    (one of ``layers``, drawn per batch: TMix), ``"pooled"`` (the vector the classification head reads:
    senMixup), or any site a plain mixer takes. Train with ``mix.loss(criterion, logits, y)``.

    Example:
        >>> from mixup_any import MixUp, attach
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
        >>> with attach(TextMixer(MixUp(alpha=1.0, pairing="flip", seed=0)), model, at="tokens") as mix:
        ...     mix.arm(y)
        ...     loss = mix.loss(torch.nn.functional.cross_entropy, model(**batch), y)
        >>> model.seen_mask, mix.params.site
        (tensor([[1, 1],
                [1, 1]]), 'emb')
    """

    def __init__(self, mixer: Mixer, *, mask: MaskRule | None = None,
                 layers: int | Iterable[int] | None = None) -> None:
        super().__init__(mixer)
        if mask is not None:
            check_mask_rule(mask)
        self.mask = mask
        self.layers = tuple(layers) if isinstance(layers, Iterable) else layers

    def bind(self, model: nn.Module, at: Any) -> tuple[Any, TextAdapter]:
        """The sites of ``at`` on ``model`` and the adapter that mixes the attention mask."""
        at = "tokens" if at is None else at
        if self.layers is not None and at != "hidden":
            raise MixupError(f"TextMixer(layers=...) is for at='hidden' (TMix), but at={at!r}.")
        kind = at if isinstance(at, str) and at in ("tokens", "embeddings", "hidden", "pooled") else "custom"
        output = None
        if at == "tokens":
            sites: Any = token_embedding_site(model)
        elif at == "embeddings":
            sites = embeddings_block_site(model)
        elif at == "hidden":
            if self.layers is None:
                raise MixupError("at='hidden' needs TextMixer(mixer, layers=...), e.g. layers=[7, 9, 12] (numbered as "
                                 "output_hidden_states).")
            sites = layer_sites(model, self.layers)
        elif at == "pooled":
            sites, output = pooled_site(model)
            if self.mask not in (None, "own"):
                raise MixupError(f"at='pooled' mixes after attention, so an attention-mask rule cannot apply; got "
                                 f"mask={self.mask!r}. Leave mask unset.")
        else:
            sites = at
        mask = self.mask if self.mask is not None else "own" if kind in ("hidden", "pooled") else "union"
        return sites, TextAdapter(model, at=kind, mask=mask, output=output)

    def __repr__(self) -> str:
        return f"TextMixer({self.mixer!r}, mask={self.mask!r}, layers={self.layers!r})"

"""Mix a Hugging Face model's batch inside the model, on the unmodified model: token embeddings,
the embeddings block, a transformer layer drawn per batch (TMix) or the pooled vector (senMixup).

The plan is drawn *before* the forward pass, from the batch's ``(B, L)``, so the attention mask can be
changed for the mixed pairs; the hook at the chosen site then applies that same plan
(:func:`mixup_any.hooks.attach` with ``arm(params=...)``), and the targets are paired with it.

Calibration-safe modes (``mode=``, ``eta=``; see :mod:`mixup_any.calibration`): with ``"regmixup"``
the handle returns the clean batch followed by its copy to mix (``2B`` rows, the copy's attention mask
set by the policy) and the site mixes only the copy, so one forward gives RegMixup's two terms;
``handle.loss(criterion, logits, target)`` computes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..calibration import check_eta, check_mode, mode_loss, mode_target
from ..exceptions import MixupError
from ..functional import batch_size_of
from ..hooks import attach
from ..mixers.base import Mixer
from ..params import MixParams
from ..targets import MixedTarget
from .masks import MaskPolicy, check_mask_policy, mix_attention_mask
from .sites import embeddings_block_site, layer_sites, pooled_site, token_embedding_site

__all__ = ["TEXT_SITES", "TextMixHandle", "attach_text"]

TEXT_SITES = ("tokens", "embeddings", "hidden", "pooled")


class TextMixHandle:
    """Hooks on a text model plus the per-batch step: draw, fix the attention mask, arm, pair the targets.

    Made by :func:`attach_text`; use it as a context manager so the hooks are always removed.
    Call it on each training batch: ``inputs, target = handle(batch, labels)`` then ``model(**inputs)``.

    Attributes:
        sites: qualified module names that may mix.
        kind: ``"tokens"``, ``"embeddings"``, ``"hidden"``, ``"pooled"`` or ``"custom"``.
        mask: the attention-mask policy (see :mod:`mixup_any.text.masks`).
        params: the plan of the last call, or ``None``.
        mode, eta: the training mode and RegMixup's weight (see :mod:`mixup_any.calibration`).
    """

    def __init__(self, mixer: Mixer, model: nn.Module, sites: list[str], *, kind: str, mask: MaskPolicy,
                 choose: str = "one", output: Any = None, mode: str = "mixup", eta: float = 1.0) -> None:
        self.mode = check_mode(mode, where="attach_text()")
        self.eta = check_eta(eta)
        self.mixer = mixer
        self.model = model
        self.sites = sites
        self.kind = kind
        self.mask = mask
        self._drawn: MixParams | None = None
        self._doubled = False
        self._labels: Any = None
        self._hooks = attach(mixer, model, at=sites, choose=choose, output=output, mode=mode, eta=eta)

    # context manager: the hooks are removed on exit, even if the body raises
    def __enter__(self) -> TextMixHandle:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._hooks.__exit__(*exc)

    def remove(self) -> None:
        """Remove the hooks now (``__exit__`` does this)."""
        self._hooks.remove()

    def __call__(self, batch: Mapping[str, Any], labels: Tensor | None = None, *,
                 params: MixParams | None = None) -> tuple[dict[str, Any], MixedTarget | Any]:
        """Prepare one batch: returns ``(inputs, target)``; call ``model(**inputs)`` next.

        Args:
            batch: tokenized batch (dict or ``BatchEncoding``) with ``input_ids`` and usually
                ``attention_mask`` (``(B, L)``); a missing mask means every token is attended, as in
                transformers, and is then left missing (every policy of all-ones is all ones).
                ``labels`` in the batch are used when ``labels`` is not given.
            labels: ``(B, ...)`` targets.
            params: replay a given plan instead of drawing one.

        Returns:
            ``inputs``: a new dict without ``labels`` (the caller's batch is not modified) whose
            ``attention_mask`` follows the policy for mixed rows; ``target``: the
            :class:`~mixup_any.targets.MixedTarget` (identity when the model is in eval mode).
            With ``mode="regmixup"`` (while training) every ``(B, ...)`` input is the clean batch
            followed by its copy (``2B`` rows; only the copy's mask follows the policy) and ``target``
            is the copy's; with ``"inputs_only"`` it is the dominant input's hard target.
        """
        if not isinstance(batch, Mapping):
            raise MixupError(f"A text batch must be a dict (or BatchEncoding) of model inputs, got "
                             f"{type(batch).__name__}.")
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        if labels is None:
            labels = batch.get("labels")
        if labels is None:
            raise MixupError("No labels: pass handle(batch, labels) or put 'labels' in the batch; mixing pairs "
                             "the targets with the inputs.")
        if "inputs_embeds" in inputs and self.kind == "tokens":
            raise MixupError(
                "The batch holds inputs_embeds, so the model never calls its input embedding and the token "
                "site cannot mix. Pass input_ids instead, mix your embeddings directly with "
                "mixer(inputs_embeds, labels), or use at='embeddings' (the block after the token embedding)."
            )
        ref = inputs.get("input_ids", inputs.get("inputs_embeds"))
        if not isinstance(ref, Tensor) or ref.ndim < 2:
            raise MixupError("A text batch needs input_ids of shape (B, L) (or inputs_embeds (B, L, H)), got "
                             f"{type(ref).__name__ if not isinstance(ref, Tensor) else tuple(ref.shape)}.")
        b = batch_size_of({k: v for k, v in inputs.items() if isinstance(v, Tensor)}, "batch")
        yb = batch_size_of(labels, "labels")
        if yb != b:
            raise MixupError(f"The inputs have batch size {b} but the labels have {yb} rows "
                             f"(shape {tuple(labels.shape) if isinstance(labels, Tensor) else '?'}).")
        if params is None:
            if self.model.training and self.mode != "erm":
                params = self.mixer.sample(tuple(ref.shape[:2]), labels=labels if isinstance(labels, Tensor) else None,
                                           device=ref.device)
            else:
                params = MixParams.identity(b, ref.device)
        elif params.batch_size != b:
            raise MixupError(f"The given params are for batch size {params.batch_size}, but the batch has {b} rows.")
        elif not self.model.training:  # eval mode mixes nothing, also with a given plan
            params = MixParams.identity(b, ref.device)
        mask = inputs.get("attention_mask")
        if isinstance(mask, Tensor) and mask.ndim == 2 and mask.shape != ref.shape[:2]:
            raise MixupError(f"attention_mask has shape {tuple(mask.shape)}, but the inputs are "
                             f"{tuple(ref.shape[:2])} (B, L); they must match.")
        mixed_mask = mix_attention_mask(mask, params, self.mask) if mask is not None and params.mixed else mask
        self._doubled = self.mode == "regmixup" and self.model.training
        if self._doubled:  # [clean; copy to mix]: one forward, the site mixes the copy only
            inputs = {k: torch.cat([v, v]) if isinstance(v, Tensor) and v.ndim and v.shape[0] == b else v
                      for k, v in inputs.items()}
            if mask is not None and mixed_mask is not None:
                inputs["attention_mask"] = torch.cat([mask, mixed_mask])
        elif mask is not None:
            inputs["attention_mask"] = mixed_mask
        if params.mixed:
            self._hooks.arm(params=params)
        else:
            self._hooks.disarm()
        self._drawn, self._labels = params, labels
        return inputs, mode_target(self.mixer.mix_target(labels, params), self.mode)

    def loss(self, criterion: Any, output: Tensor, target: Any, *, reduction: str | None = None) -> Tensor:
        """The mode's training loss of the last call (:func:`mixup_any.calibration.mode_loss`).

        ``output``: the logits of ``model(**inputs)``, ``(2B, ...)`` for RegMixup while training (clean
        rows first). Outside training (no doubled batch) it is the plain loss for every mode.
        """
        mode = "mixup" if self.mode == "regmixup" and not self._doubled else self.mode
        return mode_loss(criterion, output, target, mode=mode, eta=self.eta, reduction=reduction)

    @property
    def params(self) -> MixParams | None:
        """The plan of the last call; after the forward, ``.site`` names the site that mixed."""
        ran = self._hooks.params
        if self._drawn is not None and ran is not None and ran.lam is self._drawn.lam:
            return ran
        return self._drawn

    def verify(self) -> None:
        """After the forward: raise :class:`~mixup_any.exceptions.HookSiteError` if the armed forward
        never reached a site (so nothing was mixed while the targets say it was)."""
        if self._drawn is not None and self._drawn.mixed:
            self._hooks.target(self._labels)  # raises, naming the sites, if none ran

    def __repr__(self) -> str:
        mode = f", mode={self.mode!r}" if self.mode != "mixup" else ""
        return (f"TextMixHandle(kind={self.kind!r}, sites={self.sites}, mask={self.mask!r}, "
                f"mixer={self.mixer!r}{mode})")


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
) -> TextMixHandle:
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
            :mod:`mixup_any.calibration`); train with ``handle.loss(criterion, logits, target)``.
        eta: RegMixup's weight of the mixed term, ``>= 0``.

    Returns:
        A :class:`TextMixHandle` (use ``with``).

    Example:
        >>> from mixup_any import MixUp
        >>> class Tiny(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.emb, self.head = nn.Embedding(10, 4), nn.Linear(4, 2)
        ...     def get_input_embeddings(self):
        ...         return self.emb
        ...     def forward(self, input_ids, attention_mask=None):
        ...         return self.head(self.emb(input_ids).mean(1))
        >>> model = Tiny()
        >>> batch = {"input_ids": torch.tensor([[1, 2], [3, 0]]), "attention_mask": torch.tensor([[1, 1], [1, 0]])}
        >>> with attach_text(MixUp(alpha=1.0, pairing="flip", seed=0), model) as tm:
        ...     inputs, target = tm(batch, torch.tensor([0, 1]))
        ...     logits = model(**inputs)
        >>> inputs["attention_mask"], tm.params.site
        (tensor([[1, 1],
                [1, 1]]), 'emb')
    """
    if not isinstance(model, nn.Module):
        raise MixupError(f"attach_text needs a torch.nn.Module, got {type(model).__name__}.")
    check_mode(mode, where="attach_text()")
    check_eta(eta)
    if layers is not None and at != "hidden":
        raise MixupError(f"layers= is for at='hidden' (TMix), but at={at!r}.")
    choose, kind = "one", at if isinstance(at, str) and at in TEXT_SITES else "custom"
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
    return TextMixHandle(mixer, model, sites, kind=kind, mask=mask, choose=choose, output=output, mode=mode, eta=eta)

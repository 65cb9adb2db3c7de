"""Hugging Face ``Trainer`` integration: :class:`MixupTrainer` trains with mixed targets (``docs/text.md``).

A leaf module: it imports transformers at the top (``pip install 'mixup-any[text]'``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..exceptions import MixupError
from ..extras import require
from ..handle import MixHandle
from ..hooks import attach
from ..mixers.base import Mixer
from ..modes import check_eta, check_mode
from ..text.mixing import TextMixer

__all__ = ["MixupTrainer"]

if TYPE_CHECKING:
    import transformers
else:
    transformers = require("transformers", "text", feature="mixup_any.integrations.hf")


class MixupTrainer(transformers.Trainer):
    """A ``transformers.Trainer`` whose training batches are mixed inside the unmodified model.

    Each training step mixes at ``at`` as ``attach(TextMixer(mixer), model, at=at)`` does and returns the
    loss of ``mode``; the hooks are attached once per ``train()`` run and removed when it ends.

    Args:
        *args: the ``Trainer``'s arguments (``model``, ``args``, ``train_dataset``, ...).
        mixer: the :class:`~mixup_any.mixers.base.Mixer` that draws each batch's plan (required), or a
            :class:`~mixup_any.text.TextMixer` wrapping one with a mask rule or TMix layers
            (``TextMixer(MixUp(alpha=0.4), layers=[7, 9, 12])`` for ``at="hidden"``).
        at: ``"tokens"`` (default), ``"embeddings"``, ``"hidden"``, ``"pooled"``, or a site spec for
            :func:`mixup_any.attach`.
        criterion: a loss ``criterion(logits, labels)``; default as the model's own head does from
            ``config.problem_type`` / ``num_labels``: cross-entropy, MSE (``num_labels == 1``) or
            BCE-with-logits (multi-label).
        mode: ``"mixup"`` (default), ``"erm"``, ``"regmixup"`` (one forward on the clean batch and its
            mixed copy, ``CE(clean) + eta · mixed loss``) or ``"inputs_only"`` (mixed inputs, the dominant
            input's label); see :mod:`mixup_any.modes`.
        eta: RegMixup's weight of the mixed term, ``>= 0``.
        **kwargs: more ``Trainer`` keyword arguments.

    ``TrainingArguments.label_smoothing_factor`` smooths each side before mixing, and gradient accumulation
    normalises over the accumulated batch (``docs/text.md``).

    Example:
        >>> from mixup_any import MixUp
        >>> MixupTrainer.__name__, issubclass(MixupTrainer, transformers.Trainer)
        ('MixupTrainer', True)
    """

    def __init__(
        self,
        *args: Any,
        mixer: Mixer | TextMixer,
        at: Any = "tokens",
        criterion: Callable[..., Tensor] | None = None,
        mode: str = "mixup",
        eta: float = 1.0,
        **kwargs: Any,
    ) -> None:
        route = TextMixer(mixer) if isinstance(mixer, Mixer) else mixer
        if not isinstance(route, TextMixer):
            raise MixupError(f"MixupTrainer needs mixer=<a mixup_any Mixer, e.g. MixUp(alpha=0.4), or a TextMixer>, "
                             f"got {type(mixer).__name__}.")
        mixer = route.mixer
        check_mode(mode, where="MixupTrainer")
        check_eta(eta)
        super().__init__(*args, **kwargs)
        self.mixer = mixer
        self.route = route
        self.at = at
        self.criterion = criterion
        self.mode = mode
        self.eta = eta
        self._handle: MixHandle | None = None  # attached for one train() run
        self._in_run = False
        if isinstance(mixer.target_spec.label_smoothing, Mapping):
            raise MixupError(
                "MixupTrainer mixes the one 'labels' tensor of a batch, so mixer.label_smoothing must be one float, "
                f"got {mixer.target_spec.label_smoothing!r}."
            )
        eps = float(self.args.label_smoothing_factor or 0.0)
        if eps and mixer.target_spec.label_smoothing:
            raise MixupError(
                f"Label smoothing is set twice: TrainingArguments.label_smoothing_factor={eps} and "
                f"mixer.label_smoothing={mixer.target_spec.label_smoothing!r}. Set one of them (both mean: smooth "
                "each side before mixing)."
            )
        self._smoothing = eps or float(mixer.target_spec.label_smoothing or 0.0)
        # fail at construction, not at the first step, if the site cannot be found
        with attach(route, self.accelerator.unwrap_model(self.model), at=at):
            pass

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``, with the mixing hooks attached once for the whole run and removed at its end."""
        self._in_run = True
        try:
            return super().train(*args, **kwargs)
        finally:
            self._in_run = False
            self._release()

    def _mixing(self, base: nn.Module) -> MixHandle:
        """The run's handle on ``base``, attached at the first training step (the model may be wrapped by then)."""
        if self._handle is None or self._handle.removed or self._handle.model is not base:
            self._release()
            self._handle = attach(self.route, base, at=self.at, mode=self.mode, eta=self.eta)
        return self._handle

    def _release(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _criterion(self, model: nn.Module, labels: Tensor) -> Callable[..., Tensor]:
        if self.criterion is not None:
            return self.criterion
        config = getattr(model, "config", None)
        problem = getattr(config, "problem_type", None)
        num_labels = getattr(config, "num_labels", None)
        if problem == "regression" or (problem is None and num_labels == 1):
            if self._smoothing:
                raise MixupError("label smoothing does not apply to regression (num_labels == 1); set it to 0.")
            return lambda out, y: F.mse_loss(out.squeeze(-1), y.to(out.dtype), reduction="none")
        if problem == "multi_label_classification" or (labels.is_floating_point() and labels.ndim == 2):
            # the stock Trainer disables smoothing for multi-label with a warning; we do the same, silently
            return lambda out, y: F.binary_cross_entropy_with_logits(out, y.to(out.dtype), reduction="none").mean(-1)
        return functools.partial(F.cross_entropy, label_smoothing=self._smoothing)

    def _step(self, mix: MixHandle, model: nn.Module, batch: dict[str, Any], labels: Tensor,
              criterion: Callable[..., Tensor], rows: Any) -> tuple[Tensor, Any]:
        """One armed forward and its loss."""
        mix.arm(labels)
        outputs = model(**batch)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        if rows is None:
            return mix.loss(criterion, logits, labels, reduction="mean"), outputs
        # RegMixup: each of its two terms is normalised over the accumulated batch's rows
        loss = mix.loss(criterion, logits, labels, reduction="sum") / rows
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            loss = loss * self.accelerator.num_processes
        return loss, outputs

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor | tuple[Tensor, Any]:
        """The mixed loss while training; the stock ``Trainer.compute_loss`` otherwise (evaluation)."""
        if not model.training:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        if "labels" not in inputs:
            raise MixupError(
                f"MixupTrainer needs the targets under 'labels' in every training batch, got keys {sorted(inputs)}. "
                "Mixing pairs the targets with the inputs; rename the label column to 'labels'."
            )
        base = self.accelerator.unwrap_model(model)
        labels = inputs["labels"]
        batch = {k: v for k, v in inputs.items() if k != "labels"}  # the model's own loss would be unmixed
        if self.mode == "regmixup":  # the clean batch, then its copy to mix
            batch = {k: torch.cat([v, v]) if isinstance(v, Tensor) and v.ndim and len(v) == len(labels) else v
                     for k, v in batch.items()}
        criterion = self._criterion(base, labels)
        rows = num_items_in_batch if labels.ndim == 1 else None  # the accumulated batch's rows, if counted
        if self._in_run:
            loss, outputs = self._step(self._mixing(base), model, batch, labels, criterion, rows)
        else:  # called on its own: the hooks live for this call only
            with attach(self.route, base, at=self.at, mode=self.mode, eta=self.eta) as mix:
                loss, outputs = self._step(mix, model, batch, labels, criterion, rows)
        # tell training_step whether the loss is already normalized over the accumulated batch
        self.loss_is_scaled_for_ga = rows is not None
        return (loss, outputs) if return_outputs else loss

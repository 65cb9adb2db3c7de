"""Lightning integration: :class:`MixupCallback` (hook sites, schedule, checkpoints) and :class:`MixupModuleMixin`.

A leaf module: it imports ``lightning`` at the top (``pip install 'mixup-any[lightning]'``). Hook-site mixing
uses the callback's :class:`~mixup_any.MixHandle` as a plain loop does; input mixing happens in the module's
``on_after_batch_transfer`` (:class:`MixupModuleMixin`). Usage: ``docs/scaling.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from torch import Tensor, nn

from ..exceptions import HookSiteError, MixupError
from ..extras import require
from ..handle import MixHandle, Route
from ..hooks import attach
from ..mixers import Mixer
from ..modes import check_eta, check_mode
from ..schedule import MixSchedule

__all__ = ["MixupCallback", "MixupModuleMixin"]

if TYPE_CHECKING:
    import lightning.pytorch as pl
else:
    pl = require("lightning.pytorch", "lightning", feature="mixup_any.integrations.lightning")


def default_labels(batch: Any) -> Tensor | None:
    """The targets of a batch: ``batch[1]`` of an ``(x, y)`` pair, or ``batch["labels"]`` / ``batch["y"]``."""
    if isinstance(batch, Mapping):
        for key in ("labels", "label", "y", "target", "targets"):
            if isinstance(batch.get(key), Tensor):
                return batch[key]
        return None
    if isinstance(batch, (tuple, list)) and len(batch) >= 2 and isinstance(batch[1], Tensor):
        return batch[1]
    return None


class MixupCallback(pl.Callback):
    """Mix training batches of a Lightning fit: hook sites per batch, epoch schedule, checkpointed state.

    Args:
        mixer: the :class:`~mixup_any.mixers.base.Mixer` (its generator draws every plan), or a route wrapping
            one (:class:`~mixup_any.text.TextMixer`, :class:`~mixup_any.tabular.TabularMixer`, ...), attached
            as :func:`~mixup_any.attach` attaches it.
        at: hook site(s) as in :func:`mixup_any.hooks.attach` (``"input"``, names, globs, types...), or ``None``
            for input mixing done by the module (:class:`MixupModuleMixin`); the callback then only runs the
            schedule and saves the mixer's state.
        module: the attribute of the LightningModule to hook (e.g. ``"model"``), or ``None`` for the
            LightningModule itself. The hooks disarm when that module's forward returns.
        off_after_epoch: turn mixing off from this epoch on (0-based, as ``trainer.current_epoch``).
        get_labels: ``fn(batch) -> y`` giving the batch's targets, passed to ``handle.arm(y)``;
            :func:`default_labels` by default.
        choose, weights, output, repeat: passed to :func:`mixup_any.hooks.attach`.
        mode, eta: the calibration-safe mode at the hook sites (``"mixup"``, ``"erm"``, ``"regmixup"``,
            ``"inputs_only"``; see :mod:`mixup_any.modes`), passed to :func:`~mixup_any.hooks.attach`.
            With ``"regmixup"`` call ``self(torch.cat([x, x]))`` in ``training_step`` and
            ``loss = callback.loss(criterion, output, y)``. Modes need hook sites (``at="input"`` mixes the
            model's input): with ``at=None`` only ``"mixup"`` is allowed.

    Attributes:
        handle: the live :class:`~mixup_any.hooks.MixHandle` during ``fit`` (``None`` otherwise).

    Example:
        >>> from mixup_any import MixUp
        >>> cb = MixupCallback(MixUp(alpha=0.4, num_classes=3), at="net.1", off_after_epoch=5)
        >>> cb.mixer.schedule
        MixSchedule(off_after_epoch=5, off_after_step=None, warmup_steps=0)
    """

    def __init__(
        self,
        mixer: Mixer | Route,
        at: Any = None,
        *,
        module: str | None = None,
        off_after_epoch: int | None = None,
        get_labels: Callable[[Any], Tensor | None] = default_labels,
        choose: str | None = None,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        output: int | str | None = None,
        repeat: str = "raise",
        mode: str = "mixup",
        eta: float = 1.0,
    ) -> None:
        super().__init__()
        check_mode(mode, where="MixupCallback")
        check_eta(eta)
        if at is None and not isinstance(mixer, Route) and mode != "mixup":
            raise MixupError(
                f"MixupCallback(mode={mode!r}) applies the mode at hook sites, but at=None (input mixing is done by "
                "MixupModuleMixin, which only mixes). Use at='input' to mix the model's input with this mode."
            )
        if not isinstance(mixer, (Mixer, Route)):
            raise MixupError(f"MixupCallback needs a Mixer (e.g. MixUp, CutMix) or a route wrapping one (TextMixer, "
                             f"TabularMixer, GraphMixer), got {type(mixer).__name__}.")
        inner = mixer.mixer if isinstance(mixer, Route) else mixer
        if off_after_epoch is not None:
            schedule = MixSchedule(off_after_epoch=off_after_epoch)  # checks the value
            if inner.schedule is None:
                inner.schedule = schedule
            elif inner.schedule.off_after_epoch != off_after_epoch:
                raise MixupError(
                    f"off_after_epoch={off_after_epoch} conflicts with the mixer's schedule (off_after_epoch="
                    f"{inner.schedule.off_after_epoch}); set it in one place."
                )
        if not callable(get_labels):
            raise MixupError(f"get_labels must be a function batch -> targets, got {type(get_labels).__name__}.")
        self.mixer = inner  # its epoch, schedule and state
        self.route = mixer  # what attach() hooks: the mixer itself or its route
        self.at = at
        self.module = module
        self.off_after_epoch = off_after_epoch
        self.get_labels = get_labels
        self.attach_kwargs: dict[str, Any] = {"choose": choose, "weights": weights, "output": output, "repeat": repeat,
                                              "mode": mode, "eta": eta}
        self.handle: MixHandle | None = None
        #: whether fitting attaches hooks: a site is named, or a route (which has its own default site)
        self.hooks = at is not None or isinstance(mixer, Route)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.hooks or self.handle is not None:
            return
        model = pl_module if self.module is None else getattr(pl_module, self.module, None)
        if not isinstance(model, nn.Module):
            raise HookSiteError(
                f"MixupCallback(module={self.module!r}): {type(pl_module).__name__} has no submodule attribute "
                f"{self.module!r}."
            )
        self.handle = attach(self.route, model, at=self.at, **self.attach_kwargs)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.on_exception(trainer, pl_module, None)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException | None) -> None:
        """Remove the hooks (also on teardown): they never outlive the fit."""
        if self.handle is not None:
            self.handle.remove()
            self.handle = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.mixer.set_epoch(trainer.current_epoch)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.handle is None:
            return
        labels = self.get_labels(batch)
        if not isinstance(labels, Tensor):
            raise MixupError(
                f"MixupCallback found no targets in the training batch (a {type(batch).__name__}): get_labels "
                f"returned {type(labels).__name__}. Pass get_labels=fn(batch) -> the (B, ...) targets tensor."
            )
        self.handle.arm(labels)

    def _live(self) -> MixHandle:
        if self.handle is None:
            raise MixupError(
                "MixupCallback has no hook sites attached (at=None, or outside fit): with input mixing "
                "training_step already receives the MixedTarget; use mixed_loss(criterion, output, target)."
            )
        return self.handle

    def target(self, y: Any) -> Any:
        """``handle.target(y)``: the mixed target of the current training batch, once, after the forward.
        Outside a training batch it raises :class:`HookSiteError`: validation code uses the plain labels."""
        return self._live().target(y)

    def loss(self, criterion: Callable[..., Tensor], output: Tensor, y: Any) -> Tensor:
        """``handle.loss(criterion, output, y)``: the mode's loss of the current training batch (takes the target)."""
        return self._live().loss(criterion, output, y)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.handle is None:
            return
        mix = self.handle
        if mix.armed:
            mix.disarm()
            raise HookSiteError(
                f"MixupCallback armed the hook sites {mix.sites} but the hooked module's forward did not run "
                "in training_step. Call the model (self(x) or the module named by module=) in training_step."
            )
        if mix.taken:
            return
        mix.target(cast(Tensor, mix.labels))  # raises if the forward ran but no selected site did
        raise HookSiteError(
            f"The batch was mixed at site {mix.params.site if mix.params else None!r}, but its mixed target was not "
            "taken: the loss used unmixed labels. In training_step use mixed_loss(criterion, output, "
            "callback.target(y)) (or self.mixup_target(y) with MixupModuleMixin)."
        )

    def state_dict(self) -> dict[str, Any]:
        return {"mixer": self.mixer.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.mixer.load_state_dict(state_dict["mixer"])

    def __repr__(self) -> str:
        at = f", at={self.at!r}" if self.at is not None else ""
        mode = f", mode={self.attach_kwargs['mode']!r}" if self.attach_kwargs["mode"] != "mixup" else ""
        return f"MixupCallback({self.mixer!r}{at}, off_after_epoch={self.off_after_epoch}{mode})"


class MixupModuleMixin:
    """Input mixing for a LightningModule, in its ``on_after_batch_transfer`` hook (the batch is on its device).

    Put it before ``LightningModule`` in the bases and set ``self.mixer``. During training an ``(x, y)`` batch
    becomes ``(mixer(x, y))`` = ``(x_mixed, MixedTarget)``; validation, test and predict batches pass unchanged,
    so ``mixed_loss(criterion, self(x), y)`` serves every stage. Override :meth:`mix_batch` for other layouts.
    Without ``self.mixer`` (``None`` or unset) batches pass unchanged, e.g. when only :meth:`mixup_target` is used.
    :meth:`mixup_target` finds the :class:`MixupCallback` of the trainer for hook-site mixing.

    Example:
        >>> import lightning.pytorch as pl
        >>> from mixup_any import MixUp
        >>> class Net(MixupModuleMixin, pl.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net, self.mixer = nn.Linear(4, 3), MixUp(alpha=0.4, num_classes=3)
        >>> x, t = Net().mix_batch((torch.randn(2, 4), torch.tensor([0, 2])))
        >>> x.shape, t.lam_rows().shape
        (torch.Size([2, 4]), torch.Size([2]))
    """

    mixer: Any
    training: bool

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        batch = super().on_after_batch_transfer(batch, dataloader_idx)  # type: ignore[misc]
        if self.training and getattr(self, "mixer", None) is not None:
            return self.mix_batch(batch)
        return batch

    def mix_batch(self, batch: Any) -> Any:
        """Mix one training batch; the default takes ``(x, y)`` (a tuple or list of two) and returns the same type."""
        if getattr(self, "mixer", None) is None:
            raise MixupError(f"{type(self).__name__} uses MixupModuleMixin but has no self.mixer.")
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise MixupError(
                f"MixupModuleMixin mixes (x, y) batches, got a {type(batch).__name__}"
                f"{f' of length {len(batch)}' if isinstance(batch, (tuple, list)) else ''}. Override mix_batch(batch) "
                "for other layouts."
            )
        x_mixed, target = self.mixer(*batch)
        return [x_mixed, target] if isinstance(batch, list) else (x_mixed, target)

    def mixup_target(self, y: Any) -> Any:
        """``callback.target(y)`` of the trainer's one :class:`MixupCallback` with hook sites (``y`` without one)."""
        try:
            trainer = cast(pl.LightningModule, self).trainer
        except RuntimeError:  # not attached to a Trainer (e.g. a unit test of training_step): nothing is mixed
            return y
        with_sites = [c for c in trainer.callbacks if isinstance(c, MixupCallback) and c.hooks]
        if len(with_sites) > 1:
            raise MixupError(f"mixup_target() found {len(with_sites)} MixupCallbacks with hook sites; use callback.target(y).")
        return with_sites[0].target(y) if with_sites else y

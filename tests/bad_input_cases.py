"""The bad-input matrix: one case per (public entry point, bad input), with the error it must raise.

Used by tests/test_bad_input.py (each case must raise the listed error with a message matching ``match``,
and leave no hook behind) and by tools/bad_input_table.py, which runs the same cases and writes
docs/bad_input.md from what they actually raised. Optional dependencies are imported inside the cases.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mixup_any import LamPolicy, MixParams, MixSchedule, MixUp, Pairing, TargetSpec, attach, mixed_loss
from mixup_any.functional import mix, mix_batch
from mixup_any.sampling import sample_beta, sample_index, sample_lambda
from mixup_any.targets import mix_target, resolve_kind


class CliExit(Exception):
    """A ``mixup-any`` run that exited with a non-zero status (the message is its stderr)."""


@dataclass
class Context:
    """What a case may use: a temp dir, and a register of modules that must hold no hooks afterwards."""

    tmp: Path
    modules: list[nn.Module] = field(default_factory=list)

    def track(self, model: nn.Module) -> nn.Module:
        self.modules.append(model)
        return model

    def leftover_hooks(self) -> list[str]:
        left = []
        for root in self.modules:
            for name, m in root.named_modules():
                if m._forward_hooks or m._forward_pre_hooks:
                    left.append(f"{type(root).__name__}.{name or '<root>'}")
        return left


@dataclass
class Case:
    entry: str
    given: str
    run: Callable[[Context], Any]
    error: str  # the exception class name, or "exit 2" for the CLI
    match: str
    needs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.entry} | {self.given}"


def _x(b=4, *rest):
    return torch.randn(b, *(rest or (3,)), generator=torch.Generator().manual_seed(0))


def _mlp(ctx):
    torch.manual_seed(0)
    return ctx.track(nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)))


def _with_handle(ctx, at="1", arm=None, forward=None, **kw):
    model = _mlp(ctx)
    with attach(MixUp(alpha=1.0, seed=0), model, at=at, **kw) as h:
        if arm is not None:
            arm(h)
        if forward is not None:
            forward(h, model)


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(3, 3)

    def forward(self, x):
        return self.block(self.block(x))


class _IntOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.pick = nn.Flatten()

    def forward(self, x):
        return self.pick(self.lin(x).argmax(-1, keepdim=True))


class _TinyText(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.head = nn.Embedding(10, 4), nn.Linear(4, 2)

    def get_input_embeddings(self):
        return self.emb

    def forward(self, input_ids, attention_mask=None):
        return self.head(self.emb(input_ids).mean(1))


def _text(ctx, batch, labels=None, at=None, **route):
    from mixup_any.text import TextMixer

    model = ctx.track(_TinyText())
    with attach(TextMixer(MixUp(alpha=1.0, seed=0), **route), model, at=at) as mix:
        mix.arm(labels)
        model(**batch)


def _ids(b=2, length=3):
    return torch.randint(1, 10, (b, length), generator=torch.Generator().manual_seed(0))


SUBPROCESS = True  # tools/bad_input_table.py runs the CLI in-process: same messages, no interpreter start-ups


def _cli(ctx, *argv):
    """Run ``python -m mixup_any.cli ARGV`` in ``ctx.tmp`` as a user would; a failure must be one stderr line,
    no traceback, and must leave no output files (anything new in ``ctx.tmp``)."""
    argv = [a.replace("<tmp>", str(ctx.tmp)) for a in argv]
    if not SUBPROCESS:
        return _cli_in_process(ctx, argv)
    before = set(ctx.tmp.rglob("*"))
    proc = subprocess.run([sys.executable, "-m", "mixup_any.cli", *argv],
                          cwd=ctx.tmp, capture_output=True, text=True, timeout=300)
    created = sorted(str(p.relative_to(ctx.tmp)) for p in set(ctx.tmp.rglob("*")) - before)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 0:
        return proc.returncode
    if len(lines) != 1 or "Traceback" in proc.stderr or created:
        raise CliExit(f"exit {proc.returncode} with {len(lines)} stderr lines and new files {created}: "
                      f"{proc.stderr.strip()!r}")
    raise CliExit(f"exit {proc.returncode}: {lines[0]}")


def _cli_in_process(ctx, argv):
    from mixup_any.cli import main

    err, cwd = io.StringIO(), os.getcwd()
    try:
        os.chdir(ctx.tmp)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    finally:
        os.chdir(cwd)
    if code != 0:
        raise CliExit(f"exit {code}: {err.getvalue().strip().splitlines()[-1]}")
    return code


def _csv(ctx, text="a,b,y\n1,x,0\n2,y,1\n3,x,0\n4,y,1\n", name="data.csv", encoding="utf-8"):
    p = ctx.tmp / name
    p.write_bytes(text.encode(encoding))
    return p


def _compare(*argv, csv=None):
    """A case running ``compare`` on a CSV written first (``csv``: its text, or None for the default)."""
    def run(ctx):
        if csv is not False:
            _csv(ctx) if csv is None else _csv(ctx, csv)
        return _cli(ctx, "compare", *argv)
    return run


_TEXT_Y = "a,y\n" + "".join(f"{i % 5},{'yes' if i % 2 else 'no'}\n" for i in range(12))
_SEMI = "a;b;y\n" + "".join(f"{i};{'xy'[i % 2]};{i % 2}\n" for i in range(12))


def _frame():
    import pandas as pd

    return pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "y", "x", "y"]})


def _tab(**kw):
    from mixup_any.tabular import TabularMixer

    return TabularMixer(MixUp(alpha=1.0, seed=0), **kw)


def _fit(est, X, y):
    est.fit(X, y)


def _fit_predict(X_predict, X_fit=None):
    from mixup_any.tabular import MixupTabularClassifier

    clf = MixupTabularClassifier(max_epochs=1, random_state=0).fit(_frame() if X_fit is None else X_fit, [0, 1, 0, 1])
    return clf.predict(X_predict)


TAB = ("pandas", "sklearn")
y4 = torch.tensor([0, 1, 2, 1])

CASES: list[Case] = [
    # ---------------------------------------------------------------- kernels
    Case("mix", "uint8 x (B, C, H, W)", lambda c: mix(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.ones(4),
         torch.arange(4)), "MixupError", r"For uint8 images convert with x.float\(\) / 255"),
    Case("mix", "integer x (B, D) int64", lambda c: mix(torch.ones(4, 3, dtype=torch.long), torch.ones(4), torch.arange(4)),
         "MixupError", "needs a floating-point tensor"),
    Case("mix", "0-d x", lambda c: mix(torch.tensor(1.0), torch.ones(1), torch.arange(1)), "MixupError", "0-d tensor"),
    Case("mix", "x is a list", lambda c: mix([[1.0]], torch.ones(1), torch.arange(1)), "MixupError", "needs a torch.Tensor"),
    Case("mix", "lam (B-1,)", lambda c: mix(_x(), torch.ones(3), torch.arange(4)), "MixupError", "must share dim 0"),
    Case("mix", "lam is a list", lambda c: mix(_x(), [0.5] * 4, torch.arange(4)), "MixupError", r"lam must be a float or a \(B,\) tensor"),
    Case("mix", "index holds B", lambda c: mix(_x(), torch.ones(4), torch.tensor([0, 1, 2, 4])), "MixupError",
         r"index holds a partner outside \[0, 4\)"),
    Case("mix", "index holds -1", lambda c: mix(_x(), torch.ones(4), torch.tensor([0, 1, 2, -1])), "MixupError",
         r"index holds a partner outside \[0, 4\)"),
    Case("mix", "float index", lambda c: mix(_x(), torch.ones(4), torch.arange(4.0)), "MixupError",
         r"not an integer tensor on cpu \(torch.float32"),
    Case("mix_batch", "int64 leaf in a dict", lambda c: mix_batch({"a": _x(), "ids": torch.ones(4, 2, dtype=torch.long)},
         torch.ones(4), torch.arange(4)), "MixupError", r"batch\['ids'\] is a torch.int64 tensor"),
    Case("mix_batch", "string leaf", lambda c: mix_batch({"a": _x(), "s": "text"}, torch.ones(4), torch.arange(4)),
         "MixupError", "is a str, not a tensor"),
    Case("MixParams", "lam (B,) and index (B+1,)", lambda c: MixParams(torch.ones(4), torch.arange(5)), "MixupError",
         r"float tensor shaped like index \(5,\)"),
    Case("MixParams", "integer lam", lambda c: MixParams(torch.ones(4, dtype=torch.long), torch.arange(4)), "MixupError",
         r"lam must be a float in \[0, 1\] or a float tensor .* got torch.int64"),
    Case("MixParams", "Box of 3 rows for a plan of 4", lambda c: MixParams(torch.ones(4), torch.arange(4), extra=__import__(
        "mixup_any").Box(torch.zeros(3, 4, dtype=torch.long), (8, 8))), "MixupError", "its Box.bounds has 3 rows"),
    Case("Box", "float bounds", lambda c: __import__("mixup_any").Box(torch.zeros(4, 4), (8, 8)), "MixupError",
         r"integer tensor of shape \(B, 4\)"),
    Case("Swap", "float mask", lambda c: __import__("mixup_any").Swap(torch.zeros(4, 2)), "MixupError",
         "bool tensor of shape"),
    Case("Choice", "float member", lambda c: __import__("mixup_any").Choice(torch.zeros(4)), "MixupError",
         "int or an integer tensor"),
    Case("CutMix().mix", "a 16x16 plan on 8x8 images", lambda c: __import__("mixup_any").CutMix(seed=0).mix(
        _x(4, 1, 8, 8), __import__("mixup_any").CutMix(seed=0).sample((4, 1, 16, 16))), "MixupError",
         "drawn for 16x16 but the tensor is 8x8"),
    Case("mix_target", "partner index 7 in a batch of 4", lambda c: mix_target(torch.arange(4), MixParams(
        torch.ones(4), torch.tensor([0, 1, 2, 7]))), "MixupError", r"index holds a partner outside \[0, 4\)"),
    # ---------------------------------------------------------------- samplers
    Case("sample_lambda", "batch_size=-1", lambda c: sample_lambda(-1), "MixupError", "non-negative int"),
    Case("sample_beta", "a=inf", lambda c: sample_beta(3, math.inf, 1.0), "MixupError", "finite a and b of at least"),
    Case("sample_index", "unknown pairing", lambda c: sample_index(4, pairing="nearest"), "MixupError", "Unknown pairing"),
    Case("sample_index", "same_class without labels", lambda c: sample_index(4, pairing="same_class"), "MixupError",
         "needs the targets"),
    Case("sample_index", "labels with B-1 rows", lambda c: sample_index(4, pairing="same_class", labels=torch.arange(3)),
         "MixupError", "4 rows"),
    Case("sample_index", "pairing callable returns an index outside the batch",
         lambda c: sample_index(4, pairing=lambda b, **k: torch.arange(b) + 1), "MixupError", "outside"),
    # ---------------------------------------------------------------- MixUp construction
    Case("MixUp()", "alpha=-0.1", lambda c: MixUp(alpha=-0.1), "MixupError", "alpha must be a float >= 0"),
    Case("MixUp()", "alpha=inf", lambda c: MixUp(alpha=math.inf), "MixupError", "finite"),
    Case("MixUp()", "alpha=nan", lambda c: MixUp(alpha=math.nan), "MixupError", "alpha must be"),
    Case("MixUp()", "p=1.5", lambda c: MixUp(p=1.5), "MixupError", r"p must be a probability"),
    Case("MixUp()", "lam=(0.8, 0.2)", lambda c: MixUp(lam=(0.8, 0.2)), "MixupError", "lam must be"),
    Case("MixUp()", "num_classes=0", lambda c: MixUp(num_classes=0), "MixupError", "num_classes must be"),
    Case("MixUp()", "label_smoothing=1.0", lambda c: MixUp(label_smoothing=1.0), "MixupError", "label_smoothing"),
    Case("MixUp()", "seed=2**70", lambda c: MixUp(seed=2**70), "MixupError", "seed must be an int"),
    Case("MixUp()", "exclude_classes='ab'", lambda c: MixUp(exclude_classes="ab"), "MixupError", "exclude_classes"),
    Case("LamPolicy", "alpha < 0", lambda c: LamPolicy(alpha=-1.0), "MixupError", "alpha"),
    Case("Pairing", "unknown strategy", lambda c: Pairing(strategy="nearest"), "MixupError", "nearest"),
    Case("TargetSpec", "unknown kind", lambda c: TargetSpec(kind="ordinal"), "MixupError", "ordinal"),
    Case("MixSchedule()", "off_after_epoch=-1", lambda c: MixSchedule(off_after_epoch=-1), "MixupError",
         "non-negative int"),
    Case("CutMix()", "axis=5 for a (B, C, H, W) batch", lambda c: __import__("mixup_any").CutMix(axis=5)(
        _x(4, 1, 6, 6), y4), "MixupError", "axis"),
    Case("CutMix()", "axis=-1 for a (B,) batch", lambda c: __import__("mixup_any").CutMix(axis=-1)(
        torch.zeros(4), y4), "MixupError", r"only the batch dim, nothing to cut; dim 0 is the batch"),
    Case("CutMix()", "axis=2 for a (B, D) batch", lambda c: __import__("mixup_any").CutMix(axis=2)(
        _x(4, 3), y4), "MixupError", r"\(valid: 1 or -1; dim 0"),
    Case("MixUp()", "uint8 images (B, C, H, W)", lambda c: MixUp(alpha=1.0, seed=0)(
        torch.zeros(4, 1, 2, 2, dtype=torch.uint8), y4), "MixupError", r"uint8 images: convert them with x.float\(\) / 255"),
    Case("CutMix()", "min_area=0.5 with 1x2 images", lambda c: __import__("mixup_any").CutMix(min_area=0.5)(
        _x(4, 1, 1, 2), y4), "MixupError", "min_area"),
    Case("MixUp()", "per_sample='no'", lambda c: MixUp(per_sample="no"), "MixupError", "per_sample must be True or False"),
    Case("CutMix()", "axis=0 (the batch)", lambda c: __import__("mixup_any").CutMix(axis=0), "MixupError",
         "dim 0 is the batch"),
    Case("CutMix()", "axis=(1, 1)", lambda c: __import__("mixup_any").CutMix(axis=(1, 1)), "MixupError", "distinct"),
    Case("RandomChoice()", "p does not sum to 1", lambda c: __import__("mixup_any").RandomChoice(
        [MixUp(), MixUp()], weights=[0.5, 0.2]), "MixupError", "sum"),
    Case("MixupCollate()", "empty list of samples", lambda c: __import__("mixup_any").MixupCollate(MixUp())([]),
         "MixupError", "non-empty list"),
    Case("MixupCollate()", "samples of different shapes", lambda c: __import__("mixup_any").MixupCollate(MixUp())(
        [(torch.ones(2), 0), (torch.ones(3), 1)]), "MixupError", "could not batch"),
    # ---------------------------------------------------------------- MixUp call
    Case("MixUp()(x, y)", "y with B-1 rows", lambda c: MixUp()(_x(), torch.arange(3)), "MixupError",
         "batch size 4 but the targets have 3"),
    Case("MixUp()(x, y)", "empty batch (0, D)", lambda c: MixUp()(_x(0), torch.arange(0)), "MixupError", "empty batch"),
    Case("MixUp()(x, y)", "x is None", lambda c: MixUp()(None, y4), "MixupError", "no tensor"),
    Case("MixUp()(x, y)", "y missing", lambda c: MixUp()(_x()), "MixupError", "needs the targets y"),
    Case("MixUp()(x, y)", "integer x", lambda c: MixUp()(torch.ones(4, 3, dtype=torch.long), y4), "MixupError",
         "never interpolated"),
    Case("MixUp()(x, y)", "float (B,) labels with num_classes", lambda c: MixUp(num_classes=3)(_x(), y4.float()),
         "MixupError", r"class indices must be an integer tensor \(targets.long\(\)\)"),
    Case("MixUp()(x, y)", "class index >= num_classes, read by soft()",
         lambda c: MixUp(num_classes=2)(_x(), y4)[1].soft(), "MixupError", r"class index outside \[0, num_classes=2\)"),
    Case("MixUp()(x, y)", "integer y (B, 2)", lambda c: MixUp()(_x(), torch.ones(4, 2, dtype=torch.long)),
         "MixupError", "ambiguous"),
    Case("MixUp()(x, y)", "same_class with (B, 2, 2) float y", lambda c: MixUp(pairing="same_class")(_x(), torch.randn(4, 2, 2)),
         "MixupError", "Class-based pairing"),
    Case("MixUp()(x, y)", "soft y (B, 0): no classes", lambda c: MixUp()(_x(), torch.randn(4, 0)),
         "MixupError", "at least one class"),
    Case("MixUp()(x, y)", "exclude_classes with soft y (B, 0)", lambda c: MixUp(exclude_classes=[0])(_x(), torch.randn(4, 0)),
         "MixupError", "C >= 1"),
    Case("MixUp()(x, y)", "params for another batch size",
         lambda c: MixUp()(_x(), y4, params=MixParams.identity(3)), "MixupError", "the plan is for 3 rows"),
    Case("MixUp()(x, y)", "params is a dict", lambda c: MixUp()(_x(), y4, params={"lam": 1}), "MixupError",
         "needs a MixParams"),
    Case("mix_target", "targets with B+1 rows", lambda c: mix_target(torch.arange(5), MixParams.identity(4)),
         "MixupError", "has shape"),
    Case("resolve_kind", "kind='auto', float y (B, 0)", lambda c: resolve_kind(torch.randn(4, 0), "auto"),
         "MixupError", "at least one class"),
    Case("mix_target", "kind='index' with float y", lambda c: mix_target(torch.randn(4), MixParams.identity(4), kind="index"),
         "MixupError", "target='index' needs integer"),
    Case("MixedTarget.soft", "index targets without num_classes", lambda c: MixUp()(_x(), y4)[1].soft(), "MixupError",
         "needs num_classes"),
    # ---------------------------------------------------------------- losses
    Case("mixed_loss", "criterion that already reduces", lambda c: mixed_loss(
        lambda o, y: F.cross_entropy(o, y), torch.randn(4, 3), MixUp()(_x(), y4)[1]), "MixupError", "per-sample losses"),
    Case("mixed_loss", "output with B-1 rows", lambda c: mixed_loss(F.cross_entropy, torch.randn(3, 3), MixUp()(_x(), y4)[1]),
         "MixupError", r"output must be a \(B=4, ...\) tensor"),
    Case("mixed_loss", "logits with fewer classes than the labels", lambda c: mixed_loss(
        F.cross_entropy, torch.randn(4, 2), MixUp()(_x(), y4)[1]), "MixupError", "criterion.*failed"),
    Case("mixed_loss", "reduction='avg'", lambda c: mixed_loss(F.cross_entropy, torch.randn(4, 3), y4, reduction="avg"),
         "MixupError", "Unknown reduction"),
    Case("mixed_loss", "criterion is a string", lambda c: mixed_loss("ce", torch.randn(4, 3), MixUp()(_x(), y4)[1]),
         "MixupError", "criterion must be a callable"),
    Case("MixUp()(x, y)", "complex targets", lambda c: MixUp()(_x(), torch.ones(4, dtype=torch.complex64)),
         "MixupError", "must be real"),
    # ---------------------------------------------------------------- hooks
    Case("attach", "unknown site name", lambda c: _with_handle(c, at="2.weight"), "HookSiteError",
         "No module named '2.weight'"),
    Case("attach", "glob that matches nothing", lambda c: _with_handle(c, at="enc*"), "HookSiteError",
         "No module name matches the glob"),
    Case("attach", "invalid regex", lambda c: _with_handle(c, at="re:(("), "HookSiteError", "not a valid regular"),
    Case("attach", "at=the model itself", lambda c: (lambda m: attach(MixUp(), m, at=m))(_mlp(c)), "HookSiteError",
         "is the model itself"),
    Case("attach", "at=3 (an int)", lambda c: _with_handle(c, at=3), "HookSiteError", "at= entries must be"),
    Case("attach", "model is a function", lambda c: attach(MixUp(), lambda x: x), "MixupError", "needs an nn.Module"),
    Case("attach", "choose='two'", lambda c: _with_handle(c, choose="two"), "MixupError", "choose must be one of"),
    Case("attach", "second live handle on the same model", lambda c: _double_attach(c), "HookSiteError",
         "already hooked"),
    Case("list_sites", "example input of the wrong width", lambda c: __import__("mixup_any").list_sites(
        _mlp(c), torch.randn(2, 7)), "HookSiteError", "failed on the example input"),
    Case("MixHandle.arm", "params is a dict", lambda c: _with_handle(c, arm=lambda h: h.arm(y4, params={"lam": 1})),
         "MixupError", "needs a MixParams"),
    Case("MixHandle.arm", "0-d labels", lambda c: _with_handle(c, arm=lambda h: h.arm(torch.tensor(1))),
         "MixupError", r"needs the batch's targets as a \(B, ...\) tensor"),
    Case("MixHandle forward", "labels with B-1 rows", lambda c: _with_handle(
        c, arm=lambda h: h.arm(torch.arange(3)), forward=lambda h, m: m(_x())), "HookSiteError",
         "the batch has 3 rows"),
    Case("MixHandle forward", "site runs twice (repeat='raise')", lambda c: _twice(c), "HookSiteError", "ran 2 times"),
    Case("MixHandle forward", "site outputs an integer tensor", lambda c: _int_site(c), "HookSiteError",
         "integer outputs"),
    Case("MixHandle.target", "no armed forward", lambda c: _with_handle(c, forward=lambda h, m: h.target(y4)),
         "HookSiteError", "needs an armed forward"),
    Case("MixHandle.target", "the selected site did not run", lambda c: _with_handle(
        c, at="2", arm=lambda h: h.arm(y4), forward=lambda h, m: (m[0](_x()), h.target(y4))), "HookSiteError",
         "No selected hook site ran"),
    # ---------------------------------------------------------------- distributed (Lightning: tests/test_lightning.py)
    Case("seed_for_rank", "rank=-1", lambda c: __import__("mixup_any.distributed", fromlist=["x"]).seed_for_rank(0, -1),
         "MixupError", "rank must be a non-negative int"),
    Case("CrossRankMixer", "pairing='same_class'", lambda c: __import__("mixup_any.distributed", fromlist=["x"])
         .CrossRankMixer(MixUp(pairing="same_class")), "MixupError", "pairing='permute' only"),
    # ---------------------------------------------------------------- tabular
    Case("TabularMixer", "categorical_mixing='mean'", lambda c: _tab(categorical_mixing="mean"), "MixupError",
         "Unknown categorical_mixing", needs=TAB),
    Case("TabularMixer", "categorical_mixing='onehot' without cardinalities", lambda c: _tab(
        categorical_mixing="onehot"), "MixupError", "needs cardinalities", needs=TAB),
    Case("attach(TabularMixer)", "categorical_mixing='embedding' without at=", lambda c: attach(_tab(), c.track(
        __import__("mixup_any.tabular", fromlist=["x"]).TabularMLP(1, [2, 3], 2))), "MixupError",
         "through hooks on their embedding modules", needs=TAB),
    Case("attach(TabularMixer)", "choose='one'", lambda c: attach(_tab(), c.track(__import__(
        "mixup_any.tabular", fromlist=["x"]).TabularMLP(1, [2, 3], 2)), at="embeddings.*", choose="one"),
         "MixupError", "mixes its sites with choose='all'", needs=TAB),
    Case("TabularMixer.sample", "x_cont (4, D) and x_cat (3, K)", lambda c: _tab(categorical_mixing="swap").sample(
        _x(), torch.zeros(3, 2, dtype=torch.long)), "MixupError", "x_cont has 4 rows but x_cat has 3", needs=TAB),
    Case("TabularMixer.mix", "float x_cat", lambda c: (lambda t: t.mix(_x(), torch.randn(4, 2), t.sample(_x(), None)))(
        _tab(categorical_mixing="swap")), "MixupError", "x_cat must hold integer category codes", needs=TAB),
    Case("one_hot_blocks", "code >= cardinality", lambda c: __import__("mixup_any.tabular.mixer", fromlist=["x"])
         .one_hot_blocks(torch.tensor([[0, 3]]), [2, 3]), "MixupError", "outside", needs=TAB),
    Case("TabularMLP forward", "code >= cardinality", lambda c: __import__("mixup_any.tabular", fromlist=["x"])
         .TabularMLP(1, [2, 3], 2)(torch.randn(2, 1), torch.tensor([[0, 3], [1, 0]])), "MixupError",
         r"code outside \[0, cardinality\)", needs=TAB),
    Case("TabularMLP forward", "x_cat missing", lambda c: __import__("mixup_any.tabular", fromlist=["x"])
         .TabularMLP(1, [2, 3], 2)(torch.randn(2, 1)), "MixupError", r"x_cat must be \(B, 2\) integer codes",
         needs=TAB),
    Case("infer_schema", "unknown categorical column", lambda c: __import__("mixup_any.tabular.schema", fromlist=["x"])
         .infer_schema(_frame(), categorical=["zip"]), "MixupError", "not in the table", needs=TAB),
    Case("MixupTabularClassifier.fit", "one-class target", lambda c: _fit(__import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularClassifier(max_epochs=1), _frame(), [1, 1, 1, 1]),
         "MixupError", "only one class", needs=TAB),
    Case("MixupTabularClassifier.fit", "categorical_mixing='mean'", lambda c: _fit(__import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularClassifier(categorical_mixing="mean", max_epochs=1), _frame(),
        [0, 1, 0, 1]), "MixupError", "Unknown categorical_mixing 'mean'", needs=TAB),
    Case("MixupTabularRegressor.fit", "target with NaN", lambda c: _fit(__import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularRegressor(max_epochs=1), _frame(), [1.0, math.nan, 2.0, 3.0]),
         "MixupError", r"y is missing \(NaN or None\) in 1 of 4 rows", needs=TAB),
    Case("MixupTabularClassifier.fit", "text labels with a missing one", lambda c: _fit(__import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularClassifier(max_epochs=1), _frame(), ["a", None, "b", "a"]),
         "MixupError", r"y is missing \(NaN or None\) in 1 of 4 rows", needs=TAB),
    Case("MixupTabularClassifier.fit", "float labels with NaN", lambda c: _fit(__import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularClassifier(max_epochs=1), _frame(), [0.0, 1.0, math.nan, 1.0]),
         "MixupError", r"y is missing \(NaN or None\) in 1 of 4 rows", needs=TAB),
    Case("MixupTabularClassifier.fit", "a feature with no value", lambda c: _fit(__import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularClassifier(max_epochs=1), _frame().assign(e=math.nan),
        [0, 1, 0, 1]), "MixupError", "Column 'e' has no value in any of the 4 rows", needs=TAB),
    Case("MixupTabularClassifier.fit", "eval_set that is not a pair", lambda c: __import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularClassifier(max_epochs=1).fit(_frame(), [0, 1, 0, 1],
                                                                                      eval_set=_frame()),
         "MixupError", r"eval_set must be a pair \(X_val, y_val\)", needs=TAB),
    Case("MixupTabularClassifier.fit", "column with infinity", lambda c: _fit(__import__(
        "mixup_any.tabular", fromlist=["x"]).MixupTabularClassifier(max_epochs=1), _frame().assign(
            a=[1.0, math.inf, 2.0, 3.0]), [0, 1, 0, 1]), "MixupError",
         r"Column 'a' holds inf \(row 1\); expected finite numbers within float32's range", needs=TAB),
    Case("MixupTabularClassifier.predict", "value beyond float32 (1e300)", lambda c: _fit_predict(
        _frame().assign(a=[1.0, 1e300, 2.0, 3.0])), "MixupError", "Column 'a' holds 1e\\+300", needs=TAB),
    Case("MixupTabularClassifier.predict", "columns reordered", lambda c: _fit_predict(_frame()[["b", "a"]]),
         "MixupError", r"another order \['b', 'a'\]\); expected \['a', 'b'\], in that order",
         needs=TAB),
    Case("MixupTabularClassifier.predict", "column missing", lambda c: _fit_predict(_frame()[["a"]]),
         "MixupError", r"differ from those seen in fit \(missing \['b'\]\); expected \['a', 'b'\]", needs=TAB),
    # ---------------------------------------------------------------- text
    Case("TextMixer", "mixer is a string", lambda c: __import__("mixup_any.text", fromlist=["x"]).TextMixer("mixup"),
         "MixupError", "TextMixer needs a Mixer"),
    Case("TextMixer", "mask='both'", lambda c: __import__("mixup_any.text", fromlist=["x"]).TextMixer(
        MixUp(), mask="both"), "MixupError", "Unknown attention-mask rule 'both'"),
    Case("attach(TextMixer)", "model is a string", lambda c: attach(__import__("mixup_any.text", fromlist=["x"])
         .TextMixer(MixUp()), "bert"), "MixupError", "needs an nn.Module model"),
    Case("attach(TextMixer)", "layers= with at='tokens'", lambda c: _text(c, {"input_ids": _ids()}, layers=[1]),
         "MixupError", r"TextMixer\(layers=...\) is for at='hidden'"),
    Case("TextMixer handle .arm", "labels a list", lambda c: _text(c, {"input_ids": _ids()}, [0, 1]),
         "MixupError", r"arm\(labels\) needs the batch's targets"),
    Case("TextMixer handle, forward", "input_ids of shape (L,)", lambda c: _text(c, {"input_ids": torch.arange(3)},
         torch.tensor([0])), "MixupError", r"needs input_ids \(B, L\) or inputs_embeds"),
    Case("TextMixer handle, forward", "labels with B+1 rows", lambda c: _text(c, {"input_ids": _ids()},
         torch.tensor([0, 1, 1])), "MixupError", "batch size 2 but the labels have 3"),
    Case("TextMixer handle, forward", "attention_mask (B, L+1)", lambda c: _text(c, {"input_ids": _ids(), "attention_mask":
         torch.ones(2, 4, dtype=torch.long)}, torch.tensor([0, 1])), "MixupError", r"attention_mask has shape \(2, 4\)"),
    # ---------------------------------------------------------------- CLI (each run as a subprocess)
    Case("mixup-any", "no command", lambda c: _cli(c), "exit 2", "choose a command", needs=TAB),
    Case("mixup-any", "unknown command", lambda c: _cli(c, "fit"), "exit 2",
         r"invalid choice: 'fit'.*\(see mixup-any --help\)$", needs=TAB),
    Case("mixup-any", "compare missing.csv", _compare("<tmp>/missing.csv", "--target", "y", csv=False), "exit 2",
         "no such CSV file: .*missing.csv", needs=TAB),
    Case("mixup-any", "compare DIRECTORY", _compare("<tmp>", "--target", "y", csv=False), "exit 2",
         "is a directory, not a CSV file", needs=TAB),
    Case("mixup-any", "compare data.csv without --target", _compare("data.csv"), "exit 2",
         "--target COL is required", needs=TAB),
    Case("mixup-any", "compare data.csv --target nope", _compare("data.csv", "--target", "nope"), "exit 2",
         "target column 'nope' not found; columns are: a, b, y", needs=TAB),
    Case("mixup-any", "';'-separated CSV without --sep", _compare("data.csv", "--target", "y", csv=_SEMI), "exit 2",
         "pass --sep ';'", needs=TAB),
    Case("mixup-any", "latin-1 CSV without --encoding", lambda c: (
         _csv(c, "a,b,y\n" + "".join(f"{i},caf\u00e9,{i % 2}\n" for i in range(12)), encoding="latin-1"),
         _cli(c, "compare", "data.csv", "--target", "y")), "exit 2", "--encoding latin-1", needs=TAB),
    Case("mixup-any", "--encoding nope", _compare("data.csv", "--target", "y", "--encoding", "nope"), "exit 2",
         "unknown --encoding 'nope'", needs=TAB),
    Case("mixup-any", "--sep ''", _compare("data.csv", "--target", "y", "--sep", ""), "exit 2",
         "--sep must not be empty", needs=TAB),
    Case("mixup-any", "--folds 1", _compare("data.csv", "--target", "y", "--folds", "1"), "exit 2",
         "--folds must be an integer from 2 to 100, got 1", needs=TAB),
    Case("mixup-any", "--epochs abc", _compare("--epochs", "abc", csv=False), "exit 2",
         r"invalid int value: 'abc' \(see mixup-any compare --help\)", needs=TAB),
    Case("mixup-any", "--alpha -1", _compare("data.csv", "--target", "y", "--alpha", "-1"), "exit 2",
         "--alpha values must be finite numbers >= 0", needs=TAB),
    Case("mixup-any", "--alpha nan", _compare("data.csv", "--target", "y", "--alpha", "nan"), "exit 2",
         "--alpha values must be finite numbers >= 0.*nan", needs=TAB),
    Case("mixup-any", "--alpha 0.4 inf", _compare("data.csv", "--target", "y", "--alpha", "0.4", "inf"), "exit 2",
         "--alpha values must be finite numbers >= 0.*inf", needs=TAB),
    Case("mixup-any", "--categorical-mixing mean", _compare("data.csv", "--target", "y", "--categorical-mixing",
         "mean"), "exit 2", "argument --categorical-mixing: invalid choice: 'mean'", needs=TAB),
    Case("mixup-any", "--methods with an unknown method", _compare("data.csv", "--target", "y", "--methods", "erm",
         "cutout"), "exit 2", "invalid choice: 'cutout'", needs=TAB),
    Case("mixup-any", "--threads -1", _compare("data.csv", "--target", "y", "--threads", "-1"), "exit 2",
         "--threads must be an integer from 1 to", needs=TAB),
    Case("mixup-any", "--drop the target", _compare("data.csv", "--target", "y", "--drop", "y"), "exit 2",
         "--drop names the target column 'y'", needs=TAB),
    Case("mixup-any", "--drop the built-in target", _compare("--drop", "Status", csv=False), "exit 2",
         "--drop names the target column 'Status'", needs=TAB),
    Case("mixup-any", "--drop an unknown column", _compare("data.csv", "--target", "y", "--drop", "zz"), "exit 2",
         "--drop names unknown columns: 'zz'", needs=TAB),
    Case("mixup-any", "--drop every feature", _compare("data.csv", "--target", "y", "--drop", "a", "b"), "exit 2",
         "no feature columns besides the target", needs=TAB),
    Case("mixup-any", "--categorical an unknown column", _compare("data.csv", "--target", "y", "--categorical", "zz"),
         "exit 2", "--categorical names 'zz', which is not a feature column", needs=TAB),
    Case("mixup-any", "an all-empty column", _compare("data.csv", "--target", "y", csv="a,b,y\n1,,u\n2,,v\n"),
         "exit 2", "column 'b' has no value in any row; --drop it", needs=TAB),
    Case("mixup-any", "--task regression, text target", _compare("data.csv", "--target", "y", "--task",
         "regression", csv=_TEXT_Y), "exit 2", "needs a numeric target; 'y' holds text", needs=TAB),
    Case("mixup-any", "--pairing label_distance, class target", _compare("data.csv", "--target", "y", "--pairing",
         "label_distance", csv=_TEXT_Y), "exit 2", "label_distance .* is a classification target", needs=TAB),
    Case("mixup-any", "--out an existing file", _compare("data.csv", "--target", "y", "--out", "data.csv"),
         "exit 2", "--out data.csv is an existing file", needs=TAB),
    Case("mixup-any", "--out under a file", _compare("data.csv", "--target", "y", "--out", "data.csv/sub"),
         "exit 2", "--out data.csv/sub is under .*data.csv, which is a file", needs=TAB),
    Case("mixup-any", "--out /proc/x", _compare("data.csv", "--target", "y", "--out", "/proc/x"), "exit 2",
         "--out /proc/x: cannot write in /proc", needs=TAB),
    Case("mixup-any", "one-class target", _compare("data.csv", "--target", "y", csv="a,y\n" + "1,k\n" * 12),
         "exit 2", r"only one class \('k'\)", needs=TAB),
    Case("mixup-any", "empty CSV", _compare("data.csv", "--target", "y", csv=""), "exit 2", "cannot read data.csv",
         needs=TAB),
    Case("mixup-any", "header only", _compare("data.csv", "--target", "y", csv="a,y\n"), "exit 2", "no rows",
         needs=TAB),
    Case("mixup-any", "target all missing", _compare("data.csv", "--target", "y", csv="a,y\n1,\n2,\n"), "exit 2",
         "every value of the target column 'y' is missing", needs=TAB),
    Case("mixup-any", "rarest class < --folds", _compare("data.csv", "--target", "y", csv="a,y\n" + "".join(
         f"{i % 5},{'b' if i == 0 else 'a'}\n" for i in range(12))), "exit 2", "rarest class has 1 row, fewer", needs=TAB),
]


def _double_attach(ctx):
    model = _mlp(ctx)
    with attach(MixUp(), model, at="1"):
        attach(MixUp(), model, at="0")


def _twice(ctx):
    model = ctx.track(_Twice())
    with attach(MixUp(alpha=1.0, seed=0), model, at="block") as h:
        h.arm(y4)
        model(_x())


def _int_site(ctx):
    model = ctx.track(_IntOut())
    with attach(MixUp(alpha=1.0, seed=0), model, at="pick") as h:
        h.arm(y4)
        model(_x())


def run_case(case: Case, tmp: Path) -> tuple[str, str, list[str]]:
    """Run ``case``; returns (error class name or ``"no error"``, first message line, modules left hooked)."""
    ctx = Context(tmp)
    try:
        case.run(ctx)
    except CliExit as err:
        kind, msg = str(err).split(": ", 1)
        return kind, _clean(msg, tmp), ctx.leftover_hooks()
    except Exception as err:  # noqa: BLE001 - the point is to see what escapes
        return type(err).__name__, _clean(str(err), tmp), ctx.leftover_hooks()
    return "no error", "", ctx.leftover_hooks()


def _clean(msg: str, tmp: Path) -> str:
    first = msg.strip().splitlines()[0] if msg.strip() else ""
    return first.replace(str(tmp), "<tmp>")

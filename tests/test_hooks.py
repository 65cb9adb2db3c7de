"""Hook sites: resolution, one draw per forward, outputs of every shape, removal, frozen parts, errors."""

from __future__ import annotations

import collections
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mixup_any import HookSiteError, MixHandle, MixParams, MixUp, attach, list_sites, mixed_loss
from mixup_any.exceptions import MixupError


class Net(nn.Module):
    """input -> block1 -> block2 -> head; names mirror a small CNN."""

    def __init__(self, d: int = 6, c: int = 3) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Linear(d, 8), nn.Tanh())
        self.block2 = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.head = nn.Linear(8, c)

    def forward(self, x):
        return self.head(self.block2(self.block1(x)))


def ref_mix(h: torch.Tensor, p: MixParams) -> torch.Tensor:
    """Independent reference: lam * h + (1 - lam) * h[index], written out."""
    lam = p.lam_rows().to(h.dtype).view(-1, *([1] * (h.ndim - 1)))
    return lam * h + (1 - lam) * h[p.index]


def reference_forward(net: Net, x: torch.Tensor, site: str, p: MixParams) -> torch.Tensor:
    h = ref_mix(x, p) if site == "input" else x
    h = net.block1(h)
    h = ref_mix(h, p) if site == "block1" else h
    h = net.block2(h)
    h = ref_mix(h, p) if site == "block2" else h
    return net.head(h)


def data(b: int = 8, d: int = 6, dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g).to(dtype), torch.randint(0, 3, (b,), generator=g)


def mixer(seed: int = 0, **kw) -> MixUp:
    return MixUp(alpha=kw.pop("alpha", 2.0), num_classes=3, seed=seed, **kw)


# ------------------------------------------------------------------ manifold mixup is right


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("site", ["input", "block1", "block2"])
def test_single_site_matches_reference(site, dtype):
    torch.manual_seed(0)
    net = Net().to(dtype)
    x, y = data(dtype=dtype)
    with attach(mixer(seed=1), net, at=site) as h:
        h.arm(y)
        out = net(x)
        target = h.target(y)
    p = h.params
    assert p.site == site and p.mixed
    # the same seed draws the same plan from the site's own shape
    width = 6 if site == "input" else 8
    p_ref = mixer(seed=1).sample((8, width), labels=y)
    torch.testing.assert_close(p.lam_rows(), p_ref.lam_rows())
    assert torch.equal(p.index, p_ref.index)
    tol = dict(atol=2e-2, rtol=2e-2) if dtype == torch.bfloat16 else {}
    torch.testing.assert_close(out, reference_forward(net, x, site, p), **tol)
    assert torch.equal(target.y_b, y[p.index]) and torch.equal(target.lam_rows(), p.lam_rows())


def test_manifold_mixup_draws_one_site_per_forward_from_the_generator():
    net = Net()
    x, y = data()
    sites = ["input", "block1", "block2"]
    seen = []
    with attach(mixer(seed=3), net, at=sites) as h:
        for _ in range(60):
            h.arm(y)
            out = net(x)
            h.target(y)
            seen.append(h.params.site)
            torch.testing.assert_close(out, reference_forward(net, x, h.params.site, h.params))
    assert set(seen) == set(sites)
    # same seed, same sequence of sites (all randomness from the mixer's generator)
    again = []
    with attach(mixer(seed=3), net, at=sites) as h:
        for _ in range(60):
            h.arm(y)
            net(x)
            h.target(y)
            again.append(h.params.site)
    assert seen == again


def test_site_weights():
    net = Net()
    x, y = data()
    counts = collections.Counter()
    with attach(mixer(seed=0), net, at=["input", "block1", "block2"], weights={"block1": 0.0, "input": 1,
                                                                                "block2": 3}) as h:
        for _ in range(400):
            h.arm(y)
            net(x)
            h.target(y)
            counts[h.params.site] += 1
    assert counts["block1"] == 0
    assert 0.15 < counts["input"] / 400 < 0.35  # expected 0.25; 400 draws give sd ≈ 0.022


def test_choose_all_mixes_every_site_with_one_draw():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(5, 4)

        def forward(self, u, v):
            return self.a(u) + self.b(v)

    m = Two()
    u, v, y = torch.randn(6, 3), torch.randn(6, 5), torch.randint(0, 3, (6,))
    with attach(mixer(seed=2), m, at=["a", "b"], choose="all") as h:
        h.arm(y)
        out = m(u, v)
        h.target(y)
    p = h.params
    torch.testing.assert_close(out, ref_mix(m.a(u), p) + ref_mix(m.b(v), p))
    assert h.calls == {"a": 1, "b": 1}


def test_pre_drawn_params_are_used_and_replayed():
    net = Net()
    x, y = data()
    p = MixParams(lam=torch.linspace(0.2, 0.9, 8), index=torch.randperm(8, generator=torch.Generator().manual_seed(4)),
                  site="block2")
    with attach(mixer(), net, at=["block1", "block2"]) as h:
        h.arm(y, params=p)
        out = net(x)
        t = h.target(y)
    assert h.params.site == "block2"
    torch.testing.assert_close(out, reference_forward(net, x, "block2", p))
    assert torch.equal(t.y_b, y[p.index])


def test_first_site_draws_from_its_own_shape():
    shapes = []

    class Recording(MixUp):
        def sample(self, shape, **kw):
            shapes.append(tuple(shape))
            return super().sample(shape, **kw)

    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    with attach(Recording(alpha=1.0, seed=0), net, at=["0", "2"], choose="all") as h:
        h.arm(torch.zeros(5, dtype=torch.long))
        net(torch.randn(5, 1, 6, 6))
        h.target(torch.zeros(5, dtype=torch.long))
    assert shapes == [(5, 4, 4, 4)]  # one draw, from the first site that ran


# ------------------------------------------------------------------ site resolution


def test_site_specs_resolve():
    net = Net()
    cases = {
        "block1": ["block1"],
        "block*.0": ["block1.0", "block2.0"],
        r"re:^block\d\.1$": ["block1.1", "block2.1"],
        nn.Tanh: ["block1.1", "block2.1"],
    }
    for spec, names in cases.items():
        with attach(mixer(), net, at=spec) as h:
            assert h.sites == names
    with attach(mixer(), net, at=[net.head, "input", "block1", net.block1]) as h:
        assert h.sites == ["head", "input", "block1"]


def test_input_embeddings_site():
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.out = nn.Linear(4, 2)

        def get_input_embeddings(self):
            return self.emb

        def forward(self, ids):
            return self.out(self.emb(ids).mean(1))

    m = LM()
    with attach(mixer(), m, at="input_embeddings") as h:
        assert h.sites == ["emb"]
        h.arm(torch.zeros(4, dtype=torch.long))
        m(torch.randint(0, 10, (4, 5)))
        h.target(torch.zeros(4, dtype=torch.long))
    assert h.params.site == "emb"


def test_unknown_sites_list_close_names():
    net = Net()
    with pytest.raises(HookSiteError, match=r"No module named 'blok1'.*close names: 'block1'"):
        attach(mixer(), net, at="blok1")
    with pytest.raises(HookSiteError, match=r"glob 'layer\*'.*list_sites"):
        attach(mixer(), net, at="layer*")
    with pytest.raises(HookSiteError, match=r"regex 'blocks.*close names:.*'block1'"):
        attach(mixer(), net, at=r"re:blocks\d")
    with pytest.raises(HookSiteError, match=r"is a Conv2d; its module types are \['Linear', 'Net'|is a Conv2d"):
        attach(mixer(), net, at=nn.Conv2d)
    with pytest.raises(HookSiteError, match="not part of Net"):
        attach(mixer(), net, at=nn.Linear(2, 2))
    with pytest.raises(HookSiteError, match="at= is the model itself"):
        attach(mixer(), net, at=net)
    with pytest.raises(HookSiteError, match="must be a module name"):
        attach(mixer(), net, at=3)
    with pytest.raises(HookSiteError, match="at= is empty"):
        attach(mixer(), net, at=[])
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())


def test_bad_arguments():
    net = Net()
    with pytest.raises(MixupError, match="choose must be one of"):
        attach(mixer(), net, at="block1", choose="some")
    with pytest.raises(MixupError, match=r"weights has 1 entries but at= resolved to 2 sites"):
        attach(mixer(), net, at=["block1", "block2"], weights=[1.0])
    with pytest.raises(MixupError, match="not all 0"):
        attach(mixer(), net, at=["block1", "block2"], weights=[0, 0])
    with pytest.raises(MixupError, match="only applies to choose='one'"):
        attach(mixer(), net, at=["block1", "block2"], choose="all", weights=[1, 1])
    with pytest.raises(MixupError, match="needs a Mixer"):
        attach(object(), net, at="block1")
    with pytest.raises(MixupError, match="repeat must be one of"):
        attach(mixer(), net, at="block1", repeat="twice")


def test_attaching_twice_is_an_error():
    net = Net()
    with attach(mixer(), net, at="block1"):
        with pytest.raises(HookSiteError, match="already hooked by a live handle"):
            attach(mixer(), net, at="block2")
        with pytest.raises(HookSiteError, match="already hooked"):
            attach(mixer(), net.block1, at="0")  # overlaps: block1 is a live site
    with attach(mixer(), net, at="block2"):  # fine once the first is removed
        pass


# ------------------------------------------------------------------ outputs of every shape


Out = collections.namedtuple("Out", "ids hidden")


@dataclasses.dataclass
class Fields:
    ids: torch.Tensor
    hidden: torch.Tensor


class Wrap(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind, self.lin = kind, nn.Linear(4, 4)

    def forward(self, x):
        h = self.lin(x)
        extra = torch.arange(x.shape[0])
        if self.kind == "tuple":
            return (h, extra)
        if self.kind == "list":
            return [extra, h]
        if self.kind == "dict":
            return {"ids": extra, "hidden": h, "other": h * 2}
        if self.kind == "namedtuple":
            return Out(extra, h)
        if self.kind == "dataclass":
            return Fields(extra, h)
        if self.kind == "structseq":
            return torch.max(h.unsqueeze(-1).expand(-1, -1, 2), dim=-1)
        return h


class Outer(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.site = Wrap(kind)

    def forward(self, x):
        return self.site(x)


@pytest.mark.parametrize(
    "kind,output,pick",
    [
        ("tensor", None, lambda o: o),
        ("tuple", None, lambda o: o[0]),
        ("tuple", 0, lambda o: o[0]),
        ("list", 1, lambda o: o[1]),
        ("list", -1, lambda o: o[1]),
        ("dict", "hidden", lambda o: o["hidden"]),
        ("dict", 2, lambda o: o["other"]),
        ("namedtuple", "hidden", lambda o: o.hidden),
        ("dataclass", "hidden", lambda o: o.hidden),
        ("dataclass", 1, lambda o: o.hidden),
        ("structseq", "values", lambda o: o.values),
    ],
)
def test_outputs_pick_one_tensor_and_pass_the_rest(kind, output, pick):
    m = Outer(kind)
    x = torch.randn(6, 4)
    clean = m(x)
    p = MixParams(lam=torch.full((6,), 0.3), index=torch.roll(torch.arange(6), 1))
    with attach(mixer(), m, at="site", output=output) as h:
        h.arm(torch.zeros(6, dtype=torch.long), params=p)
        out = m(x)
        h.target(torch.zeros(6, dtype=torch.long))
    assert type(out) is type(clean)
    torch.testing.assert_close(pick(out), ref_mix(pick(clean), p))
    def flat(o):
        if dataclasses.is_dataclass(o):
            return [o.ids, o.hidden]
        return list(o.values()) if isinstance(o, dict) else (list(o) if isinstance(o, (tuple, list)) else [o])

    changed = [not torch.equal(a, b) for a, b in zip(flat(out), flat(clean), strict=True)]
    assert sum(changed) == 1  # the other elements pass through untouched


def test_dict_default_is_first_tensor_field():
    m = Outer("dict")
    x = torch.randn(4, 4)
    with attach(mixer(), m, at="site") as h:
        h.arm(torch.zeros(4, dtype=torch.long))
        with pytest.raises(HookSiteError, match=r"int64 tensor.*cannot be interpolated"):
            m(x)  # the first tensor field is the integer "ids"


def test_transformers_model_output():
    modeling_outputs = pytest.importorskip("transformers.modeling_outputs")

    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            h = self.lin(x)
            return modeling_outputs.BaseModelOutputWithPooling(last_hidden_state=h, pooler_output=h.mean(1))

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = Enc()

        def forward(self, x):
            return self.enc(x)

    m, x = M(), torch.randn(3, 5, 4)
    clean = m(x)
    p = MixParams(lam=torch.tensor([0.5, 1.0, 0.25]), index=torch.tensor([2, 0, 1]))
    for output, field in [(None, "last_hidden_state"), ("pooler_output", "pooler_output")]:
        with attach(mixer(), m, at="enc", output=output) as h:
            h.arm(torch.zeros(3, dtype=torch.long), params=p)
            out = m(x)
            h.target(torch.zeros(3, dtype=torch.long))
        assert type(out) is type(clean)
        torch.testing.assert_close(getattr(out, field), ref_mix(getattr(clean, field), p))
        torch.testing.assert_close(out[field], ref_mix(clean[field], p))
        other = "pooler_output" if field == "last_hidden_state" else "last_hidden_state"
        assert torch.equal(getattr(out, other), getattr(clean, other))


def test_outputs_that_cannot_be_mixed():
    class Obj(nn.Module):
        def forward(self, x):
            return object()

    class Seq(nn.Module):  # time-major output: (T, B, H)
        def forward(self, x):
            return x.transpose(0, 1)

    class M(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            self.inner(x)
            return x

    x = torch.randn(4, 3, 2)
    with attach(mixer(), M(Obj()), at="inner") as h:
        h.arm(torch.zeros(4, dtype=torch.long))
        with pytest.raises(HookSiteError, match=r"Site 'inner' \(Obj\) returned a object, which cannot be mixed"):
            h.model(x)
    with attach(mixer(), M(Seq()), at="inner") as h:
        h.arm(torch.zeros(4, dtype=torch.long))
        with pytest.raises(HookSiteError, match=r"Site 'inner' \(Seq\) output has shape \(3, 4, 2\).*dim 0"):
            h.model(x)
    with attach(mixer(), Outer("dict"), at="site", output="nope") as h:
        h.arm(torch.zeros(4, dtype=torch.long))
        with pytest.raises(HookSiteError, match=r"'nope' is not a field.*\['ids', 'hidden', 'other'\]"):
            h.model(torch.randn(4, 4))
    with attach(mixer(), Outer("tensor"), at="site", output=1) as h:
        h.arm(torch.zeros(4, dtype=torch.long))
        with pytest.raises(HookSiteError, match="returns a plain tensor; use output=None"):
            h.model(torch.randn(4, 4))


def test_later_site_with_another_batch_size():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Identity(), nn.Identity()

        def forward(self, x):
            return self.b(self.a(x).reshape(x.shape[0] // 2, -1))

    with attach(mixer(), M(), at=["a", "b"], choose="all") as h:
        h.arm(torch.zeros(4, dtype=torch.long))
        with pytest.raises(HookSiteError, match=r"Site 'b' \(Identity\) output has shape \(2, 6\), but the batch has 4"):
            h.model(torch.randn(4, 3))


# ------------------------------------------------------------------ arming, eval, removal


def test_disarmed_forward_is_untouched_and_arm_covers_one_forward():
    net = Net()
    x, y = data()
    clean = net(x)
    with attach(mixer(), net, at=["input", "block1"]) as h:
        assert torch.equal(net(x), clean)  # never armed
        h.arm(y)
        assert not torch.equal(net(x), clean)
        assert not h.armed
        assert torch.equal(net(x), clean)  # the next forward is not mixed again
        h.target(y)


def test_eval_mode_and_inactive_mixer_give_identity():
    net = Net()
    x, y = data()
    clean = net(x)
    with attach(mixer(), net, at=["block1", "block2"]) as h:
        net.eval()
        with pytest.warns(UserWarning, match="eval mode"):
            h.arm(y)
        assert torch.equal(net(x), clean)
        t = h.target(y)
        assert not t.mixed and not h.params.mixed and h.params.site == "block1"
        net.train()
        h.mixer.enabled = False
        h.arm(y)
        assert torch.equal(net(x), clean)
        assert not h.target(y).mixed
        h.mixer.enabled = True
        h.mixer.lam = 1.0  # lam = 1 mixes with weight 0 on the partner: bit-exact identity
        h.arm(y)
        assert torch.equal(net(x), clean)
        h.target(y)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_forward_does_not_leave_the_handle_armed(interrupt):
    net = Net()
    x, y = data()
    clean = net(x)

    def stop(module, args, output):
        raise interrupt

    with attach(mixer(), net, at="block1") as h:
        h.arm(y)
        stopper = net.block2.register_forward_hook(stop)
        with pytest.raises(interrupt):
            net(x)
        stopper.remove()
        assert torch.equal(net(x), clean)  # neither mixed nor "block1 ran 2 times"
        assert not h.armed
        h.arm(y)  # the next arm mixes as usual
        assert not torch.equal(net(x), clean)
        h.target(y)


def test_given_plan_is_not_applied_in_eval_mode():
    net = Net()
    x, y = data()
    clean = net(x)
    plan = MixParams(lam=torch.full((x.shape[0],), 0.5), index=torch.arange(x.shape[0]).flip(0))
    with attach(mixer(), net, at="block1") as h:
        net.eval()
        with pytest.warns(UserWarning, match="eval mode"):
            h.arm(y, params=plan)
        assert torch.equal(net(x), clean)
        assert not h.target(y).mixed and not h.params.mixed


def test_target_errors():
    net = Net()
    x, y = data()
    with attach(mixer(), net, at="block1") as h:
        with pytest.raises(HookSiteError, match=r"call mix.arm\(y\) before each forward"):
            h.target(y)
        h.arm(y)
        net(x)
        h.target(y)
        with pytest.raises(HookSiteError, match="can be taken once"):
            h.target(y)


def test_no_site_ran_is_an_error_naming_the_sites():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.left, self.right = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x, go_left=True):
            return self.left(x) if go_left else self.right(x)

    m = Branchy()
    x = torch.randn(4, 3)
    with attach(mixer(), m, at="right") as h:
        h.arm(torch.zeros(4, dtype=torch.long))
        m(x)
        with pytest.raises(HookSiteError, match=r"No selected hook site ran.*selected \['right'\].*sites that ran: none"):
            h.target(torch.zeros(4, dtype=torch.long))
    with attach(mixer(seed=0), m, at=["left", "right"]) as h:
        for _ in range(20):  # whichever site is drawn, a skipped one must raise
            h.arm(torch.zeros(4, dtype=torch.long))
            m(x)
            if h.params is not None:
                h.target(torch.zeros(4, dtype=torch.long))
                assert h.params.site == "left"
            else:
                with pytest.raises(HookSiteError, match=r"selected \['right'\].*sites that ran: \['left'\]"):
                    h.target(torch.zeros(4, dtype=torch.long))


def test_input_site_needs_a_positional_input():
    net = Net()
    with attach(mixer(), net, at="input") as h:
        h.arm(torch.zeros(2, dtype=torch.long))
        with pytest.raises(HookSiteError, match=r"keyword arguments only \(\['x'\]\)"):
            net(x=torch.randn(2, 6))
        assert not h.armed  # disarmed although the forward raised


def test_input_site_mixes_nested_batches():
    class M(nn.Module):
        def forward(self, batch, scale=1.0):
            return batch["a"] * scale + batch["b"].sum(-1, keepdim=True)

    m = M()
    batch = {"a": torch.randn(5, 1), "b": torch.randn(5, 3)}
    p = MixParams(lam=torch.full((5,), 0.6), index=torch.tensor([4, 3, 2, 1, 0]))
    with attach(mixer(), m, at="input") as h:
        h.arm(torch.zeros(5, dtype=torch.long), params=p)
        out = m(batch, scale=2.0)
        h.target(torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(out, ref_mix(batch["a"], p) * 2 + ref_mix(batch["b"], p).sum(-1, keepdim=True))


def test_hooks_removed_and_outputs_bit_identical():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3))
    x = torch.randn(4, 3, 8, 8)
    before = net(x)
    hooks_before = [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in net.modules()]
    with pytest.raises(RuntimeError, match="boom"):
        with attach(mixer(), net, at=["input", "0", "1"]) as h:
            h.arm(torch.zeros(4, dtype=torch.long))
            net(x)
            h.target(torch.zeros(4, dtype=torch.long))
            raise RuntimeError("boom")
    assert h.removed
    assert [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in net.modules()] == hooks_before
    assert torch.equal(net(x), before)
    with pytest.raises(HookSiteError, match="was removed"):
        h.arm(torch.zeros(4, dtype=torch.long))
    h.remove()  # idempotent


def test_hooks_removed_when_forward_raises():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            self.lin(x)
            raise ValueError("inside forward")

    m = Boom()
    with pytest.raises(ValueError, match="inside forward"):
        with attach(mixer(), m, at="lin") as h:
            h.arm(torch.zeros(2, dtype=torch.long))
            m(torch.randn(2, 3))
    assert not h.armed and h.removed
    assert not any(mod._forward_hooks or mod._forward_pre_hooks for mod in m.modules())


# ------------------------------------------------------------------ a module that runs twice


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.block(torch.tanh(self.block(x))))


def test_reused_module_rules():
    m = Shared()
    x = torch.randn(5, 4)
    p = MixParams(lam=torch.full((5,), 0.3), index=torch.tensor([1, 2, 3, 4, 0]))
    with attach(mixer(), m, at="block") as h:
        h.arm(torch.zeros(5, dtype=torch.long), params=p)
        with pytest.raises(HookSiteError, match=r"Site 'block' \(Linear\) ran 2 times.*repeat='first'"):
            m(x)
    for repeat in ("first", "all"):
        with attach(mixer(), m, at="block", repeat=repeat) as h:
            h.arm(torch.zeros(5, dtype=torch.long), params=p)
            out = m(x)
            h.target(torch.zeros(5, dtype=torch.long))
            assert h.calls == {"block": 2}
        h1 = ref_mix(m.block(x), p)
        h2 = m.block(torch.tanh(h1))
        expected = m.head(ref_mix(h2, p) if repeat == "all" else h2)
        torch.testing.assert_close(out, expected)


# ------------------------------------------------------------------ frozen parts and gradients


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 3))

    def forward(self, x):
        with torch.no_grad():
            f = self.backbone(x)
        return self.head(f)


def test_frozen_backbone_still_mixes_and_only_head_learns():
    torch.manual_seed(0)
    m = Frozen()
    m.backbone.requires_grad_(False)
    m.train()
    m.backbone.eval()
    stats = {k: v.clone() for k, v in m.backbone.state_dict().items()}
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 3, (6,))
    with attach(mixer(seed=0), m, at="backbone.5") as h:
        h.arm(y)
        out = m(x)
        loss = mixed_loss(F.cross_entropy, out, h.target(y))
    loss.backward()
    assert h.params.mixed
    with torch.no_grad():
        expected = m.head(ref_mix(m.backbone(x), h.params))
    torch.testing.assert_close(out, expected)
    assert all(p.grad is None for p in m.backbone.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.head.parameters())
    assert all(torch.equal(v, stats[k]) for k, v in m.backbone.state_dict().items())


def test_gradcheck_through_a_hidden_site():
    torch.manual_seed(0)
    net = Net().double()
    p = MixParams(lam=torch.tensor([0.3, 0.8, 1.0], dtype=torch.float64), index=torch.tensor([2, 0, 1]))
    with attach(mixer(), net, at="block1") as h:

        def f(x):
            h.arm(torch.zeros(3, dtype=torch.long), params=p)
            out = net(x)
            h.target(torch.zeros(3, dtype=torch.long))
            return out

        assert torch.autograd.gradcheck(f, (torch.randn(3, 6, dtype=torch.float64, requires_grad=True),))


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 9), site=st.sampled_from(["input", "block1", "block2"]), seed=st.integers(0, 2**16))
def test_property_identity_plans_and_self_pairing(b, site, seed):
    net = Net()
    x, y = data(b=b, seed=seed)
    clean = net(x)
    with attach(mixer(seed=seed), net, at=site) as h:
        h.arm(y)
        mixed_out = net(x)
        h.target(y)
        p = h.params
        torch.testing.assert_close(mixed_out, reference_forward(net, x, site, p))
        # the same lam with every row paired with itself is bit-exact identity
        h.arm(y, params=dataclasses.replace(p, index=torch.arange(b)))
        assert torch.equal(net(x), clean)
        h.target(y)


# ------------------------------------------------------------------ list_sites


def test_list_sites_reports_shapes_and_restores_flags():
    m = Frozen()
    m.train()
    m.backbone.eval()
    flags = [mod.training for mod in m.modules()]
    sites = list_sites(m, torch.randn(2, 1, 8, 8))
    assert [mod.training for mod in m.modules()] == flags
    assert sites.names[:3] == ["input", "backbone", "backbone.0"] or "backbone.0" in sites.names
    d = {s.name: s for s in sites}
    assert d["backbone.3"].shape == (2, 4, 4, 4) and d["backbone.3"].type == "Conv2d"
    assert d["head.1"].shape == (2, 3)
    text = str(sites)
    assert "backbone.5" in text and "(2, 4, 4, 4)" in text and text.splitlines()[0].split()[:2] == ["site", "type"]
    assert all(p.grad is None for p in m.parameters())
    # names listed are valid sites
    with attach(mixer(), m, at=[s.name for s in sites][:4]):
        pass


def test_list_sites_notes():
    m = Shared()
    sites = list_sites(m, torch.randn(3, 4))
    assert "runs 2x" in sites.notes["block"]
    assert "runs 2x" in str(sites)
    emb = nn.Sequential(nn.Embedding(5, 2))
    assert "cannot be interpolated" not in str(list_sites(emb, torch.tensor([[1, 2]])))
    assert "int64: cannot be interpolated" in str(list_sites(nn.Sequential(nn.Identity()), torch.tensor([[1]])))


def test_public_names():
    import mixup_any

    assert mixup_any.attach is attach and mixup_any.MixHandle is MixHandle and mixup_any.list_sites is list_sites


def test_cutmix_on_a_feature_map_gets_a_box_that_fits_it():
    from mixup_any import CutMix

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x, y = torch.randn(6, 1, 16, 16), torch.randint(0, 3, (6,))
    cut = CutMix(alpha=1.0, num_classes=3, seed=0)
    with attach(cut, net, at="1") as h:
        h.arm(y)
        out = net(x)
        h.target(y)
    p = h.params
    box = torch.as_tensor(p.extra.bounds)
    assert box.min() >= 0 and box.max() <= 4  # boxes drawn for the 4x4 feature map, not the 16x16 input
    with torch.no_grad():
        feat = net[1](net[0](x))
        torch.testing.assert_close(out, net[3](net[2](cut.mix(feat, p))))


def test_activations_are_never_changed_in_place():
    net = Net()
    x, y = data()
    seen = {}
    net.block1.register_forward_hook(lambda m, a, out: seen.setdefault("raw", out))  # runs before ours
    clean = net.block1(x).detach().clone()
    seen.clear()
    with attach(mixer(), net, at="block1") as h:
        h.arm(y)
        net(x)
        h.target(y)
    assert h.params.mixed and torch.equal(seen["raw"], clean)  # the module's own output is untouched
    assert torch.equal(x, data()[0])  # and so is the caller's input

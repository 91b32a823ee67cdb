r"""The verification cases: every public loss, its inputs and its gradient written from the math.

Each :class:`Case` differentiates its *first* argument. The analytic gradients are written
independently of the kit's implementation (plain ``jax.nn`` formulas):

* softmax cross-entropy, logits ``z``, soft-cap ``x = c·tanh(z/c)``, smoothed labels
  :math:`\tilde t`, z-loss ζ:
  :math:`\partial\ell/\partial z = \big((\textstyle\sum\tilde t + 2\zeta\,\mathrm{lse}(x))
  \,\mathrm{softmax}(x) - \tilde t\big)\odot(1-\tanh^2(z/c))`, 0 on masked classes
  (:math:`\sum\tilde t = 1` for normalised labels: the identity of the design contract);
* w.r.t. soft labels: :math:`-(1-\alpha)\log\mathrm{softmax}(x)` on valid classes;
* Hessian w.r.t. logits (plain): :math:`(\sum t)(\mathrm{diag}(y) - y y^\top)`;
* sigmoid BCE: :math:`\sigma(x)(1-\tilde t+w\tilde t) - w\tilde t`; BCE on probabilities:
  :math:`-t/y + (1-t)/(1-y)`, w.r.t. labels :math:`-\log y + \log(1-y)`;
* :math:`H(p,q)`: :math:`-\log q` (w.r.t. p), :math:`-p/q` (w.r.t. q); entropy
  :math:`-\log p - 1`; KL: :math:`\log p + 1 - \log q` and :math:`-p/q`.

Every case is rank-polymorphic (the same ``fn`` works on one example), so ``vmap`` over the
batch axis applies directly. ``extremes`` are inputs where values and gradients must stay
finite (logits ±1e4, −inf masks, probabilities 0 and 1, label smoothing 0 and 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import crossent_jax as cj

B, K = 3, 5  # small on purpose: every check is exact per entry, compile time dominates


@dataclasses.dataclass(frozen=True)
class Extreme:
    """An extreme input: ``fn(*args)`` and its gradient must be finite; where ``analytic``
    is finite the gradient must also match it."""

    label: str
    fn: Callable
    args: tuple
    analytic: Callable


@dataclasses.dataclass(frozen=True)
class Case:
    """One public loss (one configuration), differentiated w.r.t. its first argument."""

    loss: str  # the public name, e.g. "softmax_cross_entropy"
    variant: str  # what is differentiated / which options, e.g. "logits, z_loss"
    fn: Callable
    args: tuple  # float64 / int / bool numpy arrays, batch axis first
    analytic: Callable  # gradient of sum(fn) w.r.t. args[0]
    hessian: Callable | None = None  # closed-form Hessian of sum(fn(row)) for one row
    extremes: tuple[Extreme, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.loss}[{self.variant}]"


# ----------------------------------------------------------------------------- analytic
def _softmax_grad(z, t, *, alpha=0.0, zeta=0.0, cap=None, mask=None):
    x = z if cap is None else cap * jnp.tanh(z / cap)
    valid = jnp.isfinite(z) if mask is None else mask & jnp.isfinite(z)
    x = jnp.where(valid, x, -jnp.inf)
    k_valid = jnp.sum(valid, axis=-1, keepdims=True)
    tt = (1 - alpha) * t + jnp.where(valid, alpha / k_valid, 0.0)
    y = jax.nn.softmax(x, axis=-1)
    lse = jax.nn.logsumexp(x, axis=-1, keepdims=True)
    g = (jnp.sum(tt, axis=-1, keepdims=True) + 2 * zeta * lse) * y - tt
    if cap is not None:
        g = g * (1 - jnp.tanh(z / cap) ** 2)
    return jnp.where(valid, g, 0.0)


def _softmax_hessian(z, t):
    y = jax.nn.softmax(z)
    return jnp.sum(t) * (jnp.diag(y) - jnp.outer(y, y))


def _onehot(labels, dtype=jnp.float64):
    return jax.nn.one_hot(labels, K, dtype=dtype)


# ------------------------------------------------------------------------------- inputs
def _inputs(seed: int):
    rng = np.random.default_rng(seed)
    z = 2.0 * rng.standard_normal((B, K))
    t = rng.dirichlet(np.ones(K), size=B)
    p = rng.dirichlet(3 * np.ones(K), size=B)
    q = rng.dirichlet(3 * np.ones(K), size=B)
    y = rng.uniform(0.1, 0.9, (B, K))
    tb = rng.uniform(0.0, 1.0, (B, K))
    labels = rng.integers(0, K, size=B)
    mask = np.ones((B, K), bool)
    mask[0, K - 1] = mask[1, 0] = False
    t_masked = np.where(mask, t, 0.0)
    t_masked /= t_masked.sum(-1, keepdims=True)
    return z, t, p, q, y, tb, labels, mask, t_masked


def _big_logits():
    z = np.zeros((2, K))
    z[0] = [1e4, -1e4, 0.0, 1e4, -1e4]
    z[1] = [-1e4, -1e4, -1e4, 1e4, 0.0]
    return z


def _neg_inf_logits():
    z = np.array([[0.5, -np.inf, 1.0, -np.inf, 0.0], [-np.inf, 2.0, -1.0, 0.0, 0.5]])
    return z


def cases(seed: int = 0) -> list[Case]:
    """All verification cases, inputs drawn from ``seed`` (float64 numpy arrays)."""
    z, t, p, q, y, tb, labels, mask, t_masked = _inputs(seed)
    ce, ice = cj.softmax_cross_entropy, cj.softmax_cross_entropy_with_integer_labels
    sce, bce = cj.sigmoid_binary_cross_entropy, cj.binary_cross_entropy
    opts = dict(label_smoothing=0.1, z_loss=0.02, logit_softcap=4.0)
    zi = _neg_inf_logits()
    ti = np.array([[0.3, 0.0, 0.5, 0.0, 0.2], [0.0, 0.6, 0.1, 0.1, 0.2]])
    zb = _big_logits()
    tbig = np.array([[0.5, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0]])
    lbig = np.array([0, 3])
    p01 = np.array([[0.0, 1.0, 0.0, 0.0, 0.0], [0.25, 0.0, 0.25, 0.5, 0.0]])
    y01 = np.array([[0.0, 1.0, 0.0, 1.0, 0.5]])
    t01 = np.array([[0.0, 1.0, 0.0, 1.0, 1.0]])

    def soft_extremes(**kw):
        out = [
            Extreme("logits ±1e4", lambda z, t: ce(z, t, **kw), (zb, tbig),
                    lambda z, t: _softmax_grad(z, t, **_ana(kw))),
        ]
        for a in (0.0, 1.0):  # −inf logits, with both ends of the smoothing range
            kw2 = {**kw, "label_smoothing": a}
            out.append(Extreme(f"-inf logits, label_smoothing={a:g}",
                               lambda z, t, kw2=kw2: ce(z, t, **kw2),
                               (zi, ti), lambda z, t, kw2=kw2: _softmax_grad(z, t, **_ana(kw2))))
        return tuple(out)

    def int_extremes(**kw):
        li = np.array([0, 1])
        out = [
            Extreme("logits ±1e4", lambda z, lab: ice(z, lab, **kw), (zb, lbig),
                    lambda z, lab: _softmax_grad(z, _onehot(lab), **_ana(kw))),
        ]
        for a in (0.0, 1.0):  # −inf logits, with both ends of the smoothing range
            kw2 = {**kw, "label_smoothing": a}
            out.append(Extreme(
                f"-inf logits, label_smoothing={a:g}", lambda z, lab, kw2=kw2: ice(z, lab, **kw2),
                (zi, li),
                lambda z, lab, kw2=kw2: _softmax_grad(z, _onehot(lab), **_ana(kw2))))
        return tuple(out)

    sig = jax.nn.sigmoid
    pw = np.linspace(0.5, 2.0, K)
    return [
        Case("softmax_cross_entropy", "logits", ce, (z, t),
             lambda z, t: _softmax_grad(z, t), hessian=_softmax_hessian,
             extremes=soft_extremes()),
        Case("softmax_cross_entropy", "logits, smoothing+z_loss+softcap+class mask",
             lambda z, t, m: ce(z, t, where=m, **opts), (z, t_masked, mask),
             lambda z, t, m: _softmax_grad(z, t, mask=m, **_ana(opts)),
             extremes=soft_extremes(**opts)),
        Case("softmax_cross_entropy", "labels, smoothing",
             lambda t, z: ce(z, t, label_smoothing=0.1), (t, z),
             lambda t, z: -0.9 * jax.nn.log_softmax(z)),
        Case("softmax_cross_entropy_with_integer_labels", "logits", ice, (z, labels),
             lambda z, lab: _softmax_grad(z, _onehot(lab)),
             hessian=lambda z, lab: _softmax_hessian(z, _onehot(lab)),
             extremes=int_extremes()),
        Case("softmax_cross_entropy_with_integer_labels", "logits, smoothing+z_loss+softcap",
             lambda z, lab: ice(z, lab, **opts), (z, labels),
             lambda z, lab: _softmax_grad(z, _onehot(lab), **_ana(opts)),
             extremes=int_extremes(**opts)),
        Case("sigmoid_binary_cross_entropy", "logits", sce, (z, tb),
             lambda x, t: sig(x) - t,
             hessian=lambda x, t: jnp.diag(sig(x) * (1 - sig(x))),
             extremes=(
                 Extreme("logits ±1e4", sce, (zb, t01[[0, 0]]), lambda x, t: sig(x) - t),
                 Extreme("label_smoothing=1", lambda x, t: sce(x, t, label_smoothing=1.0),
                         (zb, t01[[0, 0]]), lambda x, t: sig(x) - 0.5),
             )),
        Case("sigmoid_binary_cross_entropy", "logits, smoothing+pos_weight",
             lambda x, t: sce(x, t, label_smoothing=0.1, pos_weight=pw), (z, tb),
             lambda x, t: _sbce_grad(x, 0.9 * t + 0.05, pw)),
        Case("binary_cross_entropy", "probs", bce, (y, tb),
             lambda y, t: -t / y + (1 - t) / (1 - y),
             extremes=(
                 Extreme("probs 0 and 1", bce, (y01, y01), _bce_grad_safe),
             )),
        Case("binary_cross_entropy", "labels", lambda t, y: bce(y, t), (tb, y),
             lambda t, y: -jnp.log(y) + jnp.log1p(-y),
             extremes=(
                 Extreme("labels 0 and 1", lambda t, y: bce(y, t), (t01, np.full((1, K), 0.3)),
                         lambda t, y: -jnp.log(y) + jnp.log1p(-y)),
             )),
        Case("cross_entropy", "p", lambda p, q: cj.cross_entropy(p, q), (p, q),
             lambda p, q: -jnp.log(q),
             extremes=(Extreme("p 0 and 1", lambda p, q: cj.cross_entropy(p, q), (p01, q[:2]),
                               lambda p, q: -jnp.log(q)),)),
        Case("cross_entropy", "q", lambda q, p: cj.cross_entropy(p, q), (q, p),
             lambda q, p: -p / q,
             extremes=(Extreme("p 0 and 1", lambda q, p: cj.cross_entropy(p, q), (q[:2], p01),
                               lambda q, p: -p / q),)),
        Case("entropy", "p", cj.entropy, (p,), lambda p: -jnp.log(p) - 1,
             extremes=(Extreme("p 0 and 1", cj.entropy, (p01,),
                               lambda p: jnp.where(p == 0, 0.0, -jnp.log(p) - 1)),)),
        Case("kl_divergence", "p", lambda p, q: cj.kl_divergence(p, q), (p, q),
             lambda p, q: jnp.log(p) + 1 - jnp.log(q),
             extremes=(Extreme("p 0 and 1", lambda p, q: cj.kl_divergence(p, q), (p01, q[:2]),
                               lambda p, q: jnp.where(p == 0, 0.0, jnp.log(p) + 1) - jnp.log(q)),)),
        Case("smooth_labels", "labels", lambda t: cj.smooth_labels(t, 0.2), (t,),
             lambda t: jnp.full(t.shape, 0.8)),
        Case("checked", "softmax_cross_entropy, logits", cj.checked(ce), (z, t),
             lambda z, t: _softmax_grad(z, t)),
    ]


def _ana(kw: dict) -> dict:
    return dict(alpha=kw.get("label_smoothing", 0.0), zeta=kw.get("z_loss", 0.0),
                cap=kw.get("logit_softcap"))


def _bce_grad_safe(y, t):
    """−t/y + (1−t)/(1−y), each term 0 where its label weight is 0 (y ∈ {0, 1} allowed)."""
    pos = jnp.where(t == 0, 0.0, -t / jnp.where(y == 0, 1.0, y))
    neg = jnp.where(t == 1, 0.0, (1 - t) / jnp.where(y == 1, 1.0, 1 - y))
    return pos + neg


def _sbce_grad(x, tt, w):
    s = jax.nn.sigmoid(x)
    return s * (1 - tt + w * tt) - w * tt


def loss_names() -> tuple[str, ...]:
    """The public loss names the cases cover (``crossent_jax.__all__``)."""
    return tuple(sorted({c.loss for c in cases()}))

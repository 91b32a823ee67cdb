"""Quadrature rule tables against numpy/scipy and integrals with known values."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from crossent_jax.continuous import _quadrature as quad


def test_gauss_hermite_matches_numpy_where_numpy_works():
    u, w = quad.gauss_hermite(40)
    nu, nw = np.polynomial.hermite.hermgauss(40)
    np.testing.assert_allclose(u, nu, atol=1e-12)
    # Golub–Welsch weights are accurate in absolute terms (~1e-16 of the largest weight); the
    # tiniest (1e-29) carry a relative error ~1e-5 that no integral can see
    np.testing.assert_allclose(w, nw, rtol=0, atol=1e-15)


def test_hazard_hermgauss_nan_weights_from_about_400_nodes():
    with np.errstate(all="ignore"):
        _, nw = np.polynomial.hermite.hermgauss(500)
    assert np.isnan(nw).any()  # numpy's weights overflow
    u, w = quad.gauss_hermite(500)
    assert np.all(np.isfinite(w)) and np.all(np.isfinite(u))
    assert math.isclose(w.sum(), math.sqrt(math.pi), rel_tol=1e-12)
    # ∫ e^{-u²} u² du = √π / 2
    assert math.isclose(np.sum(w * u**2), math.sqrt(math.pi) / 2, rel_tol=1e-11)


def test_gauss_legendre_and_half_line():
    tab = quad.gauss_legendre(12)
    x = np.where(tab.left, tab.d, 1 - tab.d)
    assert math.isclose(np.sum(tab.w * x**5), 1 / 6, rel_tol=1e-14)
    half = quad.legendre_half_line(64)
    # ∫₀^∞ e^{-t} dt = 1 (fine rule) and roughly by the coarse rule
    assert math.isclose(np.sum(half.w * np.exp(-half.t)), 1.0, rel_tol=1e-9)
    assert abs(np.sum(half.coarse * np.exp(-half.t)) - 1.0) < 1e-3


def test_tanh_sinh_endpoint_singularities():
    tab = quad.tanh_sinh(129)
    x = np.where(tab.left, tab.d, 1 - tab.d)
    # ∫₀¹ x^{-1/2} dx = 2 and ∫₀¹ (1−x)^{-0.9} dx = 10, the latter through the distance d
    assert math.isclose(np.sum(tab.w * x**-0.5), 2.0, rel_tol=1e-13)
    dist_hi = np.where(tab.left, 1 - tab.d, tab.d)
    assert math.isclose(np.sum(tab.w * dist_hi**-0.9), 10.0, rel_tol=1e-10)
    es = quad.exp_sinh(129)
    # algebraic tail: ∫₀^∞ dt/(1+t)^{1.5} = 2
    assert math.isclose(np.sum(es.w * (1 + es.t) ** -1.5), 2.0, rel_tol=1e-12)


def test_float32_cast_drops_underflowing_nodes():
    tab = quad._cast(quad.tanh_sinh(257), np.float32)
    assert tab.d.dtype == np.float32 and len(tab.d) < 257 and np.all(tab.w > 0)


@pytest.mark.parametrize("rule,order", [("trapezoid", 2), ("simpson", 4)])
def test_grid_rules_order(rule, order):
    errs = []
    for n in (33, 65):
        tab = quad.grid(n, rule)
        x = np.where(tab.left, tab.d, 1 - tab.d)
        errs.append(abs(np.sum(tab.w * np.exp(x)) - (math.e - 1)))
    assert math.isclose(errs[0] / errs[1], 2**order, rel_tol=0.05)


def test_gauss_laguerre_matches_scipy_and_is_differentiable():
    alpha = 1.3
    u, w = quad.gauss_laguerre(20, jnp.asarray(alpha))
    su, sw = special.roots_genlaguerre(20, alpha)
    np.testing.assert_allclose(u, su, rtol=1e-10)
    np.testing.assert_allclose(w, sw / sw.sum(), rtol=1e-8, atol=1e-300)

    # E[X] for X ~ Gamma(α + 1, 1) is α + 1: d/dα = 1 through the nodes and weights
    def mean(a):
        u, w = quad.gauss_laguerre(20, a)
        return jnp.sum(w * u)

    assert math.isclose(float(jax.grad(mean)(jnp.asarray(alpha))), 1.0, rel_tol=1e-9)

"""Every surrogate gradient shipped by snntorch 1.0.0, spikingjelly 2.0.0, sinabs 3.1.3 and
norse 1.1.0, declared once; and rockpool 3.1.0's ``StepPWL``.

Each entry gives the primitive g(x) and its derivative g'(x) in a math namespace ``m``
(NumPy or torch, :mod:`.mathns`), with their LaTeX, and each framework's own function as an
:class:`Alias` with exact parameter maps. x is v - threshold. Where a framework's normalisation
differs by a constant, the alias sets the canonical ``scale``; where it ignores a parameter,
the alias pins it. Alias expressions may use ``theta``, the neuron's threshold (sinabs scales widths by it). Read from the
installed source; where docs and code disagree the code wins and the alias ``note`` says so.
"""
from __future__ import annotations

import math

from functools import partial

from snn_interop.spec.schema import Alias, Forward, Kind, Param, SpecError, Surrogate, SurrogateConfig

POS = dict(low=0.0, high=math.inf)  # open (0, inf)

# One alias constructor per framework, carrying its Heaviside convention at x == 0:
# spikingjelly and sinabs fire at x >= 0; snntorch (x > 0) and norse (heaviside: x > 0) do not.
_spikingjelly = partial(Alias, "spikingjelly", h0=1.0)
_sinabs = partial(Alias, "sinabs", h0=1.0)
_snntorch = partial(Alias, "snntorch", h0=0.0)
_norse = partial(Alias, "norse", h0=0.0)
_rockpool = partial(Alias, "rockpool", h0=1.0)


def _pos(m, x):  # noqa: ANN001
    """x where x >= 0, else 0: keeps the other branch of a ``where`` finite and its gradient 1 at 0."""
    return m.where(x >= 0, x, 0 * x)


def _neg(m, x):  # noqa: ANN001
    return m.where(x < 0, x, 0 * x)


def _sum_cos(m, x, n, T_period):  # noqa: ANN001, N803 - spec formula helper
    w = 2 * m.pi / T_period
    return 0 * x + sum(4 / T_period * m.cos((2 * i - 1) * w * x) for i in range(1, int(n)))


def _sum_sin(m, x, n, T_period):  # noqa: ANN001, N803
    w = 2 * m.pi / T_period
    return 0 * x + 0.5 + sum(2 / m.pi * m.sin((2 * i - 1) * w * x) / (2 * i - 1) for i in range(1, int(n)))


def _gauss(m, x, mu, sigma):  # noqa: ANN001
    return m.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))


def _gauss_cdf(m, x, mu, sigma):  # noqa: ANN001
    return 0.5 * (1 + m.erf((x - mu) / (sigma * math.sqrt(2))))


def _periodic_z(m, x, period):  # noqa: ANN001
    """sinabs' periodic coordinate: z in [-period, period) for x >= 0, x itself below 0."""
    y = x / period + 0.5
    return m.where(x < 0, x, period * (2 * (y - m.floor(y)) - 1))


def _periodic_primitive(m, x, width, period):  # noqa: ANN001
    """Integral of exp(-|z(x)|/width): w e^{x/w} below 0; per period w (1 - e^{-period/w}) above."""
    y = x / period + 0.5
    k = m.floor(y)
    z = period * (2 * (y - k) - 1)
    tail = math.exp(-period / width)
    half = 0.5 * width * (1 - tail)
    p_z = m.where(z < 0, 0.5 * width * (m.exp(m.where(z < 0, z, 0 * z) / width) - tail), half + 0.5 * width * (1 - m.exp(-m.where(z < 0, 0 * z, z) / width)))
    above = width + p_z - half + k * 2 * half
    return m.where(x < 0, width * m.exp(m.where(x < 0, x, 0 * x) / width), above)


def _peak(m, x, period, peaks):  # noqa: ANN001
    """The multiple k P of the period nearest to x >= 0, k capped at peaks - 1 (rockpool's clamp)."""
    k = m.floor(x / period + 0.5)
    return m.where(k > peaks - 1, 0 * k + (peaks - 1), k)


def _multi_peak_primitive(m, x, width, period, peaks):  # noqa: ANN001
    """Integral of exp(-d(x)/w), d the distance to the nearest peak (0 for x < 0): w e^{x/w}
    below 0; above, w + (k - 1/2) F + G(x - k P), F = 2 w (1 - e^{-P/2w}) per peak, G the
    integral over the nearest peak's window from its start, -P/2."""
    below = width * m.exp(m.where(x < 0, x, 0 * x) / width)
    k = _peak(m, m.where(x < 0, 0 * x, x), period, peaks)
    d = x - k * period
    edge = math.exp(-period / (2 * width))
    full = 2 * width * (1 - edge)
    g = m.where(d < 0, width * (m.exp(m.where(d < 0, d, 0 * d) / width) - edge),
                0.5 * full + width * (1 - m.exp(-m.where(d < 0, 0 * d, d) / width)))
    return m.where(x < 0, below, width + (k - 0.5) * full + g)


SURROGATES_LIST: tuple[Surrogate, ...] = (
    Surrogate(
        name="sigmoid", version=1, kind=Kind.SMOOTH,
        params=(Param("alpha", 4.0, **POS, doc="slope"),),
        primitive=lambda m, x, alpha: m.sigmoid(alpha * x),
        derivative=lambda m, x, alpha: alpha * m.sigmoid(alpha * x) * (1 - m.sigmoid(alpha * x)),
        latex_primitive=r"\sigma(\alpha x)",
        latex_derivative=r"\alpha\,\sigma(\alpha x)\,(1-\sigma(\alpha x))",
        cite="Zenke & Vogels 2021, doi:10.1162/neco_a_01367",
        aliases=(
            _spikingjelly("surrogate.Sigmoid", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"},
                  "spikingjelly's default surrogate (alpha 4); one instance is shared by every node built with the default"),
            _snntorch("surrogate.sigmoid", {"alpha": "slope", "scale": "1"}, {"slope": "alpha"}),
            _norse("threshold:tanh", {"alpha": "2 * alpha", "scale": "2 / alpha"}, {"alpha": "alpha / 2"},
                  "norse 'tanh': gradient 1 - tanh(k x)^2, not multiplied by k as its docstring's 0.5 + 0.5 tanh(k x) "
                  "implies; 0.5 + 0.5 tanh(k x) = sigmoid(2 k x)."),
            _norse("logistic_fn", {"alpha": "2 * alpha", "scale": "2 / alpha"}, {"alpha": "alpha / 2"},
                   "not selectable through threshold(); spikes ~ Bernoulli(0.5 + 0.5 tanh(k x)), backward as 'tanh'",
                   forward=Forward.BERNOULLI),
        ),
    ),
    Surrogate(
        name="fast_sigmoid", version=1, kind=Kind.SMOOTH,
        params=(Param("alpha", 2.0, **POS, doc="slope"),),
        primitive=lambda m, x, alpha: 0.5 * (alpha * x / (1 + m.abs(alpha * x)) + 1),
        derivative=lambda m, x, alpha: alpha / (2 * (1 + alpha * m.abs(x)) ** 2),
        latex_primitive=r"\tfrac12\left(\frac{\alpha x}{1+|\alpha x|}+1\right)",
        latex_derivative=r"\frac{\alpha}{2(1+\alpha|x|)^2}",
        cite="Zenke & Ganguli 2018 (SuperSpike), doi:10.1162/neco_a_01086",
        note="also called softsign; SuperSpike is this family at alpha = 1",
        aliases=(
            _spikingjelly("surrogate.SoftSign", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"}),
            _spikingjelly("surrogate.SuperSpike", {"alpha": "1", "scale": "2 * alpha"}, {"alpha": "scale / 2"},
                  "spikingjelly's SuperSpike alpha is an amplitude, not a width; its spiking=False primitive raises NotImplementedError"),
            _snntorch("surrogate.fast_sigmoid", {"alpha": "slope", "scale": "2 / slope"}, {"slope": "alpha"},
                  "gradient 1 / (slope |x| + 1)^2."),
            _norse("threshold:super", {"alpha": "1", "scale": "2"}, {"alpha": "100"},
                  "norse ignores alpha (gradient 1 / (|x| + 1)^2 whatever alpha, default 100)."),
        ),
    ),
    Surrogate(
        name="atan", version=1, kind=Kind.SMOOTH,
        params=(Param("alpha", 2.0, **POS, doc="slope"),),
        primitive=lambda m, x, alpha: 0.5 + m.atan(m.pi / 2 * alpha * x) / m.pi,
        derivative=lambda m, x, alpha: (alpha / 2) / (1 + (m.pi / 2 * alpha * x) ** 2),
        latex_primitive=r"\tfrac12+\tfrac1\pi\arctan\!\left(\tfrac\pi2\alpha x\right)",
        latex_derivative=r"\frac{\alpha/2}{1+\left(\frac\pi2\alpha x\right)^2}",
        cite="Fang et al. 2021, arXiv:2007.05785",
        aliases=(
            _spikingjelly("surrogate.ATan", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"}),
            _snntorch("surrogate.atan", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"},
                      "snntorch's default; its docstring's gradient lacks the factor pi alpha / 2 that the code has; "
                      "every snntorch docstring says U >= U_thr fires, the code is x > 0"),
        ),
    ),
    Surrogate(
        name="q_pseudo_spike", version=1, kind=Kind.SMOOTH,
        params=(Param("alpha", 2.0, 1.0, math.inf, doc="tail heaviness, > 1"),),
        primitive=lambda m, x, alpha: m.where(
            x >= 0, 1 - 0.5 * (1 + 2 * _pos(m, x) / (alpha - 1)) ** (1 - alpha), 0.5 * (1 - 2 * _neg(m, x) / (alpha - 1)) ** (1 - alpha)),
        derivative=lambda m, x, alpha: (1 + 2 * m.abs(x) / (alpha - 1)) ** (-alpha),
        latex_primitive=r"\begin{cases}1-\frac12\left(1+\frac{2|x|}{\alpha-1}\right)^{1-\alpha}&x\ge0\\\frac12\left(1+\frac{2|x|}{\alpha-1}\right)^{1-\alpha}&x<0\end{cases}",
        latex_derivative=r"\left(1+\frac{2|x|}{\alpha-1}\right)^{-\alpha}",
        cite="Herranz-Celotti & Rouat 2022, Surrogate Gradients Design, arXiv:2202.00282",
        note="alpha = 2 equals fast_sigmoid(alpha=2); spikingjelly does not check alpha > 1 (alpha = 1 divides by zero)",
        aliases=(_spikingjelly("surrogate.QPseudoSpike", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"}),),
    ),
    Surrogate(
        name="gaussian", version=1, kind=Kind.SMOOTH,
        params=(Param("sigma", 0.5, **POS, doc="standard deviation"), Param("mu", 0.0, doc="centre")),
        primitive=lambda m, x, sigma, mu: _gauss_cdf(m, x, mu, sigma),
        derivative=lambda m, x, sigma, mu: _gauss(m, x, mu, sigma),
        latex_primitive=r"\tfrac12\left(1+\operatorname{erf}\frac{x-\mu}{\sigma\sqrt2}\right)",
        latex_derivative=r"\frac{1}{\sigma\sqrt{2\pi}}e^{-(x-\mu)^2/2\sigma^2}",
        cite="Yin et al. 2021, doi:10.1038/s42256-021-00397-w",
        aliases=(
            _spikingjelly("surrogate.Erf", {"sigma": "1 / (alpha * sqrt(2))", "mu": "0", "scale": "1"},
                  {"alpha": "1 / (sigma * sqrt(2))"}, "Erf(alpha): gradient alpha / sqrt(pi) exp(-alpha^2 x^2)"),
            _sinabs("activation.Gaussian", {"sigma": "sigma", "mu": "mu", "scale": "grad_scale"},
                  {"sigma": "sigma", "mu": "mu", "grad_scale": "scale"}),
            _norse("threshold:heavi_erfc", {"sigma": "1 / (alpha * sqrt(2))", "mu": "0", "scale": "2 / alpha"},
                  {"alpha": "1 / (sigma * sqrt(2))"},
                  "gradient 2 / sqrt(pi) exp(-(k x)^2): the derivative of erf(k x) / k, not of its docstring's "
                  "0.5 + 0.5 erfc(k x)."),
        ),
    ),
    Surrogate(
        name="multi_gaussian", version=1, kind=Kind.SMOOTH,
        params=(Param("sigma", 0.5, **POS), Param("h", 0.15, 0.0, math.inf, (True, False), doc="depth of the negative side lobes"),
                Param("s", 6.0, **POS, doc="width of the side lobes relative to sigma"), Param("mu", 0.0)),
        primitive=lambda m, x, sigma, h, s, mu: (1 + h) * _gauss_cdf(m, x, mu, sigma) - h * _gauss_cdf(m, x, sigma, s * sigma) - h * _gauss_cdf(m, x, -sigma, s * sigma),
        derivative=lambda m, x, sigma, h, s, mu: (1 + h) * _gauss(m, x, mu, sigma) - h * _gauss(m, x, sigma, s * sigma) - h * _gauss(m, x, -sigma, s * sigma),
        latex_primitive=r"(1+h)\Phi_{\mu,\sigma}(x)-h\,\Phi_{\sigma,s\sigma}(x)-h\,\Phi_{-\sigma,s\sigma}(x)",
        latex_derivative=r"(1+h)\,\mathcal N(x;\mu,\sigma)-h\,\mathcal N(x;\sigma,s\sigma)-h\,\mathcal N(x;-\sigma,s\sigma)",
        cite="Yin et al. 2021, doi:10.1038/s42256-021-00397-w",
        note="the side lobes are centred at +-sigma whatever mu is (as sinabs codes it)",
        aliases=(_sinabs("activation.MultiGaussian", {"sigma": "sigma", "h": "h", "s": "s", "mu": "mu", "scale": "grad_scale"},
                       {"sigma": "sigma", "h": "h", "s": "s", "mu": "mu", "grad_scale": "scale"}),),
    ),
    Surrogate(
        name="exponential", version=1, kind=Kind.PIECEWISE,
        params=(Param("alpha", 1.0, **POS, doc="inverse width"), Param("center", 0.0, doc="peak position")),
        primitive=lambda m, x, alpha, center: m.where(
            x >= center, 1 - 0.5 * m.exp(-alpha * _pos(m, x - center)), 0.5 * m.exp(alpha * _neg(m, x - center))),
        derivative=lambda m, x, alpha, center: alpha / 2 * m.exp(-alpha * m.abs(x - center)),
        latex_primitive=r"\begin{cases}1-\frac12e^{-\alpha(x-c)}&x\ge c\\\frac12e^{\alpha(x-c)}&x<c\end{cases}",
        latex_derivative=r"\frac\alpha2e^{-\alpha|x-c|}",
        cite="Shrestha & Orchard 2018 (SLAYER), NeurIPS",
        note="Laplace density; kink at the centre",
        aliases=(
            _spikingjelly("surrogate.PiecewiseExp", {"alpha": "alpha", "center": "0", "scale": "1"}, {"alpha": "alpha"}),
            _sinabs("activation.SingleExponential", {"alpha": "1 / (grad_width * theta)", "center": "0", "scale": "2 * grad_scale"},
                  {"grad_width": "1 / (alpha * theta)", "grad_scale": "scale / 2"},
                  "the width is relative to the threshold: grad_scale / (thr w) exp(-|x| / (thr w))"),
            _snntorch("surrogate.spike_rate_escape", {"alpha": "beta", "center": "1", "scale": "2 * slope / beta"},
                  {"beta": "alpha", "slope": "scale * alpha / 2"},
                  "gradient slope exp(-beta |x - 1|): centred one unit above the threshold, x being mem - threshold."),
        ),
    ),
    Surrogate(
        name="periodic_exponential", version=1, kind=Kind.PIECEWISE,
        params=(Param("width", 0.5, **POS), Param("period", 1.0, **POS, doc="the spike threshold")),
        primitive=_periodic_primitive,
        derivative=lambda m, x, width, period: m.exp(-m.abs(_periodic_z(m, x, period)) / width),
        latex_primitive=r"\int_{-\infty}^{x} e^{-|z(u)|/w}\,du",
        latex_derivative=r"e^{-|z(x)|/w},\quad z=\begin{cases}x&x<0\\ \theta\,(2\,\mathrm{frac}(x/\theta+\frac12)-1)&x\ge0\end{cases}",
        cite="Weidel & Sheik 2021, arXiv:2111.01456",
        note="made for multi-spike neurons: peaks at every multiple of the threshold above it; period = threshold",
        aliases=(_sinabs("activation.PeriodicExponential", {"width": "grad_width", "period": "theta", "scale": "grad_scale"},
                       {"grad_width": "width", "grad_scale": "scale"}, "unlike SingleExponential, grad_width here is absolute"),),
    ),
    Surrogate(
        name="multi_peak_exponential", version=1, kind=Kind.PIECEWISE,
        params=(Param("width", 0.5, **POS), Param("period", 1.0, **POS, doc="the spike threshold"),
                Param("peaks", 65536.0, 1.0, math.inf, (True, False), doc="peaks above the threshold (the spike cap)", integer=True)),
        primitive=_multi_peak_primitive,
        derivative=lambda m, x, width, period, peaks: m.exp(
            -m.abs(m.where(x < 0, x, x - _peak(m, m.where(x < 0, 0 * x, x), period, peaks) * period)) / width),
        latex_primitive=r"\int_{-\infty}^{x} e^{-d(u)/w}\,du",
        latex_derivative=r"e^{-d(x)/w},\quad d=\begin{cases}|x|&x<0\\|x-kP|,\ k=\min(\lfloor x/P+\frac12\rfloor,\,K-1)&x\ge0\end{cases}",
        cite="rockpool (lif_torch.PeriodicExponential)",
        note="made for multi-spike neurons: a peak at every multiple of the threshold above it, up to the spike cap; "
             "unlike periodic_exponential (sinabs) the same width on both sides of each peak",
        aliases=(_rockpool("PeriodicExponential", {"width": "window", "period": "theta", "peaks": "max_spikes_per_dt", "scale": "1 / theta"},
                           {"window": "width", "max_spikes_per_dt": "peaks"},
                           "window is the module's learning_window, the cap its max_spikes_per_dt (the peak index is clamped at "
                           "cap - 1), the gradient divided by the threshold. Its threshold gradient is -v/thr times it, not the spec's"),),
    ),
    Surrogate(
        name="triangle", version=1, kind=Kind.PIECEWISE,
        params=(Param("alpha", 1.0, **POS, doc="inverse half-width"),),
        primitive=lambda m, x, alpha: m.where(
            x < -1 / alpha, 0 * x, m.where(x > 1 / alpha, 0 * x + 1, -0.5 * alpha**2 * m.abs(x) * x + alpha * x + 0.5)),
        derivative=lambda m, x, alpha: m.where(m.abs(x) > 1 / alpha, 0 * x, alpha - alpha**2 * m.abs(x)),
        latex_primitive=r"\begin{cases}0&x<-1/\alpha\\-\frac12\alpha^2|x|x+\alpha x+\frac12&|x|\le1/\alpha\\1&x>1/\alpha\end{cases}",
        latex_derivative=r"\max(0,\ \alpha-\alpha^2|x|)",
        cite="Esser et al. 2016, doi:10.1073/pnas.1604850113; Bellec et al. 2018",
        aliases=(
            _spikingjelly("surrogate.PiecewiseQuadratic", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"}),
            _norse("threshold:triangle", {"alpha": "1", "scale": "alpha"}, {"alpha": "scale"},
                  "gradient alpha relu(1 - |x|): alpha is an amplitude, the half-width is fixed at 1."),
        ),
    ),
    Surrogate(
        name="rectangular", version=1, kind=Kind.PIECEWISE,
        params=(Param("alpha", 1.0, **POS, doc="height; the window is |x| < 1/(2 alpha)"),
                Param("leak", 0.0, 0.0, math.inf, (True, False), doc="gradient outside the window")),
        primitive=lambda m, x, alpha, leak: m.where(
            m.abs(x) < 0.5 / alpha, alpha * x + 0.5, m.where(x > 0, 1 + leak * (x - 0.5 / alpha), leak * (x + 0.5 / alpha))),
        derivative=lambda m, x, alpha, leak: m.where(m.abs(x) < 0.5 / alpha, 0 * x + alpha, 0 * x + leak),
        latex_primitive=r"\begin{cases}\alpha x+\frac12&|x|<\frac1{2\alpha}\\1+c(x-\frac1{2\alpha})&x\ge\frac1{2\alpha}\\c(x+\frac1{2\alpha})&x\le-\frac1{2\alpha}\end{cases}",
        latex_derivative=r"\alpha\,[|x|<\tfrac1{2\alpha}]+c\,[|x|\ge\tfrac1{2\alpha}]",
        cite="Wu et al. 2018, doi:10.3389/fnins.2018.00331",
        note="the window is open: at |x| = 1/(2 alpha) the gradient is the leak",
        aliases=(
            _spikingjelly("surrogate.Rect", {"alpha": "alpha", "leak": "0", "scale": "1"}, {"alpha": "alpha"}),
            _spikingjelly("surrogate.PiecewiseLeakyReLU", {"alpha": "1 / (2 * w)", "leak": "c", "scale": "1"},
                  {"w": "0.5 / alpha", "c": "leak"},
                  "docstring: 1/(2w) for -w <= x <= w; code: strict |x| < w, so at |x| == w the gradient is c"),
        ),
    ),
    Surrogate(
        name="step", version=1, kind=Kind.PIECEWISE,
        params=(Param("window", 1.0, 0.0, math.inf, (True, False), doc="gradient 1 for x > -window"),
                Param("at_edge", 1.0, 0.0, 1.0, (True, True), doc="gradient at x == -window exactly (0 or 1)", integer=True)),
        primitive=lambda m, x, window, at_edge: m.where(x > -window, x + window, at_edge * (x + window) * (x == -window)),
        derivative=lambda m, x, window, at_edge: m.where(x > -window, 0 * x + 1, at_edge * (x == -window) + 0 * x),
        latex_primitive=r"\max(0,\ x+w)",
        latex_derivative=r"[x> -w]\ \text{(and } e \text{ at } x=-w)",
        cite="sinabs documentation (Heaviside surrogate)",
        aliases=(
            _sinabs("activation.Heaviside", {"window": "window", "at_edge": "1", "scale": "1 / theta"}, {"window": "window"},
                    "docstring: window relative to the threshold; code: absolute (v >= thr - window), divided by thr"),
            _snntorch("surrogate.heaviside", {"window": "0", "at_edge": "0", "scale": "1"}, {},
                      "gradient = the spike itself, (x > 0): 0 at x == 0"),
            _rockpool("StepPWL", {"window": "window", "at_edge": "1", "scale": "1 / theta"}, {"window": "window"},
                      "lif_torch.StepPWL and its copy in lif_neuron_torch; window is the module's learning_window "
                      "(absolute: v >= thr - window), the gradient divided by thr. Its threshold gradient is -v / thr^2 "
                      "there (that of v / thr), not the spec's -g'(v - thr)"),
        ),
    ),
    Surrogate(
        name="negative_abs", version=1, kind=Kind.PIECEWISE,
        params=(),
        primitive=lambda m, x: m.where(x >= 0, -x, x),
        derivative=lambda m, x: m.where(x >= 0, 0 * x - 1, 0 * x + 1),
        latex_primitive=r"-|x|",
        latex_derivative=r"\begin{cases}1&x<0\\-1&x\ge0\end{cases}",
        cite="snntorch (Triangular)",
        note="snntorch's 'triangular' is not a triangle surrogate: the gradient is negative for every x >= 0 and never decays",
        aliases=(_snntorch("surrogate.triangular", {"scale": "threshold"}, {"threshold": "scale"},
                           "its 'threshold' argument is the amplitude, not the neuron threshold"),),
    ),
    Surrogate(
        name="sparse_fast_sigmoid", version=1, kind=Kind.PIECEWISE,
        params=(Param("alpha", 2.0, **POS, doc="slope"), Param("B", 1.0, doc="gradient only for x > B")),
        primitive=lambda m, x, alpha, B: m.where(
            x > B, 0.5 * alpha * x / (1 + alpha * m.abs(x)) - 0.5 * alpha * B / (1 + alpha * abs(B)), 0 * x),
        derivative=lambda m, x, alpha, B: m.where(x > B, alpha / (2 * (1 + alpha * m.abs(x)) ** 2), 0 * x),
        latex_primitive=r"[x>B]\,\frac12\left(\frac{\alpha x}{1+\alpha|x|}-\frac{\alpha B}{1+\alpha|B|}\right)",
        latex_derivative=r"[x>B]\,\frac{\alpha}{2(1+\alpha|x|)^2}",
        cite="Perez-Nieves & Goodman 2021, arXiv:2105.08810",
        note="B is a cut on x = v - threshold: with snntorch's default B = 1 there is no gradient at or just above the threshold",
        aliases=(_snntorch("surrogate.SFS", {"alpha": "slope", "B": "B", "scale": "2 / slope"}, {"slope": "alpha", "B": "B"}),),
    ),
    Surrogate(
        name="straight_through", version=1, kind=Kind.STRAIGHT_THROUGH,
        params=(),
        primitive=lambda m, x: x,
        derivative=lambda m, x: 0 * x + 1,
        latex_primitive=r"x",
        latex_derivative=r"1",
        cite="Bengio et al. 2013, arXiv:1308.3432",
        aliases=(
            _spikingjelly("surrogate.DeterministicPass", {"scale": "1"}, {}),
            _snntorch("surrogate.straight_through_estimator", {"scale": "1"}, {}),
            _spikingjelly("surrogate.PoissonPass", {"scale": "1"}, {},
                          "x is a firing probability in [0, 1]; spikes are float32 whatever the input dtype",
                          forward=Forward.BERNOULLI),
        ),
    ),
    Surrogate(
        name="leaky_k_relu", version=1, kind=Kind.PIECEWISE,
        params=(Param("leak", 0.0, doc="gradient for x < 0"), Param("k", 1.0, doc="gradient for x >= 0")),
        primitive=lambda m, x, leak, k: m.where(x >= 0, k * x, leak * x),
        derivative=lambda m, x, leak, k: m.where(x >= 0, 0 * x + k, 0 * x + leak),
        latex_primitive=r"\begin{cases}kx&x\ge0\\cx&x<0\end{cases}",
        latex_derivative=r"k\,[x\ge0]+c\,[x<0]",
        cite="spikingjelly (no paper cited)",
        note="not localised around the threshold",
        aliases=(_spikingjelly("surrogate.LeakyKReLU", {"leak": "leak", "k": "k", "scale": "1"}, {"leak": "leak", "k": "k"}),),
    ),
    Surrogate(
        name="nonzero_sign_log_abs", version=1, kind=Kind.SMOOTH,
        params=(Param("alpha", 1.0, **POS),),
        primitive=lambda m, x, alpha: m.where(x >= 0, m.log(alpha * _pos(m, x) + 1), -m.log(1 - alpha * _neg(m, x))),
        derivative=lambda m, x, alpha: 1 / (1 / alpha + m.abs(x)),
        latex_primitive=r"\operatorname{sgn}(x)\ln(\alpha|x|+1)",
        latex_derivative=r"\frac{1}{1/\alpha+|x|}",
        cite="spikingjelly (no paper cited)",
        note="unbounded primitive (not a smoothed step); gradient not integrable",
        aliases=(_spikingjelly("surrogate.NonzeroSignLogAbs", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"}),),
    ),
    Surrogate(
        name="squarewave_fourier", version=1, kind=Kind.SMOOTH,
        params=(Param("n", 2.0, 1.0, math.inf, (True, False), doc="number of terms + 1", integer=True),
                Param("T_period", 8.0, **POS, doc="period")),
        primitive=lambda m, x, n, T_period: _sum_sin(m, x, n, T_period),
        derivative=lambda m, x, n, T_period: _sum_cos(m, x, n, T_period),
        latex_primitive=r"\frac12+\frac2\pi\sum_{i=1}^{n-1}\frac{\sin((2i-1)\omega x)}{2i-1},\ \omega=\frac{2\pi}{T}",
        latex_derivative=r"\frac4T\sum_{i=1}^{n-1}\cos((2i-1)\omega x)",
        cite="spikingjelly (no paper cited)",
        note="periodic, not localised; n = 1 gives a zero gradient",
        aliases=(_spikingjelly("surrogate.SquarewaveFourierSeries", {"n": "n", "T_period": "T_period", "scale": "1"},
                       {"n": "int(n)", "T_period": "T_period"}),),
    ),
    Surrogate(
        name="s2nn", version=1, kind=Kind.PIECEWISE,
        params=(Param("alpha", 4.0, **POS), Param("beta", 1.0, 0.0, math.inf, (True, False))),
        primitive=lambda m, x, alpha, beta: m.where(x < 0, m.sigmoid(alpha * x), beta * m.log(1 + m.where(x < 0, 0 * x, x)) + 0.5),
        derivative=lambda m, x, alpha, beta: m.where(x < 0, alpha * m.sigmoid(alpha * x) * (1 - m.sigmoid(alpha * x)), beta / (m.where(x < 0, 0 * x, x) + 1)),
        latex_primitive=r"\begin{cases}\sigma(\alpha x)&x<0\\\beta\ln(x+1)+\frac12&x\ge0\end{cases}",
        latex_derivative=r"\begin{cases}\alpha\sigma(\alpha x)(1-\sigma(\alpha x))&x<0\\\frac{\beta}{x+1}&x\ge0\end{cases}",
        cite="Suetake et al. 2022, S2NN, arXiv:2201.10879",
        note="continuous at 0 only when beta = alpha / 4",
        aliases=(_spikingjelly("surrogate.S2NN", {"alpha": "alpha", "beta": "beta", "scale": "1"}, {"alpha": "alpha", "beta": "beta"},
                       "docstring primitive for x >= 0 is beta ln(x+1) + 1; code has + 0.5 and ln(|x+1| + 1e-5) in its spiking=False primitive"),),
    ),
    Surrogate(
        name="fake_numerical_gradient", version=1, kind=Kind.PIECEWISE,
        params=(Param("alpha", 0.3, **POS, doc="cap"),),
        primitive=lambda m, x, alpha: m.where(
            m.abs(x) <= 1 / alpha, alpha * x, m.sign(x) * (1 + m.log(m.where(m.abs(x) <= 1 / alpha, 0 * x + 1, alpha * m.abs(x))))),
        derivative=lambda m, x, alpha: m.where(m.abs(x) <= 1 / alpha, 0 * x + alpha, 1 / m.where(m.abs(x) <= 1 / alpha, 0 * x + 1, m.abs(x))),
        latex_primitive=r"\begin{cases}\alpha x&|x|\le1/\alpha\\\operatorname{sgn}(x)(1+\ln\alpha|x|)&\text{else}\end{cases}",
        latex_derivative=r"\min(1/|x|,\ \alpha)",
        cite="spikingjelly (emulates a numerical gradient; no paper cited)",
        note="spikingjelly computes clamp_max(((x >= 0) 2 - 1) / x, alpha): at x = -0.0 that is -inf (this entry: alpha)",
        aliases=(_spikingjelly("surrogate.FakeNumericalGradient", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"},
                       "no spiking argument and no primitive (NotImplementedError); its docstring writes (2 - sign(x)) / x, the code ((x >= 0) 2 - 1) / x"),),
    ),
    Surrogate(
        name="log_tailed_relu", version=1, kind=Kind.PIECEWISE,
        params=(Param("alpha", 0.0, doc="gradient for x <= 0"),),
        primitive=lambda m, x, alpha: m.where(x > 1, m.log(m.where(x > 1, x, 0 * x + 1)) + 1, m.where(x > 0, x, alpha * x)),
        derivative=lambda m, x, alpha: m.where(x > 1, 1 / m.where(x > 1, x, 0 * x + 1), m.where(x > 0, 0 * x + 1, 0 * x + alpha)),
        latex_primitive=r"\begin{cases}\alpha x&x\le0\\x&0<x\le1\\\ln x+1&x>1\end{cases}",
        latex_derivative=r"\begin{cases}\alpha&x\le0\\1&0<x\le1\\1/x&x>1\end{cases}",
        cite="Cai et al. 2017, arXiv:1702.00953",
        note="not localised around the threshold",
        aliases=(_spikingjelly("surrogate.LogTailedReLU", {"alpha": "alpha", "scale": "1"}, {"alpha": "alpha"}),),
    ),
    Surrogate(
        name="circ", version=1, kind=Kind.SMOOTH,
        params=(Param("alpha", 1.0, **POS, doc="width"),),
        primitive=lambda m, x, alpha: 0.5 + 0.5 * x / m.sqrt(x**2 + alpha**2),
        derivative=lambda m, x, alpha: alpha**2 / (2 * (x**2 + alpha**2) ** 1.5),
        latex_primitive=r"\frac12+\frac{x}{2\sqrt{x^2+\alpha^2}}",
        latex_derivative=r"\frac{\alpha^2}{2(x^2+\alpha^2)^{3/2}}",
        cite="norse (HeaviCirc)",
        aliases=(
            _norse("threshold:circ", {"alpha": "alpha", "scale": "2 * alpha"}, {"alpha": "alpha"},
                   "gradient alpha^3 / (x^2 + alpha^2)^(3/2): 2 alpha times the derivative of its docstring's primitive."),
            _norse("circ_dist_fn", {"alpha": "alpha", "scale": "2 * alpha"}, {"alpha": "alpha"},
                   "not selectable through threshold(); same backward as circ", forward=Forward.BERNOULLI),
        ),
    ),
)

# SSO's backward draws noise per element: declared by its expectation, matched in range only.
STOCHASTIC_UNIFORM = Surrogate(
    name="stochastic_uniform", version=1, kind=Kind.STOCHASTIC,
    params=(Param("mean", 0.0), Param("variance", 0.2, 0.0, math.inf, (True, False), doc="width of the noise (not a variance)")),
    primitive=None,
    derivative=lambda m, x, mean, variance: m.where(x > 0, 0 * x + 1, 0 * x + mean * variance),
    latex_primitive=r"\text{none (random backward)}",
    latex_derivative=r"\begin{cases}1&x>0\\(u-\frac12+\mu)\,v,\ u\sim U[0,1)&x\le0\end{cases}\ \text{(declared: its mean)}",
    cite="snntorch (StochasticSpikeOperator)",
    note="below threshold the gradient is (u - 1/2 + mean) variance with fresh u ~ U[0, 1) per element and call "
         "(global torch RNG): the declaration is its expectation; a framework matches it in range, not value",
    aliases=(_snntorch("surrogate.SSO", {"mean": "mean", "variance": "variance", "scale": "1"}, {"mean": "mean", "variance": "variance"}),),
)

#: Native spike functions deliberately not declared, and why (shown in the catalogue and docs).
UNDECLARED: dict[str, str] = {
    "snntorch surrogate.LSO": "broken in 1.0.0: calls StochasticSpikeOperator with too few arguments (TypeError); "
                              "the intended LeakySpikeOperator is leaky_k_relu(leak=slope, k=1) except at x == 0, and its backward "
                              "returns one gradient for two inputs (RuntimeError)",
    "snntorch surrogate.custom_surrogate": "a user-supplied backward: nothing to declare; snn-interop carries such models with its own "
                                           "autograd spike function",
    "spikingjelly surrogate.MultiLevelSpikeCount": "forward round(clamp(x, 0, N)) of v / threshold (ILIFNode), not a Heaviside of "
                                                   "v - threshold; its gradient is 1 on [grad_min, grad_max]",
    "norse threshold method 'heaviside'": "no gradient at all (the graph is cut)",
    "norse threshold method 'adjoint'": "raises ValueError in 1.1.0",
}

SURROGATES_LIST = (*SURROGATES_LIST, STOCHASTIC_UNIFORM)
SURROGATES: dict[str, Surrogate] = {s.name: s for s in SURROGATES_LIST}


def from_native(framework: str, native: str, kwargs: dict[str, float], theta: float = 1.0) -> SurrogateConfig:
    """The canonical configuration a framework's spike function computes.

    ``native`` is the framework's name as in the aliases (e.g. "surrogate.atan"), ``kwargs``
    its keyword arguments (omitted ones must be given: the spec does not guess a framework's
    defaults), ``theta`` the neuron threshold for maps that depend on it.
    """
    for s in SURROGATES.values():
        for a in s.aliases:
            if a.framework == framework and a.native == native:
                return s.configure(**a.canonical_params({**kwargs, "theta": theta}))
    raise SpecError(f"{framework} has no spike function {native!r} in the spec")

"""Public sanity checks: what a student runs to see whether an exercise is on track.

``python -m mtl_lib.classroom test pooling`` in a terminal, or in a notebook::

    from mtl_lib.classroom import check_exercise; check_exercise("pooling")

Each exercise has a few quick checks: shapes, and small cases worked out by
hand whose answers are written here as numbers. They are separate from the
hidden grading tests (``tests/grading``, which stay with the instructor) and
give nothing away: no check computes the answer with reference code. Passing
them means the function is plausible, not that it earns its points.

A check that stops on another exercise's stub (``NotImplementedError`` from
exercise 'X') is reported as waiting for that exercise, not as a failure.
"""

from __future__ import annotations

import math
import re
import traceback
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from . import EXERCISES, ClassroomError

PUBLIC_TESTS: dict[str, list[Callable[[], None]]] = {}


def public(exercise: str):
    """Register the decorated function (its docstring says what it checks) as a check of ``exercise``."""
    def register(check: Callable[[], None]) -> Callable[[], None]:
        PUBLIC_TESTS.setdefault(exercise, []).append(check)
        return check
    return register


def _close(got: torch.Tensor, expected, what: str, atol: float = 1e-5) -> None:
    expected = torch.as_tensor(expected, dtype=got.dtype)
    assert got.shape == expected.shape, f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    assert torch.allclose(got, expected, atol=atol), f"{what}: got {got.tolist()}, expected {expected.tolist()}"


# --- scaled_dot_product_attention --------------------------------------------------------------

@public("scaled_dot_product_attention")
def sdpa_shapes():
    """q, k, v of shape (2, 3, 4, 5) give an output (2, 3, 4, 5) and weights (2, 3, 4, 4) whose rows sum to 1."""
    from mtl_lib.attention import scaled_dot_product_attention

    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 3, 4, 5).unbind(0)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 4, 5), f"output shape {tuple(out.shape)}, expected (2, 3, 4, 5)"
    assert weights.shape == (2, 3, 4, 4), f"weights shape {tuple(weights.shape)}, expected (2, 3, 4, 4)"
    _close(weights.sum(-1), torch.ones(2, 3, 4), "weights summed over the keys")


@public("scaled_dot_product_attention")
def sdpa_scaled_by_sqrt_dk():
    """One query [2, 0, 0, 0] against keys [1, 0, 0, 0] and 0: scores 2/sqrt(4) = 1 and 0, weights e/(e+1), 1/(e+1)."""
    from mtl_lib.attention import scaled_dot_product_attention

    q = torch.tensor([[[[2.0, 0, 0, 0]]]])
    k = torch.tensor([[[[1.0, 0, 0, 0], [0, 0, 0, 0]]]])
    v = torch.tensor([[[[10.0], [0.0]]]])
    out, weights = scaled_dot_product_attention(q, k, v)
    _close(weights, [[[[0.7310586, 0.2689414]]]], "weights")
    _close(out, [[[[7.310586]]]], "output")


@public("scaled_dot_product_attention")
def sdpa_mask():
    """A key the mask forbids (False) gets weight 0 even when it matches the query best."""
    from mtl_lib.attention import scaled_dot_product_attention

    q = torch.tensor([[[[1.0, 0]]]])
    k = torch.tensor([[[[0.0, 1], [5.0, 0]]]])
    v = torch.tensor([[[[1.0, 2], [30.0, 40]]]])
    out, weights = scaled_dot_product_attention(q, k, v, torch.tensor([[[[True, False]]]]))
    _close(weights, [[[[1.0, 0.0]]]], "weights with the second key masked")
    _close(out, [[[[1.0, 2.0]]]], "output with the second key masked")


# --- multi_head_attention ----------------------------------------------------------------------

def _attention_module(implementation: str = "eager"):
    from mtl_lib.attention import MultiHeadSelfAttention

    torch.manual_seed(0)
    return MultiHeadSelfAttention(8, 2, dropout=0.0, implementation=implementation).eval()


@public("multi_head_attention")
def mha_shapes():
    """8 features in 2 heads: x (2, 5, 8) gives (2, 5, 8), and weights (2, 2, 5, 5) only when asked for."""
    module, x = _attention_module(), torch.randn(2, 5, 8)
    out, weights = module(x)
    assert out.shape == (2, 5, 8), f"output shape {tuple(out.shape)}, expected (2, 5, 8)"
    assert weights is None, "without output_attentions=True the weights must be None"
    out, weights = module(x, output_attentions=True)
    assert weights is not None and weights.shape == (2, 2, 5, 5), "weights must be (B, heads, T, T) = (2, 2, 5, 5)"


@public("multi_head_attention")
def mha_padding():
    """Keys masked out as padding get weight 0 in every head."""
    module, x = _attention_module(), torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]  # (B, 1, 1, T)
    _, weights = module(x, mask, output_attentions=True)
    assert weights[1, :, :, 3:].abs().max() == 0, "padding keys (the last two of sentence 1) got weight"


@public("multi_head_attention")
def mha_two_paths_agree():
    """The 'eager' path (written out) and the 'sdpa' path (PyTorch's fused attention) give the same output."""
    eager, fused = _attention_module("eager"), _attention_module("sdpa")
    x = torch.randn(2, 5, 8)
    _close(fused(x)[0], eager(x)[0], "sdpa output against eager output", atol=1e-5)


# --- encoder_layer -----------------------------------------------------------------------------

def _layer(dropout: float = 0.0):
    from mtl_lib.bert import BertConfig, BertLayer

    torch.manual_seed(0)
    config = BertConfig(hidden_size=8, num_attention_heads=2, intermediate_size=16, num_hidden_layers=1,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=0.0)
    return BertLayer(config)


@public("encoder_layer")
def layer_shape_and_norm():
    """(2, 4, 8) in, (2, 4, 8) out; post-norm with a fresh LayerNorm: every output vector has mean 0, variance 1."""
    layer, x = _layer().eval(), torch.randn(2, 4, 8)
    out, probs = layer(x, torch.ones(2, 1, 1, 4, dtype=torch.bool))
    assert out.shape == (2, 4, 8), f"output shape {tuple(out.shape)}, expected (2, 4, 8)"
    assert probs is None, "without output_attentions=True the layer returns (x, None)"
    _close(out.mean(-1), torch.zeros(2, 4), "mean of each output vector", atol=1e-4)
    _close(out.var(-1, unbiased=False), torch.ones(2, 4), "variance of each output vector", atol=1e-3)


@public("encoder_layer")
def layer_ignores_padding():
    """Changing a padding token's input does not change the outputs of the real tokens."""
    layer, x = _layer().eval(), torch.randn(1, 4, 8)
    mask = torch.tensor([True, True, True, False])[None, None, None, :]
    changed = x.clone()
    changed[0, 3] += 100.0
    with torch.no_grad():
        _close(layer(changed, mask)[0][0, :3], layer(x, mask)[0][0, :3], "real tokens' outputs", atol=1e-5)


@public("encoder_layer")
def layer_dropout_in_training_only():
    """With dropout 0.5 the layer is random in training and deterministic in eval mode."""
    layer, x, mask = _layer(0.5), torch.randn(2, 4, 8), torch.ones(2, 1, 1, 4, dtype=torch.bool)
    with torch.no_grad():
        train = layer.train()(x, mask)[0]
        first, second = layer.eval()(x, mask)[0], layer(x, mask)[0]
    assert torch.equal(first, second), "eval mode must be deterministic"
    assert not torch.allclose(train, first), "training mode must apply dropout"


# --- pooling -----------------------------------------------------------------------------------

_HIDDEN = torch.tensor([[[2.0, 0.0], [4.0, 2.0], [9.0, 9.0]],
                        [[1.0, 1.0], [3.0, 5.0], [5.0, 0.0]]])  # (2, 3, 2); sentence 0 has one padding token
_MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])


@public("pooling")
def pool_mean_by_hand():
    """'mean' averages the real tokens only: (2+4)/2, (0+2)/2 = [3, 1] and (1+3+5)/3, (1+5+0)/3 = [3, 2]."""
    from mtl_lib.encode import pool

    _close(pool({"last_hidden_state": _HIDDEN, "pooler_output": None}, _MASK, "mean"), [[3.0, 1.0], [3.0, 2.0]],
           "mean pooling")


@public("pooling")
def pool_cls_and_pooler():
    """'cls' is the first token's vector, 'pooler' the model's pooler_output; (B, H) both."""
    from mtl_lib.encode import pool

    pooled = torch.tensor([[0.5, -0.5], [0.1, 0.2]])
    outputs = {"last_hidden_state": _HIDDEN, "pooler_output": pooled}
    _close(pool(outputs, _MASK, "cls"), [[2.0, 0.0], [1.0, 1.0]], "cls pooling")
    _close(pool(outputs, _MASK, "pooler"), pooled, "pooler pooling")


@public("pooling")
def pool_unknown():
    """An unknown pooling name is a ValueError."""
    from mtl_lib.encode import pool

    try:
        pool({"last_hidden_state": _HIDDEN, "pooler_output": None}, _MASK, "median")
    except ValueError:
        return
    raise AssertionError("pool(..., 'median') must raise ValueError")


# --- cosine_sts_head ---------------------------------------------------------------------------

def _cosine_model():
    from mtl_lib.bert import BertConfig, BertModel
    from mtl_lib.model import HeadConfig, MultitaskBert

    tiny = BertModel(BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=8, max_position_embeddings=8))
    return MultitaskBert(tiny, HeadConfig(sts_head="cosine", head_hidden=4, pair_features="concat")).eval()


@public("cosine_sts_head")
def cosine_by_hand():
    """Orthogonal vectors score 0, vectors in the same direction 5, at 60 degrees 2.5; one score per pair."""
    u = torch.tensor([[2.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    v = torch.tensor([[0.0, 3.0], [3.0, 3.0], [0.5, 0.5 * math.sqrt(3)]])
    _close(_cosine_model().head("sts", u, v), [0.0, 5.0, 2.5], "model.head('sts', u, v)")


@public("cosine_sts_head")
def cosine_no_parameters():
    """The cosine head learns nothing: the model has no 'sts' head module, and the length of u does not matter."""
    model = _cosine_model()
    assert "sts" not in model.heads, "the cosine STS head must not create parameters"
    u, v = torch.tensor([[1.0, 2.0, 2.0, 0.0]]), torch.tensor([[2.0, 1.0, 0.0, 2.0]])
    _close(model.head("sts", 10 * u, v), model.head("sts", u, v), "score after scaling u by 10")


# --- pcgrad ------------------------------------------------------------------------------------

@public("pcgrad")
def pcgrad_agreeing():
    """Gradients that agree (g1 = (1, 0), g2 = (1, 1): Gram [[1, 1], [1, 2]]) are left alone: the identity."""
    from mtl_lib.pcgrad import combination_coefficients

    coef = combination_coefficients(torch.tensor([[1.0, 1.0], [1.0, 2.0]]))
    _close(coef.double(), torch.eye(2, dtype=torch.float64), "coefficients")


@public("pcgrad")
def pcgrad_conflicting():
    """g1 = (1, 0), g2 = (-1, 1) conflict: g1' = g1 + g2/2, g2' = g2 + g1, so C = [[1, 0.5], [1, 1]]."""
    from mtl_lib.pcgrad import combination_coefficients

    coef = combination_coefficients(torch.tensor([[1.0, -1.0], [-1.0, 2.0]]))
    _close(coef.double(), torch.tensor([[1.0, 0.5], [1.0, 1.0]], dtype=torch.float64), "coefficients")


# --- symmetric_kl ------------------------------------------------------------------------------

@public("symmetric_kl")
def kl_by_hand():
    """(1/2, 1/2) against (1/3, 2/3): KL both ways, 0.0589 + 0.0566 = 0.11552; a scalar."""
    from mtl_lib.smart import symmetric_kl

    got = symmetric_kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]]))
    assert got.shape == (), f"expected a scalar (the batch mean), got shape {tuple(got.shape)}"
    _close(got, 0.11552453, "symmetric KL")


@public("symmetric_kl")
def kl_zero_and_symmetric():
    """Zero for equal inputs; the same value with the arguments swapped."""
    from mtl_lib.smart import symmetric_kl

    p, q = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]]), torch.tensor([[0.0, 0.5, 0.0], [1.0, 1.0, 1.0]])
    _close(symmetric_kl(p, p), 0.0, "symmetric_kl(p, p)", atol=1e-6)
    _close(symmetric_kl(q, p), symmetric_kl(p, q), "symmetric_kl(q, p) against symmetric_kl(p, q)")


# --- smart_regularizer -------------------------------------------------------------------------

class _MeanModel(nn.Module):
    """A stand-in with MultitaskBert's interface: ``model(task, batch, word_embeds)`` -> one score per row."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.embeddings = nn.Module()
        self.encoder.embeddings.word = nn.Embedding(20, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, task, batch, word_embeds=None):
        if word_embeds is None:
            word_embeds = self.encoder.embeddings.word(batch["input_ids"])
        return self.out(word_embeds.mean(1)).squeeze(-1)


def _smart_setup():
    torch.manual_seed(0)
    model = _MeanModel()
    batch = {"input_ids": torch.randint(0, 20, (8, 3)), "attention_mask": torch.ones(8, 3, dtype=torch.long)}
    return model, batch, model("sts", batch)


@public("smart_regularizer")
def smart_zero_noise():
    """With sigma = 0 (and no ascent step) the perturbed output is the clean one: the regularizer is 0."""
    from mtl_lib.smart import smart_regularizer

    model, batch, clean = _smart_setup()
    _close(smart_regularizer(model, "sts", batch, clean, sigma=0.0), 0.0, "regularizer at sigma = 0", atol=1e-10)


@public("smart_regularizer")
def smart_positive_scalar_with_gradients():
    """With sigma = 0.1 it is a positive finite scalar, and the model's parameters get gradients from it."""
    from mtl_lib.smart import smart_regularizer

    model, batch, clean = _smart_setup()
    reg = smart_regularizer(model, "sts", batch, clean, sigma=0.1)
    assert reg.shape == (), f"expected a scalar, got shape {tuple(reg.shape)}"
    assert torch.isfinite(reg) and reg.item() > 0, f"expected a positive finite value, got {reg.item()}"
    reg.backward()
    assert model.out.weight.grad is not None, "no gradient reached the model's parameters"


# --- the runner --------------------------------------------------------------------------------

_STUB = re.compile(r"[Ee]xercise '(\w+)'")


@dataclass
class PublicResult:
    """The outcome of one exercise's checks: one (check, status, detail) row per check."""

    exercise: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(status == "ok" for _, status, _ in self.rows)

    def __str__(self) -> str:
        marks = {"ok": "ok  ", "FAIL": "FAIL", "todo": "todo", "wait": "wait"}
        lines = [f"{self.exercise}: public sanity checks"]
        for doc, status, detail in self.rows:
            lines.append(f"  {marks[status]} {doc}")
            lines += [f"       {line}" for line in detail.splitlines()]
        done = sum(status == "ok" for _, status, _ in self.rows)
        lines.append(f"  {done}/{len(self.rows)} passed (the hidden grading tests are more thorough)")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):  # IPython shows the report, not a dataclass repr
        printer.text(str(self))


def run_public_tests(name: str, verbose: bool = True) -> PublicResult:
    """Run the public checks of exercise ``name``; print the report when ``verbose``; return it."""
    if name not in PUBLIC_TESTS:
        known = ", ".join(e.name for e in EXERCISES)
        raise ClassroomError(f"no exercise named {name!r}; the exercises are: {known}.")
    result = PublicResult(name)
    for check in PUBLIC_TESTS[name]:
        doc = (check.__doc__ or check.__name__).strip()
        try:
            check()
            result.rows.append((doc, "ok", ""))
        except NotImplementedError as error:
            stub = _STUB.search(str(error))
            other = stub.group(1) if stub and stub.group(1) != name else None
            if other:
                result.rows.append((doc, "wait", f"needs exercise {other!r} first ({error})"))
            else:
                result.rows.append((doc, "todo", f"not written yet: {error}"))
        except Exception as error:  # noqa: BLE001 - any failure of the student's code is reported, not raised
            where = traceback.extract_tb(error.__traceback__)[-1]
            detail = f"{type(error).__name__}: {error}"
            if not isinstance(error, AssertionError):
                detail += f"\n(at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}: {where.line})"
            result.rows.append((doc, "FAIL", detail))
    if verbose:
        print(result)
    return result

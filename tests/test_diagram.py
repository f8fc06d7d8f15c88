"""mtl_lib.diagram: the model diagram follows the head configuration it is drawn from."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from mtl_lib.diagram import draw_model, head_texts
from mtl_lib.model import HeadConfig


def texts(fig) -> str:
    ax = fig.axes[0]
    return "\n".join([t.get_text() for t in ax.texts] + [ax.get_title()])


def test_paper_heads_are_drawn_with_concatenated_pair_features_and_a_linear_sts_head():
    fig = draw_model(HeadConfig(pair_features="concat", sts_head="linear"), layers=12)
    shown = texts(fig)
    plt.close(fig)
    assert "12 Transformer layers" in shown
    assert "Quora head: [u; v] ->" in shown and "STS head: [u; v] ->" in shown
    assert "cos(u, v)" not in shown
    assert "PCGrad (Eq. 3)" in shown and "SMART (Eq. 4-8)" in shown
    assert "L = L_sst + L_para + L_sts" in shown


def test_course_heads_show_rich_features_cosine_sts_and_the_pooling():
    head = HeadConfig(pair_features="rich", sts_head="cosine", pooling="cls")
    fig = draw_model(head)
    shown = texts(fig)
    plt.close(fig)
    assert "[u; v; |u - v|; u * v]" in shown
    assert "5 * cos(u, v)" in shown and "STS head: [u; v" not in shown
    assert "pooling: the [CLS] vector" in shown and "L Transformer layers" in shown
    assert head_texts(head)["sst"].startswith("SST head: u ->")

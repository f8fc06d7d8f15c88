"""Error analysis (mtl_lib.analysis): each measure against a direct computation."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

from mtl_lib import analysis, plots
from mtl_lib.evaluate import model_outputs, predict
from mtl_lib.model import HeadConfig, MultitaskBert


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultitaskBert.from_pretrained(HeadConfig(pair_features="concat", sts_head="linear")).eval()


def test_confusion_matrix_counts_like_crosstab():
    rng = np.random.default_rng(0)
    gold, predicted = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    matrix = analysis.confusion_matrix(gold, predicted)
    expected = pd.crosstab(gold, predicted).reindex(index=range(5), columns=range(5), fill_value=0).to_numpy()
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.sum() == 200 and np.trace(matrix) == (gold == predicted).sum()
    with pytest.raises(ValueError, match="outside 0..4"):
        analysis.confusion_matrix([0, 5], [0, 1])
    with pytest.raises(ValueError, match="labels"):
        analysis.confusion_matrix([0, 1], [0])


def test_most_wrong_orders_by_class_distance_then_confidence():
    df = pd.DataFrame({"sentence": [" good ", "bad", "fine", "awful"], "label": [4, 0, 2, 0]})
    probs = np.array([[0.7, 0.1, 0.1, 0.05, 0.05],   # predicts 0 for gold 4: distance 4
                      [0.9, 0.1, 0.0, 0.0, 0.0],     # right
                      [0.0, 0.0, 0.4, 0.6, 0.0],     # distance 1, p_gold 0.4
                      [0.05, 0.0, 0.0, 0.95, 0.0]])  # distance 3
    table = analysis.most_wrong(df, probs, k=3)
    assert table["sentence"].tolist() == ["good", "awful", "fine"]
    assert table["distance"].tolist() == [4, 3, 1]
    assert table["p_gold"].tolist() == pytest.approx([0.05, 0.05, 0.4])


def test_model_outputs_are_in_row_order_and_predict_takes_their_argmax(model, tokenizer):
    df = pd.DataFrame({"sentence": ["a long and rather dull film about nothing much", "great", "not bad at all"]})
    logits = model_outputs(model, tokenizer, "sst", df, batch_size=2)  # length-sorted batches inside
    assert logits.shape == (3, 5)
    alone = model_outputs(model, tokenizer, "sst", df.iloc[[1]], batch_size=1)
    torch.testing.assert_close(logits[1:2], alone, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(predict(model, tokenizer, "sst", df), logits.argmax(1).numpy())
    np.testing.assert_array_equal(predict(model, tokenizer, "sst", df, device="cpu"), logits.argmax(1).numpy())


def test_occlusion_matches_removing_each_word_by_hand(model, tokenizer):
    df = pd.DataFrame({"sentence": [" a lovely , moving film .", "the worst movie ever"]})
    occluded = analysis.occlusion(model, tokenizer, df, batch_size=3, progress=False)
    assert len(occluded) == 6 + 4
    full = analysis.sst_probabilities(model, tokenizer, df, batch_size=1)
    for row, sentence in enumerate(df["sentence"]):
        words = sentence.split()
        c = full[row].argmax()
        for i in range(len(words)):
            shorter = pd.DataFrame({"sentence": [" ".join(words[:i] + words[i + 1:])]})
            p = analysis.sst_probabilities(model, tokenizer, shorter, batch_size=1)[0]
            got = occluded[(occluded["row"] == row) & (occluded["position"] == i)].iloc[0]
            assert got["word"] == words[i].lower()
            assert got["importance"] == pytest.approx(full[row, c] - p[c], abs=1e-5)
            assert got["flipped"] == (p.argmax() != c)


def test_word_importance_and_reliance_aggregate_as_documented():
    occluded = pd.DataFrame({
        "row":        [0, 0, 0, 1, 1, 2, 2],
        "position":   [0, 1, 2, 0, 1, 0, 1],
        "word":       ["good", "film", ".", "good", "plot", "film", "."],
        "importance": [0.6, 0.2, -0.1, 0.4, 0.0, 0.0, 0.0],
        "flipped":    [True, False, False, False, False, False, False]})
    table = analysis.word_importance(occluded, min_count=2)
    assert table.index.tolist() == ["good", "film", "."]  # "plot" (seen once) is left out
    assert table.loc["good", "importance"] == pytest.approx(0.5)
    assert table.loc["good", "flip_rate"] == pytest.approx(0.5)
    summary = analysis.reliance(occluded)
    assert summary["sentences"] == 3
    assert summary["one_word_flips"] == pytest.approx(1 / 3)
    assert summary["top_word_share"] == pytest.approx((0.6 / 0.8 + 1.0) / 2)  # row 2 has no positive importance
    assert summary["mean_words"] == pytest.approx(7 / 3)
    top = analysis.concentration(occluded, k=1, min_count=2)  # "good": 1.0 of the 1.2 positive importance, 2 of 7
    assert top == {"k": 1, "types": 4, "importance_share": pytest.approx(1.0 / 1.2), "token_share": pytest.approx(2 / 7)}
    # Ranked by mean importance: "awful" (0.4 each) beats "the", whose total (1.0) is larger only by frequency.
    frequent = pd.DataFrame({"row": range(12), "position": 0, "word": ["the"] * 10 + ["awful"] * 2,
                             "importance": [0.1] * 10 + [0.4] * 2, "flipped": False})
    top = analysis.concentration(frequent, k=1, min_count=2)
    assert top["importance_share"] == pytest.approx(0.8 / 1.8) and top["token_share"] == pytest.approx(2 / 12)


def test_lexical_overlap_and_error_by_overlap():
    assert analysis.lexical_overlap("A man plays.", "a man sings") == pytest.approx(2 / 4)
    assert analysis.lexical_overlap("It's", "it s") == 1.0
    assert analysis.lexical_overlap("", "") == 0.0
    # A scorer that adds 2 x overlap to the gold score: the error must rise with overlap.
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(12)]
    s1 = [" ".join(rng.choice(vocab, 6)) for _ in range(200)]
    s2 = [" ".join(rng.choice(vocab, 6)) for _ in range(200)]
    df = pd.DataFrame({"sentence1": s1, "sentence2": s2, "label": rng.uniform(0, 5, 200)})
    overlap = np.array([analysis.lexical_overlap(a, b) for a, b in zip(s1, s2)])
    pairs, per_bin = analysis.error_by_overlap(df, df["label"] + 2 * overlap, bins=4)
    np.testing.assert_allclose(pairs["error"], 2 * overlap)
    assert per_bin["n"].sum() == 200 and len(per_bin) == 4
    assert per_bin["overlap"].is_monotonic_increasing and per_bin["error"].is_monotonic_increasing
    np.testing.assert_allclose(per_bin["error"], 2 * per_bin["overlap"])
    slopes = analysis.overlap_slope(pairs)
    assert slopes["slope"] == pytest.approx(2.0) and slopes["given_gold"] == pytest.approx(2.0)
    assert slopes["gold_coefficient"] == pytest.approx(0.0, abs=1e-9)
    # A model that shrinks toward the mean has an error falling with gold, not with overlap given gold.
    gold = 2.5 + 2 * overlap + rng.normal(0, 0.5, 200)
    shrunk = pd.DataFrame({"overlap": overlap, "gold": gold, "error": -0.5 * (gold - gold.mean())})
    slopes = analysis.overlap_slope(shrunk)
    assert slopes["slope"] < -0.5 and slopes["given_gold"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="predictions for"):
        analysis.error_by_overlap(df, [1.0, 2.0])


def test_analysis_plots_draw():
    matrix = analysis.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2])
    assert plots.plot_confusion(matrix, analysis.SST_CLASSES).axes
    table = pd.DataFrame({"count": [5, 6], "importance": [0.3, 0.1], "flip_rate": [0.2, 0.0]}, index=["bad", "ok"])
    assert plots.plot_word_importance(table).axes
    pairs = pd.DataFrame({"overlap": [0.1, 0.5], "error": [0.2, -0.1]})
    assert plots.plot_error_vs_overlap(pairs, pairs).axes
    results = pd.DataFrame({"lr": [1e-3, 1e-3, 1e-4, 1e-4], "smart_lambda": [1.0, 1.0, 1.0, 1.0],
                            "dropout": [0.1, 0.3, 0.1, 0.3], "overall": [0.5, np.nan, 0.7, 0.71],
                            "status": ["collapsed", "nonfinite", "ok", "ok"]})
    fig = plots.plot_sweep_heatmaps(results)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "nonfinite" in texts and "0.500\ncollapsed" in texts and "0.710" in texts


def test_training_curves_tick_whole_epochs_only():
    history = pd.DataFrame({"epoch": [1], "train_sst_acc": [0.6], "dev_sst_acc": [0.45]})
    fig = plots.plot_training_curves(history)
    assert list(fig.axes[0].get_xticks()) == [1]

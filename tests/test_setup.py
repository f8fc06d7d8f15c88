"""Setup helpers, sentence pooling, plots, the attention viewer and the command line."""

import matplotlib
import pytest
import torch

from mtl_lib import cli
from mtl_lib.encode import encode, pool
from mtl_lib.setup import SCALES, get_device, get_scale, seed_everything, setup
from mtl_lib.widgets import attention_viewer

matplotlib.use("Agg")


def test_scale_switch(monkeypatch):
    monkeypatch.setenv("MTL_SCALE", "laptop")
    assert get_scale().name == "laptop"
    assert get_scale("smoke") is SCALES["smoke"]
    monkeypatch.setenv("MTL_SCALE", "huge")
    with pytest.raises(ValueError, match="MTL_SCALE.*smoke, laptop, colab, full"):
        get_scale()


def test_setup_seeds_and_picks_cpu(monkeypatch, capsys):
    monkeypatch.delenv("MTL_DEVICE", raising=False)
    ctx = setup("smoke", seed=3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    assert "scale=smoke" in capsys.readouterr().out
    assert ctx.device == get_device(verbose=False)


def test_asking_for_a_missing_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the error path cannot happen")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        get_device("cuda")


def test_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])  # (1, 3, 2), last is padding
    outputs = {"last_hidden_state": hidden, "pooler_output": torch.zeros(1, 2)}
    mask = torch.tensor([[1, 1, 0]])
    assert pool(outputs, mask, "mean").tolist() == [[2.0, 2.0]]
    assert pool(outputs, mask, "cls").tolist() == [[1.0, 1.0]]
    with pytest.raises(ValueError, match="choose one of cls, pooler, mean"):
        pool(outputs, mask, "max")


def test_encode_keeps_input_order_and_matches_one_by_one(tokenizer):
    from mtl_lib.bert import BertModel

    model = BertModel.from_pretrained("all-MiniLM-L6-v2")
    sentences = ["a much longer sentence with many more words in it", "short", "medium length one"]
    batched = encode(model, tokenizer, sentences, batch_size=2, progress=False)
    assert batched.shape == (3, 384)
    for i, s in enumerate(sentences):
        single = encode(model, tokenizer, [s], progress=False)[0]
        torch.testing.assert_close(batched[i], single, atol=1e-5, rtol=0)


def test_attention_viewer_static_fallback(tokenizer):
    from mtl_lib.bert import BertModel

    model = BertModel.from_pretrained("all-MiniLM-L6-v2")
    fig = attention_viewer(model, tokenizer, ["the film is lovely"], interactive=False)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 3 * 4  # layers 0, 3, 5 x heads 0..3


def test_attention_viewer_widget(tokenizer):
    from mtl_lib.bert import BertModel

    model = BertModel.from_pretrained("all-MiniLM-L6-v2")
    box = attention_viewer(model, tokenizer, ["one sentence", "another one"], interactive=True)
    pick, sliders, _ = box.children
    sliders.children[0].value = 5  # moving the layer slider redraws without error
    pick.value = "another one"
    assert sliders.children[1].max == 11


def test_cli_info_and_bad_arguments(capsys, data_dir):
    assert cli.main(["info", "--scale", "smoke", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "all-MiniLM-L6-v2" in out and str(data_dir) in out
    with pytest.raises(SystemExit):
        cli.main(["info", "--scale", "huge"])
    assert "invalid choice" in capsys.readouterr().err
    assert cli.main(["parity", "--checkpoint", "/no/such/folder"]) == 1  # a runtime error: 1; usage errors: 2
    assert "not a folder" in capsys.readouterr().err


def test_widgets_are_interactive_in_a_colab_like_kernel(monkeypatch):
    """Colab's shell subclasses ipykernel's ZMQInteractiveShell under another name: widgets must be on there,
    and off in a terminal IPython (or when MTL_STATIC_PLOTS asks for static figures)."""
    import IPython

    from mtl_lib import widgets

    class ZMQInteractiveShell:  # stands in for ipykernel's class (only its name matters to the check)
        pass

    class Shell(ZMQInteractiveShell):  # as google.colab._shell.Shell
        pass

    class TerminalInteractiveShell:
        pass

    monkeypatch.delenv("MTL_STATIC_PLOTS", raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert widgets.widgets_available()
    monkeypatch.setenv("MTL_STATIC_PLOTS", "1")
    assert not widgets.widgets_available()
    monkeypatch.delenv("MTL_STATIC_PLOTS")
    monkeypatch.setattr(IPython, "get_ipython", lambda: TerminalInteractiveShell())
    assert not widgets.widgets_available()
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert not widgets.widgets_available()

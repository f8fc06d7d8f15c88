"""TQDM_DISABLE turns every mtl_lib progress bar off, even one a caller asked for."""

from mtl_lib import progress


def test_environment_wins_over_the_caller(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert not progress.bar(range(3), True).disable
    assert progress.bar(range(3), False).disable
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress.bar(range(3), True).disable
    assert list(progress.bar(range(3), True)) == [0, 1, 2]

"""The fast char n-grams equal scikit-learn's analyzer, so embeddings do not move."""

from __future__ import annotations

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from features.embeddings import char_ngrams

TEXTS = (
    "软件开发、信息技术咨询服务  数据处理",
    "ABC\t\tdef  G",
    "a",
    "",
    "  ",
    "x\ty",
    "冷链\n\n仓储 与 城市配送",
    "Ünïcode MIXED case\t x",
)


@pytest.mark.parametrize("ngram_range", [(1, 3), (2, 4), (1, 1), (3, 5)])
def test_char_ngrams_equal_sklearn(ngram_range: tuple[int, int]) -> None:
    ref = TfidfVectorizer(analyzer="char", ngram_range=ngram_range).build_analyzer()
    fast = char_ngrams(*ngram_range)
    for text in TEXTS:
        assert fast(text) == ref(text), text

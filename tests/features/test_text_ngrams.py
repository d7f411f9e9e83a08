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


def test_tfidf_projection_is_the_same_bits_for_few_and_many_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's one text is projected by summing gathered rows, a batch by a sparse product;
    repeated texts are analysed once.  All three give the bits of the plain sparse product."""
    import numpy as np

    from features import embeddings as E

    texts = [*TEXTS, *TEXTS[:3], "没有在词表中的字符串§"]
    embedder = E.TextEmbedder(dim=8).fit([*TEXTS, "软件 信息 数据 仓储 冷链 配送"] * 3)
    fast = E.FastTfidf(embedder.vectorizer_)
    reference = np.asarray(fast(texts) @ embedder.components_)
    sklearn_rows = embedder.vectorizer_.transform(texts).toarray()
    assert np.allclose(fast(texts).toarray(), sklearn_rows, rtol=1e-6, atol=1e-7)
    monkeypatch.setattr(E, "DENSE_PROJECT_MAX_TEXTS", len(texts))
    assert np.array_equal(fast.project(texts, embedder.components_), reference)
    monkeypatch.setattr(E, "DENSE_PROJECT_MAX_TEXTS", 0)
    assert np.array_equal(fast.project(texts, embedder.components_), reference)


@pytest.mark.parametrize("ngram_range", [(1, 3), (2, 3), (1, 1)])
def test_packed_counting_equals_one_text_at_a_time(ngram_range: tuple[int, int]) -> None:
    """Lists of texts are counted with array operations; the rows (columns in first-occurrence
    order, counts, pointers, weights) are exactly those of the one-text-at-a-time count, for
    repeated, empty, white-space, emoji, NUL, lone-surrogate and case-changing texts."""
    import numpy as np

    from features import embeddings as E

    odd = ["😀😀 表情", "\x00\x00", "İstanbul ǅ ß", "\ud800 孤立代理", "冷链冷链冷链 冷链"]
    texts = [*TEXTS, *odd, *TEXTS[::-1], "软件 信息 数据 仓储 冷链 配送"] * 5
    vec = TfidfVectorizer(analyzer="char", ngram_range=ngram_range, sublinear_tf=True, dtype=np.float32)
    vec.fit([*TEXTS, *odd[:2], "软件 信息 数据 仓储 冷链 配送"])
    fast = E.FastTfidf(vec)
    assert fast.packed is not None
    assert len(texts) >= E.PACKED_MIN_TEXTS
    packed = fast.rows(texts)
    single = fast._rows_python(texts)
    for got, want in zip(packed, single, strict=True):
        assert got.dtype == want.dtype
        assert np.array_equal(got, want)
    assert np.allclose(fast(texts).toarray(), vec.transform(texts).toarray(), rtol=1e-6, atol=1e-7)


def test_long_ngrams_keep_the_per_text_count() -> None:
    """n-grams longer than three characters do not fit a packed key: such a vocabulary is
    counted text by text."""
    from features import embeddings as E

    vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 4)).fit(list(TEXTS))
    assert E.FastTfidf(vec).packed is None

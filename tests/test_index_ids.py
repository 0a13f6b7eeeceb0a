"""The sort-based id operations that replace ``np.unique`` in the indexes, against it."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hashcore.index.ids import all_distinct, distinct, last_of_each

IDS = st.lists(st.integers(-5, 40), max_size=60).map(lambda xs: np.array(xs, np.int64))


@given(IDS)
def test_distinct_and_all_distinct_equal_numpy(ids: np.ndarray) -> None:
    assert np.array_equal(distinct(ids), np.unique(ids))
    assert all_distinct(ids) == (np.unique(ids).shape[0] == ids.shape[0])


@given(IDS)
def test_last_of_each_keeps_the_last_occurrence(ids: np.ndarray) -> None:
    uniq, last = last_of_each(ids)
    expected = {int(v): i for i, v in enumerate(ids.tolist())}  # later positions overwrite
    assert uniq.tolist() == sorted(expected)
    assert last.tolist() == [expected[v] for v in uniq.tolist()]

"""``selection_holdout``: the best of many candidates, scored on images the choice did not see.

Proves: a candidate right on every image is picked every time (mean 1); among candidates that are
pure coin flips, the best looks good on the images it was picked on but scores a coin flip on the
held-out half (the luck is removed); a candidate that is right wherever another is, and more, is
always the pick; the same seed gives the same numbers; bad input is refused.
"""
import numpy as np
import pytest

from minicnn.training import selection_holdout


def test_a_perfect_candidate_is_always_picked():
    rng = np.random.default_rng(0)
    correct = rng.random((5, 40)) < 0.7
    correct[3] = True
    r = selection_holdout(correct, repeats=7)
    assert r["mean"] == 1.0 and r["std"] == 0.0 and r["best_in_sample"] == 1.0 and r["best_index"] == 3
    assert r["scores"].shape == (14,)


def test_the_luck_of_the_pick_is_removed():
    rng = np.random.default_rng(1)
    coin_flips = rng.random((300, 200)) < 0.5          # 300 candidates, no skill at all
    r = selection_holdout(coin_flips, repeats=30)
    assert r["best_in_sample"] > 0.58                  # the best of 300 looks skilled ...
    assert abs(r["mean"] - 0.5) < 0.03                 # ... and is a coin flip on new images


def test_a_candidate_better_everywhere_is_the_pick():
    rng = np.random.default_rng(2)
    strong = rng.random(101) < 0.9
    weak = strong & (rng.random(101) < 0.8)            # right only where strong is right
    r = selection_holdout(np.stack([weak, strong]), repeats=10, seed=5)
    assert r["best_index"] == 1
    # every held-out score is then the strong one's accuracy on a half of 50 or 51 images
    halves = np.round(r["scores"] * 50) / 50, np.round(r["scores"] * 51) / 51
    assert np.all(np.isclose(r["scores"], halves[0]) | np.isclose(r["scores"], halves[1]))
    assert abs(r["mean"] - strong.mean()) < 0.05


def test_same_seed_same_numbers():
    correct = np.random.default_rng(3).random((8, 60)) < 0.6
    a, b = selection_holdout(correct, seed=4), selection_holdout(correct, seed=4)
    np.testing.assert_array_equal(a["scores"], b["scores"])
    assert not np.array_equal(a["scores"], selection_holdout(correct, seed=5)["scores"])


def test_bad_input():
    with pytest.raises(ValueError, match="candidates, images"):
        selection_holdout(np.ones(10, bool))
    with pytest.raises(ValueError, match="candidates, images"):
        selection_holdout(np.ones((3, 1), bool))
    with pytest.raises(ValueError, match="repeats"):
        selection_holdout(np.ones((3, 10), bool), repeats=0)

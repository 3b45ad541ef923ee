"""The pruning rules (Optuna's median and successive halving), the board they read, the reporter."""

from __future__ import annotations

import math
import pickle

import pytest

from hpo_plugin.pruners import Board, MedianPruner, Reporter, SuccessiveHalvingPruner, TrialPruned
from hpo_plugin.pruners.forecast import MAX_RATIO, forecast, forecasts
from hpo_plugin.tracking.records import TrialRecord


def finished(board: Board, number: int, curve: dict[int, float]) -> None:
    """Trial ``number`` reported ``curve`` and finished with its last value."""
    for step, loss in curve.items():
        board.report(number, step, loss)
    record = TrialRecord(number, {}, steps=dict(curve))
    record.succeed(list(curve.values())[-1], {})
    board.finish(record)


def test_median_prunes_a_trial_worse_than_the_finished_trials_median_at_that_step():
    board = Board(MedianPruner(warmup_trials=3))
    for number, level in enumerate((1.0, 2.0, 3.0), start=1):
        finished(board, number, {1: level, 2: level - 0.5})
    assert board.report(4, 1, 1.9) is False  # median at step 1 is 2.0
    assert board.report(4, 2, 1.6) is True  # its best so far 1.6 > median 1.5 at step 2
    assert board.report(5, 1, 2.5) is True


def test_median_waits_for_its_warmup_trials_and_steps_and_checks_every_interval():
    board = Board(MedianPruner(warmup_trials=2, warmup_steps=2, interval_steps=2))
    finished(board, 1, {s: 1.0 for s in range(1, 7)})
    assert board.report(9, 1, 5.0) is False  # one finished trial: still warming up
    finished(board, 2, {s: 1.0 for s in range(1, 7)})
    assert board.report(3, 1, 5.0) is False  # before warmup_steps
    assert board.report(3, 2, 5.0) is True  # step 2: the first check point
    assert board.report(4, 2, 0.5) is False
    assert board.report(4, 3, 5.0) is False  # between check points (2, 4): not checked
    assert board.report(4, 4, 5.0) is False  # its best so far (0.5) is what counts
    assert board.report(5, 3, 9.0) is True  # no report at 2: the check point is taken at 3


def test_median_needs_min_trials_at_the_step_and_prunes_a_diverged_trial():
    board = Board(MedianPruner(warmup_trials=1, min_trials=2))
    finished(board, 1, {1: 1.0, 2: 1.0})
    assert board.report(2, 1, 9.0) is False  # only one finished trial reported step 1
    finished(board, 3, {1: 1.0})
    assert board.report(2, 2, 9.0) is False  # step 2: still one
    assert board.report(4, 1, math.nan) is True


def test_successive_halving_keeps_the_best_fraction_at_each_rung():
    pruner = SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)  # rungs at steps 1, 2, 4, 8
    board = Board(pruner)
    assert board.report(1, 1, 0.5) is False  # alone at rung 0: promoted
    assert board.report(2, 1, 0.9) is True  # 2 at rung 0: only the best 1 goes on
    assert board.report(3, 1, 0.4) is False
    assert board.report(3, 2, 0.4) is False  # rung 1 (step 2): alone there
    assert board.report(1, 2, 0.45) is True  # rung 1: 0.45 vs 0.4, the best 1 of 2 goes on
    assert [pruner.rung_step(board, r) for r in range(4)] == [1, 2, 4, 8]


def test_successive_halving_auto_min_resource_is_a_hundredth_of_the_first_finished_trials_steps():
    pruner = SuccessiveHalvingPruner(reduction_factor=3)
    board = Board(pruner)
    assert board.report(1, 100, 0.1) is False  # nothing finished: no rungs yet
    finished(board, 2, {100: 0.3, 500: 0.2})
    assert pruner.rung_step(board, 0) == 5 and pruner.rung_step(board, 1) == 15
    finished(board, 3, {900: 0.1})
    assert pruner.rung_step(board, 0) == 5  # fixed by the first finished trial
    assert board.report(4, 10, 0.9) is True  # rung 0 (step 5): worse than 1 and 2's values


def test_a_pruned_trial_gets_a_loss_no_better_than_the_worst_finished_trial():
    board = Board(MedianPruner(warmup_trials=1))
    finished(board, 1, {1: 0.2})
    finished(board, 2, {1: 0.6})
    early = TrialRecord(3, {}, steps={1: 0.3})
    early.prune(1)
    board.finish(early)
    assert early.loss == 0.6 and not early.scored and early.pruned
    late = TrialRecord(4, {}, steps={1: 0.9})
    late.prune(1)
    board.finish(late)
    assert late.loss == 0.9
    assert set(board.completed) == {1, 2}


def test_a_forecast_extrapolates_the_last_improvements_geometrically_to_the_horizon():
    curve = {10: 1.0, 20: 0.6, 30: 0.4}  # improvements 0.4 then 0.2: each next one half the last
    assert forecast(curve, 50) == pytest.approx(0.4 - 0.1 - 0.05)  # two more intervals
    assert forecast(curve, 10_000) == pytest.approx(0.2, abs=1e-9)  # the limit: 0.4 - 0.2
    assert forecast(curve, 30) == 0.4  # at the horizon already
    assert forecast(curve, None) == 0.4  # no horizon yet
    assert forecast({10: 1.0, 20: 0.6}, 100) == 0.6  # fewer than three reports
    assert forecast({10: 0.5, 20: 0.4, 30: 0.45}, 100) == 0.45  # no longer improving
    assert forecast({10: 0.5, 20: 0.6, 30: 0.5}, 100) == 0.5  # improving after getting worse
    assert math.isnan(forecast({10: 1.0, 20: 0.9, 30: float("nan")}, 100))  # NaN stays
    steady = forecast({1: 3.0, 2: 2.0, 3: 1.0}, 1_000_000)  # a ratio of 1 is taken as MAX_RATIO
    assert steady == pytest.approx(1.0 - MAX_RATIO / (1 - MAX_RATIO))
    assert forecasts(curve, 50) == {10: 1.0, 20: 0.6, 30: pytest.approx(0.25)}


def test_a_forecast_compares_improvements_per_step_where_reports_are_unevenly_spaced():
    """A boosting trial's last report comes at its last round (480, then 500); on a curve whose
    improvement shrinks by the same factor each step, the forecast lands where the curve does."""

    def curve(step):
        return 1 + 2 * 0.99**step

    for steps in [(440, 470, 500), (300, 400, 500), (450, 480, 500), (20, 40, 60)]:
        reports = {s: curve(s) for s in steps}
        assert forecast(reports, 1000) == pytest.approx(curve(1000), abs=3e-4)
        assert forecast(reports, 1000) < curve(steps[-1]) - 0.01  # it did extrapolate
    # taken interval by interval, 20 steps improving 0.2 after 30 improving 0.6 is a ratio of 1/3;
    # per step it is 0.01 after 0.02: half, over the 25 steps between the intervals' middles
    uneven = {0: 1.6, 30: 1.0, 50: 0.8}
    ratio = 0.5 ** (20 / 25)
    assert forecast(uneven, 90) == pytest.approx(0.8 - 0.2 * ratio * (1 - ratio**2) / (1 - ratio))


def slow_and_fast(board: Board) -> tuple[bool, bool]:
    """After a finished trial that levelled off, a slow learner, then a fast starter that stalls:
    whether each was stopped at the rung (step 60)."""
    finished(board, 1, {20: 0.50, 40: 0.41, 60: 0.40, 300: 0.39})
    slow = board.report(2, 20, 0.60), board.report(2, 40, 0.50), board.report(2, 60, 0.42)
    fast = board.report(3, 20, 0.30), board.report(3, 40, 0.29), board.report(3, 60, 0.289)
    return any(slow), any(fast)


def test_with_forecast_a_slow_learner_is_kept_where_its_value_at_the_rung_would_stop_it():
    rule = SuccessiveHalvingPruner(min_resource=60, reduction_factor=2)  # the best half goes on
    assert slow_and_fast(Board(rule)) == (True, False)  # 0.42 > 0.40; then 0.289 the best
    # forecast to step 300 (the finished trial's last): the slow learner's improvements (0.10,
    # 0.08) go on to ~0.12, the stalled one's (0.01, 0.001) end at ~0.289, the first's at ~0.399
    assert slow_and_fast(Board(rule, forecast=True)) == (False, True)
    board = Board(rule, forecast=True)
    slow_and_fast(board)
    assert board.reported[2] == {20: 0.60, 40: 0.50, 60: 0.42}  # what was reported stays
    assert board.steps[2][60] == pytest.approx(forecast(board.reported[2], 300))
    assert board.steps[2][60] == pytest.approx(0.42 - 0.08 * 0.8 * (1 - 0.8**12) / 0.2)


def test_forecasts_wait_for_a_finished_trials_last_step_then_are_made_again():
    board = Board(MedianPruner(warmup_trials=1), forecast=True)
    board.report(1, 1, 3.0), board.report(1, 2, 2.0), board.report(1, 3, 1.5)
    assert board.steps[1] == {1: 3.0, 2: 2.0, 3: 1.5} and board.horizon is None
    finished(board, 2, {1: 3.0, 2: 2.5, 3: 2.2, 4: 2.1, 5: 2.05, 6: 2.0})
    assert board.horizon == 6
    assert board.steps[1][3] == pytest.approx(1.5 - 0.5 * 0.5 * (1 - 0.5**3) / 0.5)
    copy = pickle.loads(pickle.dumps(board.snapshot()))
    assert copy.forecast and copy.horizon == 6 and copy.reported == board.reported
    assert copy.report(3, 1, 2.9) is False and copy.steps[3] == {1: 2.9}
    copy.report(3, 2, 2.5), copy.report(3, 3, 2.3)  # the copy forecasts towards the same horizon
    assert copy.steps[3][3] == pytest.approx(2.3 - 0.2 * 0.5 * (1 - 0.5**3) / 0.5)


def test_the_horizon_is_the_longest_finished_trials_last_step_whatever_the_order():
    short = {1: 3.0, 2: 2.5, 3: 2.2}  # stopped early (early stopping, fewer rounds in the space)
    long = {1: 3.0, 2: 2.4, 3: 2.0, 4: 1.9, 5: 1.85, 6: 1.8}
    boards = []
    for order in [((1, short), (2, long)), ((2, long), (1, short))]:
        board = Board(MedianPruner(warmup_trials=1), forecast=True)
        board.report(9, 1, 3.0), board.report(9, 2, 2.0), board.report(9, 3, 1.5)
        for number, steps in order:
            finished(board, number, steps)
        boards.append(board)
    assert boards[0].horizon == boards[1].horizon == 6
    assert boards[0].steps == boards[1].steps
    assert boards[0].steps[9][3] == pytest.approx(1.5 - 0.5 * 0.5 * (1 - 0.5**3) / 0.5)
    pruned = TrialRecord(3, {}, steps={1: 3.0, 2: 2.9, 3: 2.8, 4: 2.7, 5: 2.6, 6: 2.5, 7: 2.4, 8: 2.3})
    pruned.prune(8)
    boards[0].finish(pruned)
    assert boards[0].horizon == 6  # a pruned trial does not stretch it


def test_with_forecast_the_median_rule_takes_the_latest_forecast_not_the_most_hopeful():
    """An early forecast that was too hopeful does not shield a trial once its curve flattens."""
    board = Board(MedianPruner(warmup_trials=1), forecast=True)
    finished(board, 1, {1: 3.0, 2: 2.0, 3: 1.5, 4: 1.25, 5: 1.2, 6: 1.18, 10: 1.15})
    assert board.report(2, 1, 3.0) is False and board.report(2, 2, 2.0) is False
    assert board.report(2, 3, 1.1) is False  # forecast from 0.9 then 1.0 is far below 1.5's
    assert board.steps[2][3] < 0
    assert board.report(2, 4, 1.6) is True  # got worse: its forecast is 1.6, above the median
    assert board.report(3, 1, 3.0) is False and board.report(3, 2, float("nan")) is True  # diverged
    raw = Board(MedianPruner(warmup_trials=1))
    finished(raw, 1, {1: 3.0, 2: 2.0, 3: 1.5, 4: 1.25, 5: 1.2, 6: 1.18, 10: 1.15})
    assert [raw.report(2, s, v) for s, v in {1: 3.0, 2: 2.0, 3: 1.1, 4: 1.6}.items()] == [False] * 4
    # without forecast the rule takes the best value so far (1.1), as Optuna's does


def test_the_cap_on_a_forecast_does_not_depend_on_how_the_reports_are_spaced():
    def curve(step):  # slow: the cap (0.95 an interval) binds
        return 1 + 2 * 0.999**step

    at = [forecast({s: curve(s) for s in steps}, 1000) for steps in [(360, 380, 400), (360, 380, 381)]]
    assert at[0] == pytest.approx(at[1], abs=0.01) and at[0] < curve(400) - 0.1
    for wild in [{0: 1.0, 1: 1 - 2**-52, 100: -1e160}, {0: 1e300, 1: -1e300, 2: -1.7e308}]:
        assert math.isfinite(forecast(wild, 1000))  # no overflow, no division by zero


def test_a_trial_that_knows_its_last_step_is_forecast_to_it():
    """With ``n_estimators`` in the space, a 200-round trial ends at 200, not at the longest
    finished trial's 1,000; a finished trial's forecasts go to where it ended."""
    board = Board(MedianPruner(warmup_trials=1), forecast=True)
    finished(board, 1, {100: 3.0, 200: 2.0, 300: 1.5, 1000: 1.2})
    assert board.horizon == 1000 and board.ends[1] == 1000
    for step, loss in {20: 3.0, 40: 2.0, 60: 1.5}.items():
        board.report(2, step, loss, end=200)  # a built-in trial's rounds, from its reporter
        board.report(3, step, loss)  # nothing known: the horizon
    assert board.steps[2][60] == pytest.approx(forecast(board.reported[2], 200))
    assert board.steps[3][60] == pytest.approx(forecast(board.reported[3], 1000))
    assert board.steps[3][60] < board.steps[2][60] < 1.5
    record = TrialRecord(2, {}, steps={**board.reported[2], 80: 1.3})  # early stopping at 80
    record.succeed(1.3, {})
    board.finish(record)
    assert board.ends[2] == 80
    assert board.steps[2][60] == pytest.approx(forecast({20: 3.0, 40: 2.0, 60: 1.5}, 80))
    assert pickle.loads(pickle.dumps(board.snapshot())).ends == board.ends


def test_a_board_copy_travels_to_another_process_and_decides_the_same():
    board = Board(MedianPruner(warmup_trials=1))
    finished(board, 1, {1: 1.0})
    copy = pickle.loads(pickle.dumps(board.snapshot()))
    assert copy.report(2, 1, 2.0) is True and board.steps.get(2) is None


def test_a_reporter_checks_steps_and_values_and_raises_when_told_to_stop():
    reporter = Reporter(lambda step, loss, end: loss > 1)
    assert reporter.report(1, 0.5, ("val_x", 0.5)) is False
    with pytest.raises(ValueError, match="step 1 reported after step 1; report each step once, in order"):
        reporter.report(1, 0.4)
    with pytest.raises(ValueError, match=r"step must be a whole number >= 0, got 2\.5"):
        reporter.report(2.5, 0.4)
    with pytest.raises(ValueError, match="must be a number, got str"):
        reporter.report(2, "x")
    reporter.check()
    assert reporter.report(3, 2.0) is True
    with pytest.raises(TrialPruned):
        reporter.check()
    assert reporter.steps == {1: 0.5, 3: 2.0} and reporter.history == [("val_x", 0.5, 1)]
    assert Reporter().report(1, 99.0) is False and not Reporter().prunes

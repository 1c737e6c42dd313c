"""Statistics for conclusions over seeds: descriptive intervals, ANOVA, aggregates across tasks,
and tests of stated hypotheses with multiple-testing correction."""

from lorascope.stats.descriptive import (
    Interval,
    improvement_across_tasks,
    iqm,
    iqm_across_tasks,
    mean_interval,
    one_way_anova,
    probability_of_improvement,
)
from lorascope.stats.inference import (
    TestResult,
    adjust,
    equivalence,
    intersection_union,
    non_inferiority,
    overhead,
    reduction,
    reduction_of_means,
)

__all__ = [
    "Interval",
    "TestResult",
    "adjust",
    "equivalence",
    "improvement_across_tasks",
    "intersection_union",
    "iqm",
    "iqm_across_tasks",
    "mean_interval",
    "non_inferiority",
    "one_way_anova",
    "overhead",
    "probability_of_improvement",
    "reduction",
    "reduction_of_means",
]

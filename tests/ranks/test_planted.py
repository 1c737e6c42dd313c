"""The planted task: the teacher differs from the base exactly where planned, and rank-allocated
LoRA beats uniform LoRA at the same parameter budget (the end-to-end check of svd-energy)."""

import numpy as np
import pytest
import torch

from lorascope.ranks.planted import PLAN, PlantedTask, equal_budget_trial


def test_the_teacher_differs_by_updates_of_the_planned_ranks():
    task = PlantedTask.make(seed=0, train_size=8, eval_size=8)
    teacher = dict(task.teacher.named_modules())
    for name, module in task.layers().items():
        delta = (teacher[name].weight - module.weight).detach().double()
        rank = int(torch.linalg.matrix_rank(delta, rtol=1e-5)) if delta.abs().max() > 0 else 0
        assert rank == PLAN.get(name, 0), name
    assert task.eval_loss(task.teacher) == pytest.approx(0.0, abs=1e-6) and task.eval_loss(task.base) > 0.1


@pytest.mark.slow
def test_allocated_ranks_beat_uniform_ranks_at_the_same_budget():
    trials = [equal_budget_trial(seed) for seed in (0, 1, 2)]
    uniform = np.array([t.eval_loss["uniform"] for t in trials])
    allocated = np.array([t.eval_loss["svd-energy"] for t in trials])
    assert allocated.mean() < uniform.mean()
    for trial in trials:
        assert trial.lora_params["svd-energy"] <= trial.lora_params["uniform"]
        # the two rank-16 plants get the most rank; layers that were not changed get less
        big = [trial.ranks[n] for n, r in trial.plan.items() if r == 16]
        untouched = [r for n, r in trial.ranks.items() if n not in trial.plan]
        assert min(big) > max(untouched)

"""Tasks, datasets, sampling and metrics."""

from lorascope.data.tasks import TASKS, SentenceTask, TaskData, load_task_data

__all__ = ["TASKS", "SentenceTask", "TaskData", "load_task_data"]

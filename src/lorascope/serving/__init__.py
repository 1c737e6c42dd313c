"""Deployment cost: serving several LoRA adapters side by side vs merged models."""

from lorascope.serving.metrics import RequestTiming, summarize
from lorascope.serving.vllm_check import check_vllm
from lorascope.serving.workload import Workload, load_workload

__all__ = ["RequestTiming", "Workload", "check_vllm", "load_workload", "summarize"]

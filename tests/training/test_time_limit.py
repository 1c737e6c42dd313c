import time

from transformers import TrainerControl, TrainerState, TrainingArguments

from lorascope.training.callbacks import TimeLimit


def test_the_time_limit_stops_training_once_the_time_is_spent(tmp_path):
    args, state = TrainingArguments(output_dir=str(tmp_path), report_to="none"), TrainerState()
    limit = TimeLimit(seconds=0.05)
    control = TrainerControl()
    limit.on_train_begin(args, state, control)
    assert not limit.on_step_end(args, state, control).should_training_stop
    time.sleep(0.06)
    assert limit.on_step_end(args, state, control).should_training_stop

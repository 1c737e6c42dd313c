"""The QA head: the joint loss as documented, the classifier's token, transformers' own head under
null-token, and saving and loading (full and LoRA) with the head intact."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForQuestionAnswering

from lorascope.config import LoraConfig
from lorascope.methods.lora import apply_lora
from lorascope.models.qa import QuestionAnsweringHead, is_decoder, pooled_positions
from lorascope.models.tiny import tiny_config_and_tokenizer


def model(name="tiny-bert", head="answerability", weight=0.5, seed=0):
    config, _ = tiny_config_and_tokenizer(name)
    config.qa_head, config.qa_answerable_weight = head, weight
    torch.manual_seed(seed)
    return QuestionAnsweringHead.from_config(config).eval()


def batch(seed=1, length=12):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, 200, (4, length), generator=g)
    mask = torch.ones_like(ids)
    mask[2, 8:] = 0
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "start_positions": torch.tensor([3, 0, 5, 0]),
        "end_positions": torch.tensor([4, 0, 6, 0]),
        "answerable": torch.tensor([1.0, 0.0, 1.0, 0.0]),
    }


@pytest.mark.parametrize("name", ["tiny-bert", "tiny-llama", "tiny-gpt2"])
def test_the_joint_loss_is_span_over_answerable_windows_plus_weighted_bce(name):
    m, inputs = model(name, weight=0.7), batch()
    out = m(**inputs)
    start, end, logit = (t.double() for t in (out.start_logits, out.end_logits, out.answerable_logits))
    has = [0, 2]
    span = sum(
        (
            F.cross_entropy(start[i : i + 1], inputs["start_positions"][i : i + 1])
            + F.cross_entropy(end[i : i + 1], inputs["end_positions"][i : i + 1])
        )
        / 2
        for i in has
    ) / len(has)
    bce = F.binary_cross_entropy_with_logits(logit, inputs["answerable"].double())
    assert out.loss.item() == pytest.approx((span + 0.7 * bce).item(), rel=1e-5)
    moved = dict(inputs, start_positions=torch.tensor([3, 7, 5, 9]), end_positions=torch.tensor([4, 8, 6, 9]))
    assert m(**moved).loss.item() == pytest.approx(out.loss.item(), rel=1e-6)  # no-answer windows: no span loss


def test_a_batch_without_answers_trains_the_classifier_only():
    m, inputs = model(), batch()
    inputs["answerable"] = torch.zeros(4)
    out = m(**inputs)
    bce = F.binary_cross_entropy_with_logits(out.answerable_logits, inputs["answerable"])
    assert torch.isfinite(out.loss) and out.loss.item() == pytest.approx(0.5 * bce.item(), rel=1e-6)


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_a_decoder_classifier_reads_the_last_real_token_whatever_the_padding(name):
    m, inputs = model(name), batch()
    assert m.reads_last_token and is_decoder(m.config)
    alone = m(input_ids=inputs["input_ids"][2:3, :8], attention_mask=torch.ones(1, 8, dtype=torch.long))
    padded = m(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    assert padded.answerable_logits[2].item() == pytest.approx(alone.answerable_logits[0].item(), abs=1e-5)
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert pooled_positions(left, 5, True, 3, "cpu").tolist() == [4, 4, 4]  # left padding: the last position
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    assert pooled_positions(right, 5, True, 3, "cpu").tolist() == [2, 4, 0]


def test_an_encoder_classifier_reads_the_first_token():
    m, inputs = model(), batch()
    assert not m.reads_last_token
    hidden = m.bert(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    expected = m.answerability(hidden[:, 0]).squeeze(-1)
    got = m(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).answerable_logits
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", ["tiny-bert", "tiny-llama"])
def test_null_token_is_transformers_own_head_and_loss(name):
    m, inputs = model(name, head="null-token"), batch()
    assert not hasattr(m, "answerability")
    reference = AutoModelForQuestionAnswering.from_config(m.config).eval()
    reference.load_state_dict(m.state_dict())
    labels = {"start_positions": inputs["start_positions"], "end_positions": inputs["end_positions"]}
    ours = m(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], **labels)
    theirs = reference(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], **labels)
    torch.testing.assert_close(ours.start_logits, theirs.start_logits)
    assert ours.answerable_logits is None and ours.loss.item() == pytest.approx(theirs.loss.item(), rel=1e-6)


def test_saved_models_and_adapters_reload_with_their_head(tmp_path):
    m, inputs = model("tiny-llama"), batch()
    plain = {k: inputs[k] for k in ("input_ids", "attention_mask")}
    m.save_pretrained(tmp_path / "full")
    again = QuestionAnsweringHead.from_pretrained(tmp_path / "full").eval()
    torch.testing.assert_close(again(**plain).answerable_logits, m(**plain).answerable_logits)

    wrapped = apply_lora(
        model("tiny-llama"), LoraConfig(target_modules=["q_proj", "v_proj"]), ["q_proj", "v_proj"], "question-answering"
    )
    trainable = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert any("answerability" in n for n in trainable) and any("qa_outputs" in n for n in trainable)
    with torch.no_grad():
        for p in wrapped.parameters():
            if p.requires_grad:
                p.add_(0.1)
    wrapped.eval()
    wrapped.save_pretrained(tmp_path / "adapter")
    from peft import PeftModel

    reloaded = PeftModel.from_pretrained(model("tiny-llama"), tmp_path / "adapter").eval()
    torch.testing.assert_close(reloaded(**plain).answerable_logits, wrapped(**plain).answerable_logits)
    torch.testing.assert_close(reloaded(**plain).start_logits, wrapped(**plain).start_logits)


def test_the_trainer_averages_the_loss_over_accumulated_batches():
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments("unused", use_cpu=True, report_to="none", gradient_accumulation_steps=4)
    trainer = Trainer(model=model(), args=args)
    assert not trainer.model_accepts_loss_kwargs  # so it divides our batch-mean loss by the 4 steps

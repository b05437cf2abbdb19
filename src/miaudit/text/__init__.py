"""Language models as audit targets (issue 12): text records, tokenizers, miaudit's causal
LM recipes and their trainer, Hugging Face causal LMs (``hf``), and the targets' answers
(per-token log-probabilities)."""

from miaudit.text.answers import TokenAnswers
from miaudit.text.hf import HFCausalLM, HFLMRecipe, load_hf_lm
from miaudit.text.lm import (
    LMRecipe,
    TorchLM,
    pack,
    token_answers,
    train_lm,
    train_target_lm,
    unpack,
)
from miaudit.text.models import LM_MODELS, LMSpec, build_lm
from miaudit.text.records import TextRecords, load_corpus, read_text_file, text_records
from miaudit.text.tokenize import BPETokenizer, CharTokenizer, Tokenizer, build_tokenizer

__all__ = [
    "BPETokenizer",
    "CharTokenizer",
    "HFCausalLM",
    "HFLMRecipe",
    "LMRecipe",
    "LMSpec",
    "LM_MODELS",
    "TextRecords",
    "TokenAnswers",
    "Tokenizer",
    "TorchLM",
    "build_lm",
    "build_tokenizer",
    "load_corpus",
    "load_hf_lm",
    "pack",
    "read_text_file",
    "text_records",
    "token_answers",
    "train_lm",
    "train_target_lm",
    "unpack",
]

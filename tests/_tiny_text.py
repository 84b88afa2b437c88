"""The cheap text configuration the unit tests use: a tiny randomly initialised
BERT (2 layers of width 16) with a word-piece tokenizer over a small vocabulary,
written once per machine to a folder as ``save_pretrained`` writes it (no
download), and texts of two classes told apart by their words."""

import os
import tempfile
from pathlib import Path

import numpy as np

#: Words of each generated class, and the tokenizer's whole vocabulary.
WORDS = {
    "card": ["card", "lost", "stolen", "pin", "atm", "blocked"],
    "refund": ["refund", "money", "back", "charge", "return", "payment"],
}
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_COMMON = ["my", "the", "please", "is", "where", "i", "want", "a", "help"]
_VERSION = "3"


def tiny_encoder_folder():
    """The folder of the tiny BERT and its tokenizer (made on first use)."""
    import transformers

    user = os.getuid() if hasattr(os, "getuid") else 0
    # one folder per transformers version: a tokenizer's files name classes of
    # the version that wrote them
    name = f"skfinetune-tiny-bert-{_VERSION}-{transformers.__version__}-{user}"
    root = Path(tempfile.gettempdir()) / name
    if (root / "done").is_file():
        return str(root)
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = _SPECIAL + _COMMON + sorted({w for ws in WORDS.values() for w in ws})
    vocab += list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    ids = {token: i for i, token in enumerate(vocab)}
    tokenizer = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=0,
        # weights five times BERT's spread: at BERT's own (0.02) a random
        # encoder's pooled features hardly differ between texts, the probe's
        # weights grow large and one epoch of phase 2 undoes them
        initializer_range=0.1,
        # no dropout, for the same reason
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    import torch

    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=root.name + "-tmp"))
    BertModel(config).save_pretrained(tmp)
    fast.save_pretrained(tmp)
    (tmp / "done").write_text("")
    try:
        os.replace(tmp, root)
    except OSError:  # another process made it first
        pass
    return str(root)


def make_texts(n_per_class=12, seed=0):
    """Texts of two classes (``"card"``, ``"refund"``), a few words each."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, words in WORDS.items():
        for _ in range(n_per_class):
            n = int(rng.integers(3, 7))
            chosen = list(rng.choice(words, size=n)) + list(
                rng.choice(_COMMON, size=int(rng.integers(0, 3)))
            )
            rng.shuffle(chosen)
            texts.append(" ".join(chosen))
            labels.append(label)
    return texts, np.array(labels)


#: Settings of a fine-tuning text estimator that fits in about a second: the
#: probe, then one epoch of phase 2.
TINY_TEXT = dict(
    weights=None,
    random_state=0,
    device="cpu",
    unfrozen_epochs=1,
    unfrozen_learning_rate=1e-4,
    batch_size=8,
)

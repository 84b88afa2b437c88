"""``X`` as a data scientist holds text -> checked, tokenised :class:`TextData`.

Accepted: a list or tuple of ``str``, a 1-D (or ``(n, 1)``) array of ``str``, a
pandas ``Series`` or a one-column ``DataFrame``.  :class:`TextInput` is what
``fit`` learns: the tokenizer (a ``tokenizers.Tokenizer``, with truncation at
``max_length`` and no padding of its own), the padding id, and the encoder's
configuration and pooling (what a saved model is rebuilt from), so that
``predict`` tokenises exactly as ``fit`` did.  Texts are tokenised once, in one
call to the tokenizer's batch encoder (its own threads).

A :class:`TextData` holds ``n`` tokenised texts as one ``(n, 2, length)`` tensor
(token ids, then the attention mask, padded to the longest text) and each
text's length: batches are cut to their own longest text by
:class:`TextPreparer` (dynamic padding), and grouped by length by the trainer
and the runner (``lengths``).
"""

import hashlib
import numbers

import numpy as np
import torch

from .encoders import fast_tokenizer


def text_column(X):
    """``X`` as a list of ``str``, or a clear ``TypeError``/``ValueError``."""
    if isinstance(X, (str, bytes)):
        raise TypeError(
            "X must be a sequence of texts, not a single string; wrap it in a "
            "list: [text]."
        )
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError("X must be a sequence of texts (str), not a sparse matrix.")
    module = type(X).__module__.split(".")[0]
    if module == "pandas" and hasattr(X, "columns"):
        if X.shape[1] != 1:
            raise ValueError(
                f"X is a DataFrame with {X.shape[1]} columns; pass the single "
                "column of texts, e.g. X['text'] (or select it with a "
                "ColumnTransformer)."
            )
        X = X.iloc[:, 0]
    if module == "pandas":
        values = X.tolist()
    elif isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(
                f"X must be a 1-D sequence of texts; got an array of shape {X.shape}."
            )
        values = X.tolist()
    elif isinstance(X, (list, tuple)):
        values = list(X)
    else:
        try:
            values = list(X)
        except TypeError:
            raise TypeError(
                f"X must be a sequence of texts (list, array or pandas Series of "
                f"str); got {type(X).__name__}."
            ) from None
    if not values:
        raise ValueError(
            "Found array with 0 sample(s) while a minimum of 1 is required."
        )
    for i, value in enumerate(values):
        if isinstance(value, str):
            continue
        if (
            value is None
            or (isinstance(value, float) and value != value)
            or type(value).__name__ in ("NAType", "NaTType")  # pandas' missing
        ):
            raise ValueError(
                f"X has a missing text (NaN or None) at position {i}; drop the "
                "rows without text (e.g. df.dropna(subset=[column]))."
            )
        kind = "a number" if isinstance(value, numbers.Number) else "an object"
        raise TypeError(
            f"X must hold texts (str); position {i} is {kind} of type "
            f"{type(value).__name__}. Numeric X is not text: convert it "
            "(X.astype(str)) only if the numbers are meant as words."
        )
    empty = [i for i, value in enumerate(values) if not value.strip()]
    if empty:
        raise ValueError(
            f"X has {len(empty)} empty text(s) (positions {empty[:5]}"
            f"{'...' if len(empty) > 5 else ''}); drop them: an empty text "
            "carries nothing to predict from."
        )
    return [str(v) for v in values]


class TextData:
    """``n`` tokenised texts that load, by index, as ``(b, 2, length)`` tensors
    (token ids, attention mask) at the longest text's length."""

    augment_by_default = False
    in_memory = True

    def __init__(self, tokens, lengths, texts):
        self.tokens = tokens
        self.lengths = lengths
        self.texts = texts

    def __len__(self):
        return self.tokens.shape[0]

    def nbytes(self):
        return self.tokens.numel() * self.tokens.element_size()

    def load(self, indices):
        return self.tokens[torch.as_tensor(np.asarray(indices), dtype=torch.long)]

    def cache_keys(self):
        return [hashlib.sha256(text.encode()).hexdigest() for text in self.texts]

    def decode_key(self):
        return None


class TextInput:
    """What ``fit`` learns about text ``X`` (see the module docstring)."""

    def __init__(self, tokenizer, max_length, pad_id, config, pooling):
        tokenizer = fast_tokenizer(tokenizer)
        # a copy of its own: truncation here, padding by the batches
        self.tokenizer = type(tokenizer).from_str(tokenizer.to_str())
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.max_length = int(max_length)
        self.pad_id = int(pad_id)
        self.config = config
        self.pooling = pooling

    def fit(self, estimator, X):
        return self.read(estimator, X)

    def read(self, estimator, X):
        return self.tokenize(text_column(X))

    def tokenize(self, texts):
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        tokens = torch.zeros(len(texts), 2, int(lengths.max()), dtype=torch.long)
        tokens[:, 0] = self.pad_id
        for i, encoding in enumerate(encodings):
            n = lengths[i]
            tokens[i, 0, :n] = torch.as_tensor(encoding.ids)
            tokens[i, 1, :n] = torch.as_tensor(encoding.attention_mask)
        return TextData(tokens, lengths, texts)

    def cache_key(self):
        digest = hashlib.sha256(self.tokenizer.to_str().encode()).hexdigest()
        return ("text", digest, self.max_length, self.pad_id, self.pooling)

    def to_dict(self):
        return {
            "tokenizer": self.tokenizer.to_str(),
            "max_length": self.max_length,
            "pad_id": self.pad_id,
            "config": self.config,
            "pooling": self.pooling,
        }

    @classmethod
    def from_dict(cls, values):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(values["tokenizer"])
        return cls(
            tokenizer,
            values["max_length"],
            values["pad_id"],
            values["config"],
            values["pooling"],
        )


class TextPreparer:
    """A batch of stored tokens -> the network's input on the device: cut to
    its longest text (dynamic padding)."""

    def __init__(self, device):
        self.device = device

    def __call__(self, raw, train=False, generator=None):
        longest = int(raw[:, 1].sum(1).max()) if len(raw) else 1
        return raw[:, :, : max(longest, 1)].to(self.device, non_blocking=True)

"""Text encoders from Hugging Face ``transformers``, as backbones
(``skfinetune._backbones.Backbone``); ``pip install "skfinetune[text]"``.

A backbone is a hub name or a local folder (``from_pretrained``: the model and
its tokenizer, read from the Hugging Face cache when offline), or a model the
user built (a ``transformers`` encoder, given with its ``tokenizer``).  The
network (:class:`TextEncoder`) takes a ``(batch, 2, length)`` tensor — token ids,
then the attention mask — and returns one pooled embedding per text: the mean
over the text's tokens (sentence-transformers models, whose folder says so in
``1_Pooling/config.json`` or ``modules.json``), or the first token's (``[CLS]``)
otherwise.  Its blocks (:class:`EncoderBlocks`) are the embeddings, then each
encoder layer: what ``freeze_depth`` and ``layer_decay`` count.

Models load without hub kernels (``use_kernels=False``), so nothing outside
the model's files is fetched or needed, and without the library's progress bars.
"""

import contextlib
import copy
import json
import os
from pathlib import Path

import joblib
from torch import nn

from .._backbones import Backbone
from .network import EncoderBlocks, TextEncoder

INSTALL = 'pip install "skfinetune[text]"'
POOLINGS = ("mean", "cls")


def import_transformers(what):
    try:
        import transformers
    except ImportError:
        raise ImportError(
            f"{what} needs Hugging Face transformers and tokenizers: {INSTALL} "
            "(or pip install transformers tokenizers)."
        ) from None
    return transformers


@contextlib.contextmanager
def quiet_loading():
    """transformers' progress bars and warnings off while a model loads."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _loading_options(transformers):
    """``from_pretrained`` options: no hub kernels where the library has them
    (transformers 5 kernelizes by default and fails without the ``kernels``
    package)."""
    major = int(transformers.__version__.split(".")[0])
    return {"use_kernels": False} if major >= 5 else {}


# -------------------------------------------------------------------- sources
def pooling_of(folder):
    """``"mean"`` or ``"cls"`` as a sentence-transformers folder says
    (``1_Pooling/config.json``), or ``None`` where it says nothing."""
    if folder is None:
        return None
    folder = Path(folder)
    configs = [folder / "1_Pooling" / "config.json"]
    modules = folder / "modules.json"
    if modules.is_file():
        try:
            for entry in json.loads(modules.read_text()):
                if str(entry.get("type", "")).endswith("Pooling"):
                    configs.insert(0, folder / entry.get("path", "") / "config.json")
        except (ValueError, AttributeError, TypeError):
            pass
    for path in configs:
        if path.is_file():
            try:
                config = json.loads(path.read_text())
            except ValueError:
                continue
            if config.get("pooling_mode_cls_token"):
                return "cls"
            if config.get("pooling_mode_mean_tokens"):
                return "mean"
    return None


def _looks_like_folder(name):
    """A path rather than a hub name (``org/name``): absolute, relative to
    ``.``/``..``/``~``, or of more than two parts."""
    return (
        os.path.isabs(name)
        or name.startswith(("./", "../", "~", ".\\", "..\\"))
        or name.count("/") > 1
        or "\\" in name
    )


def _where(name):
    """Where to load ``name`` from: its folder, else its snapshot in the Hugging
    Face cache (no network), else the hub name itself (downloaded)."""
    return _local_folder(name) or name


def _local_folder(name):
    """The folder of ``name``: itself, or its snapshot in the Hugging Face cache
    (``None`` where it is in neither)."""
    if os.path.isdir(os.path.expanduser(name)):
        return os.path.expanduser(name)
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:  # not cached (or not a hub name): the source says so later
        return None


class TransformersBackbone(Backbone):
    """A transformers encoder by hub name or folder, or a module the user built
    (with ``tokenizer``), or one rebuilt from a saved configuration."""

    def __init__(self, backbone, weights, tokenizer=None, pooling="auto", config=None):
        self.backbone = backbone
        self.weights = weights
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.config = config  # a saved model configuration (a dict): load()
        self.description = (
            repr(backbone) if isinstance(backbone, str) else type(backbone).__name__
        )

    # ------------------------------------------------------------------ checks
    def check(self):
        what = f"backbone={self.description}"
        if self.weights not in (None, "DEFAULT"):
            raise ValueError(
                f"weights must be 'DEFAULT' (the encoder's pretrained weights) or "
                f"None (random initialisation from its configuration) for text "
                f"encoders; got {self.weights!r}."
            )
        if isinstance(self.backbone, nn.Module):
            if not hasattr(self.backbone, "config"):
                raise TypeError(
                    f"{what} must be a transformers model (with a config), such as "
                    "transformers.AutoModel.from_pretrained(...)."
                )
            if self.tokenizer is None:
                raise ValueError(
                    f"{what} is a model object: pass its tokenizer too, e.g. "
                    "tokenizer=AutoTokenizer.from_pretrained(name)."
                )
        if isinstance(self.backbone, str) and _looks_like_folder(self.backbone):
            if not os.path.isdir(os.path.expanduser(self.backbone)):
                raise ValueError(
                    f"{what}: folder {self.backbone!r} does not exist (pass a "
                    "folder written by save_pretrained, or a hub name such as "
                    "'sentence-transformers/all-MiniLM-L6-v2')."
                )
        import_transformers(what)
        if self.tokenizer is not None and not isinstance(self.tokenizer, str):
            fast_tokenizer(self.tokenizer)  # raises for a slow one

    def preprocessing(self):
        """The tokenizer (a ``tokenizers.Tokenizer``), the model's length limit,
        padding id, configuration and pooling: what the family's reader needs."""
        return TextPreprocessing(
            *_tokenizer_and_limits(self), pooling=self.resolved_pooling()
        )

    def resolved_pooling(self):
        if self.pooling != "auto":
            return self.pooling
        if isinstance(self.backbone, str):
            return pooling_of(_local_folder(self.backbone)) or "cls"
        return pooling_of(getattr(self.backbone, "name_or_path", None)) or "cls"

    # ------------------------------------------------------------------- build
    def load(self, pretrained):
        transformers = import_transformers(f"backbone={self.description}")
        if self.config is not None:  # a saved model: its configuration only
            return self._from_config(transformers, self.config)
        if isinstance(self.backbone, nn.Module):
            return copy.deepcopy(self.backbone)
        options = _loading_options(transformers)
        try:
            with quiet_loading():
                where = _where(self.backbone)
                if pretrained and self.weights == "DEFAULT":
                    return transformers.AutoModel.from_pretrained(where, **options)
                config = transformers.AutoConfig.from_pretrained(where)
                return transformers.AutoModel.from_config(config)
        except OSError as exc:
            raise ValueError(_not_found(self.backbone, exc)) from None

    @staticmethod
    def _from_config(transformers, values):
        values = dict(values)
        model_type = values.pop("model_type", None)
        try:
            config = transformers.AutoConfig.for_model(model_type, **values)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"The file's encoder configuration is not one transformers "
                f"builds: {exc}"
            ) from None
        with quiet_loading():
            return transformers.AutoModel.from_config(config)

    def build(self, new_head=None, pretrained=True):
        from .._backbones import FineTuneNet

        model = self.load(pretrained)
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # BERT's dense layer on [CLS]: not used
        encoder = TextEncoder(model, self.resolved_pooling())
        n_features = int(model.config.hidden_size)
        head = nn.Identity() if new_head is None else new_head(n_features)
        return FineTuneNet(encoder, head, EncoderBlocks()), n_features

    def cache_key(self):
        if isinstance(self.backbone, nn.Module):
            name = ("module", joblib.hash(self.backbone.state_dict()))
        else:
            name = self.backbone
            folder = _local_folder(name)
            if folder is not None:
                weights = [
                    p
                    for p in Path(folder).glob("*")
                    if p.suffix in (".safetensors", ".bin")
                ]
                name = (name, sorted((p.name, p.stat().st_mtime) for p in weights))
        return ("transformers", name, self.weights, self.resolved_pooling())

    def check_saveable(self):
        if isinstance(self.backbone, nn.Module):
            raise TypeError(
                f"the backbone is a model object ({self.description}), which save()"
                " cannot name in JSON. Save it as a folder first "
                "(model.save_pretrained(folder); tokenizer.save_pretrained(folder))"
                " and pass backbone=folder, or use joblib.dump(estimator, path) "
                "(pickle: only load files you trust)."
            )


class TextPreprocessing:
    """What a text encoder's input is: its tokenizer (``tokenizers.Tokenizer``),
    the longest input its positions allow, its padding id, and the encoder's
    configuration as plain values (what a saved model is rebuilt from)."""

    def __init__(self, tokenizer, model_max_length, pad_id, config, pooling):
        self.tokenizer = tokenizer
        self.model_max_length = model_max_length
        self.pad_id = pad_id
        self.config = config
        self.pooling = pooling


def fast_tokenizer(tokenizer):
    """The ``tokenizers.Tokenizer`` of a transformers tokenizer (or itself)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ImportError(f"text estimators need tokenizers: {INSTALL}.") from None
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise TypeError(
            f"tokenizer must be a fast tokenizer (transformers' "
            f"PreTrainedTokenizerFast, or a tokenizers.Tokenizer); got "
            f"{type(tokenizer).__name__}. Load it with "
            "AutoTokenizer.from_pretrained(name, use_fast=True)."
        )
    return backend


def _tokenizer_and_limits(source):
    transformers = import_transformers(f"backbone={source.description}")
    tokenizer = source.tokenizer
    if tokenizer is None or isinstance(tokenizer, str):
        name = tokenizer or source.backbone
        try:
            with quiet_loading():
                tokenizer = transformers.AutoTokenizer.from_pretrained(_where(name))
        except (OSError, ValueError) as exc:
            tokenizer = _tokenizer_file(_local_folder(name))
            if tokenizer is None:
                raise ValueError(_not_found(name, exc, "tokenizer")) from None
    backend = fast_tokenizer(tokenizer)
    config = _config(source)
    limit = _max_positions(config)
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < 100_000:
        limit = min(limit, declared) if limit else declared
    named = isinstance(source.backbone, str)
    declared = _sentence_max_length(_local_folder(source.backbone) if named else None)
    if declared:
        limit = min(limit, declared) if limit else declared
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = backend.token_to_id("[PAD]") or backend.token_to_id("<pad>") or 0
    return backend, limit or 512, int(pad), plain_config(config)


class _FileTokenizer:
    """A folder's ``tokenizer.json`` read by ``tokenizers`` alone, with the pad
    token and length of its ``tokenizer_config.json``: for a folder whose
    tokenizer class another transformers version wrote."""

    def __init__(self, backend, pad_token_id, model_max_length):
        self.backend_tokenizer = backend
        self.pad_token_id = pad_token_id
        self.model_max_length = model_max_length


def _tokenizer_file(folder):
    if folder is None or not (Path(folder) / "tokenizer.json").is_file():
        return None
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    try:
        settings = json.loads((Path(folder) / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        settings = {}
    pad = settings.get("pad_token")
    pad = pad.get("content") if isinstance(pad, dict) else pad
    pad_id = backend.token_to_id(pad) if isinstance(pad, str) else None
    length = settings.get("model_max_length")
    return _FileTokenizer(backend, pad_id, length if isinstance(length, int) else None)


def _config(source):
    if isinstance(source.backbone, nn.Module):
        return source.backbone.config
    transformers = import_transformers(f"backbone={source.description}")
    try:
        return transformers.AutoConfig.from_pretrained(_where(source.backbone))
    except (OSError, ValueError) as exc:
        raise ValueError(_not_found(source.backbone, exc)) from None


def plain_config(config):
    """A transformers configuration as plain JSON values (no path it was read
    from)."""
    values = config.to_dict()
    for key in ("_name_or_path", "name_or_path", "auto_map", "_commit_hash"):
        values.pop(key, None)
    return json.loads(json.dumps(values, default=str))


def _max_positions(config):
    n = getattr(config, "max_position_embeddings", None)
    if isinstance(n, int) and n > 2:
        # RoBERTa-like models count two positions for their padding offset
        return n - 2 if getattr(config, "model_type", "") in _OFFSET_MODELS else n
    return None


_OFFSET_MODELS = {"roberta", "xlm-roberta", "camembert", "longformer"}


def _sentence_max_length(folder):
    if folder is None:
        return None
    path = Path(folder) / "sentence_bert_config.json"
    try:
        value = json.loads(path.read_text()).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _not_found(name, exc, what="model"):
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"Cannot load the {what} {name!r}: not a local folder with its files, and "
        "not in the Hugging Face cache (offline) or reachable. Pass a folder "
        "written by save_pretrained, or download it once with network access. "
        f"({first})"
    )

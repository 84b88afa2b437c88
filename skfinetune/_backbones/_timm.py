"""timm's models by name (``backbone="timm/convnext_atto"``); ``pip install
timm``.

The name after ``timm/`` is what ``timm.create_model`` takes, with an optional
pretrained tag (``"timm/efficientnet_b0.ra_in1k"``).  Weights: ``"DEFAULT"`` is
timm's pretrained checkpoint for that name, read from the Hugging Face cache
without any network access when it is there, else downloaded by timm; ``None`` is
random initialisation; a path is a state dict or safetensors file of the
architecture (its classification layer, if any, is left out).  Preprocessing from
the checkpoint's ``pretrained_cfg`` (``timm.data.resolve_data_config``); the head
is removed with ``reset_classifier(0)`` (the backbone outputs the pooled
pre-logits features); blocks are timm's coarse groups (``_rules.GroupBlocks``).
"""

from ._interface import (
    Backbone,
    Preprocessing,
    default_or_file,
    load_state_dict_file,
    weights_key,
)
from ._rules import GroupBlocks

PREFIX = "timm/"
_INSTALL = "pip install timm"


def import_timm(what):
    try:
        import timm
    except ImportError:
        raise ImportError(f"{what} needs timm: {_INSTALL}.") from None
    return timm


def preprocessing_from_cfg(cfg):
    """``Preprocessing`` from a timm ``pretrained_cfg`` (a dict or PretrainedCfg)."""
    from timm.data import resolve_data_config

    if not isinstance(cfg, dict):
        cfg = cfg.to_dict()
    config = resolve_data_config(pretrained_cfg=cfg)
    crop = int(config["input_size"][-1])
    crop_pct = config.get("crop_pct") or 1.0
    interpolation = config.get("interpolation") or "bilinear"
    if interpolation not in ("bilinear", "bicubic", "nearest"):
        interpolation = "bilinear"
    return Preprocessing(
        crop_size=crop,
        resize_size=max(crop, int(round(crop / crop_pct))),
        mean=tuple(float(v) for v in config["mean"]),
        std=tuple(float(v) for v in config["std"]),
        interpolation=interpolation,
    )


def remove_classifier(model):
    """``reset_classifier(0)``; return ``(n_features, GroupBlocks())``."""
    model.reset_classifier(0)
    n_features = getattr(model, "head_hidden_size", None) or model.num_features
    return n_features, GroupBlocks()


def is_timm_model(module):
    """Whether ``module`` offers timm's model interface (groups, classifier)."""
    return all(
        callable(getattr(module, name, None))
        for name in ("group_matcher", "reset_classifier", "get_classifier")
    )


class TimmBackbone(Backbone):
    """A timm model by name (``"timm/<name>[.<tag>]"``)."""

    def __init__(self, spec, weights):
        self.spec = spec
        self.name = spec[len(PREFIX) :]
        self.weights = weights
        self.description = repr(spec)

    def check(self):
        timm = import_timm(f"backbone={self.spec!r}")
        from timm.models import get_pretrained_cfg, split_model_name_tag

        architecture, _ = split_model_name_tag(self.name)
        if not timm.is_model(architecture):
            close = timm.list_models(f"*{architecture[:8]}*")[:5]
            hint = f" Similar names: {close}." if close else ""
            raise ValueError(
                f"Unknown timm model {self.name!r} in backbone={self.spec!r}; "
                f"expected a name of timm.list_models().{hint}"
            )
        try:
            self._cfg = get_pretrained_cfg(self.name)
        except RuntimeError:  # an architecture timm knows, with another tag
            self._cfg = None
        if self._cfg is None:
            raise ValueError(
                f"timm has no pretrained tag {self.name!r}; "
                f"timm.list_pretrained({architecture + '*'!r}) lists them."
            )
        if not default_or_file(self.weights):
            raise ValueError(
                f"weights={self.weights!r} for timm backbone {self.spec!r}: expected "
                "'DEFAULT' (timm's pretrained checkpoint), None (random "
                "initialisation) or a path to a state-dict or safetensors file."
            )

    def _checked_cfg(self):
        if not hasattr(self, "_cfg"):
            self.check()
        return self._cfg

    def preprocessing(self):
        return preprocessing_from_cfg(self._checked_cfg())

    def _cached_checkpoint(self):
        """The pretrained file in the Hugging Face cache, or ``None``."""
        cfg = self._checked_cfg()
        if not cfg.hf_hub_id:
            return None
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(found, str):
                return found
        return None

    def _unreachable(self, exc):
        from huggingface_hub.constants import HF_HUB_CACHE

        cfg = self._checked_cfg()
        where = cfg.hf_hub_id or cfg.url or "timm's hub"
        return (
            f"Could not load timm's pretrained weights for {self.spec!r} ({where}): "
            f"{str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__}"
            f". timm reads them from the Hugging Face cache ({HF_HUB_CACHE}; "
            "HF_HOME or HF_HUB_CACHE move it) and downloads them there where the "
            "hub is reachable. Offline, copy that cache from a machine that has it, "
            "or pass weights='path/to/model.safetensors' (a state dict of the "
            "architecture); HF_HUB_OFFLINE=1 makes this error immediate."
        )

    def load(self, pretrained):
        timm = import_timm(f"backbone={self.spec!r}")
        weights = self.weights if pretrained else None
        if weights == "DEFAULT":
            cached = self._cached_checkpoint()
            overlay = None if cached is None else {"file": cached}
            try:
                return timm.create_model(
                    self.name, pretrained=True, pretrained_cfg_overlay=overlay
                )
            except Exception as exc:
                raise RuntimeError(self._unreachable(exc)) from exc
        model = timm.create_model(self.name, pretrained=False)
        if weights is not None:
            classifier = model.pretrained_cfg.get("classifier") or ()
            if isinstance(classifier, str):
                classifier = (classifier,)
            model.reset_classifier(0)
            load_state_dict_file(model, weights, self.description, classifier)
        return model

    def cut_head(self, model):
        return remove_classifier(model)

    def cache_key(self):
        return ("timm", self.name, weights_key(self.weights))

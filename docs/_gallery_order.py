"""The gallery's order for a newcomer: getting started first, then one idea per
example from the most to the least common need (sphinx-gallery's
``within_subsection_order`` takes this class by name)."""

ORDER = [
    "getting_started.py",
    "quickstart.py",
    "linear_probe.py",
    "save_and_load.py",
    "export_onnx.py",
    "timm_backbone.py",
    "text_classification.py",
    "grid_search_freeze_depth.py",
    "regression.py",
    "multilabel.py",
    "class_imbalance.py",
    "dask_grid_search.py",
    "skorch_fine_tuning.py",
]


class NewcomerOrder:
    """Sort key: the position in ``ORDER``; other files after, by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (ORDER.index(filename), filename)
        return (len(ORDER), filename)

    def __repr__(self):
        return "<NewcomerOrder>"

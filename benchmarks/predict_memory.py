"""predict on 10,000 image paths: batch by batch, with bounded memory.

Fits the default MobileNetV2 on hymenoptera (head only, to be quick), then predicts
on 1,000 and on 10,000 paths (the 398 files repeated) and prints wall seconds,
images/s and the peak resident memory of each; bounded memory means the two peaks
are about equal.  About 4 minutes on 2 CPU cores.

Run from the repository root: ``python benchmarks/predict_memory.py [DATA_DIR]``.
"""

import sys
from pathlib import Path

import numpy as np
from _common import measure, rss_bytes

from skfinetune import FineTuneClassifier, load_image_folder

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hymenoptera_data")
Xtr, ytr = load_image_folder(root / "train")
Xva, _ = load_image_folder(root / "val")
clf = FineTuneClassifier(weights="IMAGENET1K_V1", unfrozen_epochs=0, random_state=0)
clf.fit(Xtr, ytr)
pool = np.concatenate([Xtr, Xva])
print(f"after fit: RSS {rss_bytes() / 2**20:.0f} MiB")
for n in (1_000, 10_000):
    paths = np.resize(pool, n)
    row = {}
    with measure(row):
        proba = clf.predict_proba(paths)
    assert proba.shape == (n, 2)
    print(
        f"predict {n:>6} paths: {row['seconds']:6.1f} s, "
        f"{n / row['seconds']:5.1f} img/s, peak RSS {row['peak_rss_mib']:.0f} MiB",
        flush=True,
    )

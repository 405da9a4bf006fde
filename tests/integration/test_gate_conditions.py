"""The gate-conditions set the decoder's passes were chosen on: seeded, split apart, and what it shows."""

from __future__ import annotations

import numpy as np
import zxingcpp

from scanner.decode import decode_frame
from tests.gateconditions import CONDITIONS, SPLITS, expected, sample, seed_of
from tests.gatescene import render

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def test_every_item_reproduces_from_its_seed_and_the_splits_share_nothing() -> None:
    scene = sample("glare", "heldout", 4)
    assert sample("glare", "heldout", 4) == scene
    assert np.array_equal(render(scene), render(sample("glare", "heldout", 4)))
    seeds = {split: {seed_of(c, split, i) for c in CONDITIONS for i in range(30)} for split in SPLITS}
    assert not seeds["tune"] & seeds["heldout"]
    payloads = {
        split: {p for c in CONDITIONS for i in range(3) for p in expected(sample(c, split, i))}
        for split in SPLITS
    }
    assert not payloads["tune"] & payloads["heldout"]  # each split signs with its own key


def test_the_decoder_reads_held_out_frames_zxing_cpp_alone_misses() -> None:
    # held-out items (never tuned on) where zxing-cpp alone, QR only, reads nothing: dim phone
    # screens and glare spots; the smoothed, adaptive-threshold and zbar passes each read one here
    items = [("dim screen", 2), ("dim screen", 3), ("glare", 1), ("glare", 3)]
    for condition, index in items:
        scene = sample(condition, "heldout", index)
        frame = render(scene)
        assert zxingcpp.read_barcodes(frame, formats=QR) == [], (condition, index)
        assert decode_frame(frame) == expected(scene), (condition, index)

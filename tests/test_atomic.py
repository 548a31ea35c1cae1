"""Atomic output files: complete or absent, never truncated; ordinary permissions."""

from __future__ import annotations

import os

import numpy as np
import pytest

from oxbnn.models import atomic


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    atomic.write_text(path, '{"complete": true}')
    with pytest.raises(KeyError), atomic.atomic_open(path) as handle:
        handle.write('{"compl')
        raise KeyError("killed half way")
    assert path.read_text() == '{"complete": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_arrays_round_trip_to_the_exact_path(tmp_path):
    atomic.save_npy(tmp_path / "out", np.arange(5))  # no ".npy" appended
    assert np.array_equal(np.load(tmp_path / "out"), np.arange(5))
    atomic.save_npz(tmp_path / "x.bin", a=np.ones(3, np.uint8))
    with np.load(tmp_path / "x.bin") as z:
        assert z["a"].tolist() == [1, 1, 1]


def test_mode_follows_the_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic.write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_only_whole_file_modes():
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"), atomic.atomic_open("x", "a"):
        pass

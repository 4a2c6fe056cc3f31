"""--download against a local http.server: checksums, atomic writes, mirrors, and clear failures."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

from dpldm.data import DataError, load_dataset
from dpldm.data import download as dl

from .files import write_mnist_like


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1; yields the base URL."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _md5(path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def _mnist_table(www, base, *, checksum=None, mirrors=("",)) -> tuple[dl.Resource, ...]:
    write_mnist_like(www / "mnist")
    return tuple(dl.Resource(tuple(f"{base}{m}mnist/{f.name}" for m in mirrors), f"mnist/{f.name}",
                             checksum or _md5(f)) for f in sorted((www / "mnist").iterdir()))


def test_download_then_load(tmp_path, server, monkeypatch):
    monkeypatch.setitem(dl.RESOURCES, "mnist", _mnist_table(tmp_path / "www", server))
    root = tmp_path / "data"
    data = load_dataset("mnist", "train", root=root, download=True)
    assert len(data) == 12
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(
        p.name for p in (tmp_path / "www" / "mnist").iterdir())  # no temporary files left
    assert dl.file_matches(root / "mnist" / "train-images-idx3-ubyte.gz", dl.RESOURCES["mnist"][2].checksum)


def test_present_files_are_not_fetched_again(tmp_path, server, monkeypatch):
    monkeypatch.setitem(dl.RESOURCES, "mnist", _mnist_table(tmp_path / "www", server))
    root = tmp_path / "data"
    dl.ensure_downloaded("mnist", root)
    for f in (tmp_path / "www" / "mnist").iterdir():
        f.unlink()  # the server no longer has them
    assert len(dl.ensure_downloaded("mnist", root)) == 4


def test_checksum_mismatch_saves_nothing(tmp_path, server, monkeypatch):
    table = _mnist_table(tmp_path / "www", server, checksum="md5:" + "0" * 32)
    monkeypatch.setitem(dl.RESOURCES, "mnist", table)
    root = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch \\(md5 expected 0{32}, got [0-9a-f]{32}\\)"):
        load_dataset("mnist", "train", root=root, download=True)
    assert list((root / "mnist").iterdir()) == []


def test_sha256_and_a_dead_mirror(tmp_path, server, monkeypatch):
    www = tmp_path / "www"
    (www / "good").mkdir(parents=True)
    payload = np.arange(1000, dtype=np.uint8).tobytes()
    (www / "good" / "blob.bin").write_bytes(payload)
    resource = dl.Resource((f"{server}missing/blob.bin", f"{server}good/blob.bin"), "x/blob.bin",
                           "sha256:" + hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(dl.RESOURCES, "blob", (resource,))
    (path,) = dl.ensure_downloaded("blob", tmp_path / "data")
    assert path.read_bytes() == payload


def test_all_mirrors_failing_is_one_clear_line(tmp_path, server, monkeypatch):
    resource = dl.Resource((f"{server}nothing-here.gz",), "mnist/train-images-idx3-ubyte.gz", "md5:" + "0" * 32)
    monkeypatch.setitem(dl.RESOURCES, "mnist", (resource,))
    with pytest.raises(DataError) as err:
        dl.ensure_downloaded("mnist", tmp_path / "data")
    message = str(err.value)
    assert "\n" not in message and "nothing-here.gz: HTTP 404" in message
    assert "fetch it by hand into" in message


def test_table_covers_the_downloadable_sets():
    assert {"mnist", "fashion_mnist", "kmnist", "emnist_letters", "cifar10", "cifar100"} <= set(dl.RESOURCES)
    for resources in dl.RESOURCES.values():
        for r in resources:
            assert r.urls and all(u.startswith(("https://", "http://")) for u in r.urls)
            algorithm, _, digest = r.checksum.partition(":")
            assert algorithm == "md5" and len(digest) == 32

"""Control plane: the playground's static files and settings (pure, no services)."""

from __future__ import annotations

import gzip
import os

import pytest

from throwbox_control import config, playground


def test_a_hashed_bundle_is_immutable_and_gzipped():
    body = b"console.log('x');\n" * 200
    asset = playground.make_asset("app-7GFNY7S3.js", body)
    assert asset.content_type == "text/javascript; charset=utf-8"
    assert asset.cache_control == "public, max-age=31536000, immutable"
    assert asset.gzipped is not None and gzip.decompress(asset.gzipped) == body


def test_the_page_and_unhashed_files_are_revalidated_and_small_files_stay_plain():
    page = playground.make_asset("index.html", b"<!doctype html>")
    assert page.content_type == "text/html; charset=utf-8"
    assert page.cache_control == "no-cache"
    assert page.gzipped is None
    assert playground.make_asset("app.js", b"x" * 4000).cache_control == "no-cache"
    assert playground.make_asset("notes.bin", b"x").content_type == "application/octet-stream"


def test_assets_are_the_directory_files_without_dot_files(tmp_path):
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "app-AAAAAAAA.css").write_text("p{}")
    (tmp_path / ".throwbox-build-hash").write_text("abc")
    (tmp_path / "sub").mkdir()
    assert sorted(playground.load_assets(tmp_path)) == ["app-AAAAAAAA.css", "index.html"]
    assert playground.load_assets(tmp_path / "missing") == {}


def test_assets_reload_when_a_new_build_replaces_index_html(tmp_path):
    (tmp_path / "index.html").write_text("one")
    assets = playground.Assets(tmp_path)
    assert assets.current()["index.html"].body == b"one"
    (tmp_path / "index.html").write_text("two!")
    st = (tmp_path / "index.html").stat()
    os.utime(tmp_path / "index.html", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert assets.current()["index.html"].body == b"two!"


def test_an_unbuilt_playground_has_no_page(tmp_path):
    assert "index.html" not in playground.Assets(tmp_path / "dist").current()


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.8", True), ("*", True),
    ("gzip;q=0", False), ("identity", False), ("", False),
])
def test_gzip_is_sent_only_to_clients_that_accept_it(header, expected):
    assert playground.accepts_gzip(header) is expected


def test_the_dev_key_is_read_from_its_file_and_only_for_loopback_clients(tmp_path):
    key_file = tmp_path / "dev-key"
    assert playground.read_dev_key("") is None
    assert playground.read_dev_key(str(key_file)) is None      # not written yet
    key_file.write_text("tbx_abc\n")
    assert playground.read_dev_key(str(key_file)) == "tbx_abc"
    assert playground.is_loopback("127.0.0.1") and playground.is_loopback("::1")
    assert not playground.is_loopback("192.168.1.20")
    assert not playground.is_loopback("")


def test_playground_settings_default_to_the_built_bundle_and_no_dev_key():
    s = config.load({})
    assert s.playground_dir.endswith(os.path.join("playground", "dist"))
    assert s.playground_dev_key_file == ""
    s = config.load({"THROWBOX_CP_PLAYGROUND_DEV_KEY_FILE": "/tmp/k", "THROWBOX_CP_PLAYGROUND_DIR": "/srv/pg"})
    assert (s.playground_dev_key_file, s.playground_dir) == ("/tmp/k", "/srv/pg")
    assert config.load({"THROWBOX_CP_PLAYGROUND_DEV_KEY_FILE": ""}).playground_dev_key_file == ""
    with pytest.raises(config.ConfigError):
        config.load({"THROWBOX_CP_PLAYGROUND_DEV_KEY": "/tmp/k"})

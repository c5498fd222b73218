"""`asset_gate_content inline` in a location with `root` and no try_files: the gate serves the
record's file itself, as the static module would serve a URI's, and nothing else."""

import os

from gate import FILE, PNG, mint

URL_NAME = FILE.rsplit("/", 1)[1]
s_root_placeholder = "@ROOT@"  # the stack's root, in directives written before it exists


def outcome(r):
    return r.status, r.header("x-reason")


def served(make_stack, directives=None, extra="", **kw):
    """A stack whose gate location serves inline from its root, without try_files."""
    s = make_stack(start=False, **kw)
    if directives is not None:
        directives = directives.replace(s_root_placeholder, str(s.root))
    s.gate = f"""
            asset_gate on;
            asset_gate_key_file {s.keyfile};
            asset_gate_render @render;
            asset_gate_content inline;
            {directives if directives is not None else f"root {s.root};"}
            add_header X-Reason $asset_gate_reason always;
            {extra}"""
    s.start()
    s.put_org("org-on")
    s.put_asset(101, org="org-on", filename="report.png")
    return s


def test_serves_the_records_file_with_the_content_headers(make_stack):
    s = served(make_stack)
    r = s.request(f"{FILE}?token={mint(101)}&download=true")
    assert outcome(r) == (200, "allowed")
    assert r.body == PNG
    assert r.header("content-type") == "image/png"
    assert r.header("content-length") == str(len(PNG))
    assert r.all("Cache-Control") == ["private, max-age=86400"]
    assert r.all("X-Content-Type-Options") == ["nosniff"]
    assert r.all("Referrer-Policy") == ["no-referrer"]
    assert r.header("content-disposition") == 'attachment; filename="report.png"'
    assert r.header("accept-ranges") == "bytes"
    assert r.header("etag") and r.header("last-modified")


def test_never_the_file_the_url_names(make_stack):
    s = served(make_stack)
    (s.root / "exporter").mkdir()
    (s.root / "exporter" / URL_NAME).write_bytes(b"not the asset")
    assert s.content(101).body == PNG
    assert s.request(FILE).status == 404
    # A refused token gets the refusal, not the file the URL names.
    assert outcome(s.content(101, key="other-key-0123456789abcdef0123456789")) == (404, "bad_signature")


def test_refusals_are_unchanged(make_stack):
    s = served(make_stack)
    s.put_org("org-off", allow_public=False)
    s.put_asset(102, org="org-off")
    assert outcome(s.content(102)) == (404, "org_blocked")
    assert outcome(s.content(101, "render")) == (404, "purpose_surface")
    assert outcome(s.content(999)) == (404, "asset_unknown")
    r = s.render(101)
    assert r.status == 200 and r.header("x-surface") == "render"


def test_head_range_and_conditional_requests(make_stack):
    s = served(make_stack)
    path = f"{FILE}?token={mint(101)}"
    r = s.request(path, method="HEAD")
    assert r.status == 200 and r.body == b"" and r.header("content-length") == str(len(PNG))
    r = s.request(path, headers={"Range": "bytes=0-3"})
    assert r.status == 206 and r.body == PNG[:4]
    assert r.header("content-range") == f"bytes 0-3/{len(PNG)}"
    assert r.header("content-type") == "image/png"
    etag = s.request(path).header("etag")
    r = s.request(path, headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    assert r.all("Cache-Control") == ["private, max-age=86400"]


def test_a_missing_file_is_404_and_logged(make_stack):
    s = served(make_stack)
    location = s.put_asset(103, org="org-on", content=None)
    r = s.content(103)
    assert r.status == 404
    assert r.header("content-type") != "image/png"
    assert f'asset_gate: open() "{s.root}/{location}" failed (2: No such file or directory)' \
        in s.error_log()


def test_a_directory_is_404_without_a_redirect(make_stack):
    s = served(make_stack)
    location = s.put_asset(104, org="org-on", content=None)
    (s.root / location).mkdir(parents=True)
    r = s.content(104)
    assert r.status == 404
    assert r.header("location") is None  # a redirect would show the internal path
    assert "is not a regular file" in s.error_log()


def test_an_unreadable_file_is_a_server_error(make_stack):
    s = served(make_stack)
    location = s.put_asset(105, org="org-on")
    (s.root / location).chmod(0o000)
    (s.root / location).parent.chmod(0o000)
    try:
        r = s.content(105)
    finally:
        (s.root / location).parent.chmod(0o755)
        (s.root / location).chmod(0o644)
    assert r.status == 500
    assert "(13: Permission denied)" in s.error_log()


def test_alias_in_a_prefix_location(make_stack):
    s = served(make_stack, directives=f"alias {s_root_placeholder}/;")
    r = s.content(101)
    assert outcome(r) == (200, "allowed") and r.body == PNG


def test_alias_in_a_nested_prefix_location(make_stack):
    # alias inherited by a nested location replaces the enclosing location's prefix.
    s = served(make_stack, directives=f"""alias {s_root_placeholder}/;
            location ^~ /exporter/export- {{ add_header X-Nested yes; }}""")
    r = s.content(101)
    assert r.status == 200 and r.body == PNG
    assert r.header("x-nested") == "yes"  # (its add_header replaces the gate location's)
    assert r.header("content-type") == "image/png"


def test_alias_in_a_nested_regex_location_cannot_name_the_records_file(make_stack):
    s = served(make_stack, directives=f"""root {s_root_placeholder};
            location ~ \\.png$ {{
                alias {s_root_placeholder}/exports/png/team-1/task-101/blob;
                add_header X-Reason $asset_gate_reason always;
            }}""")
    s.put_asset(106, org="org-on", content=b"asset 106")
    r = s.content(106)
    assert r.status == 500 and r.body not in (PNG, b"asset 106")
    assert 'regular expression location "\\.png$" with "alias"' in s.error_log()


def test_try_files_in_the_location_still_chooses(make_stack):
    # With try_files, the file it found is served, its fallbacks included.
    s = served(make_stack, extra="try_files /$asset_gate_location /fallback.png =404;")
    (s.root / "fallback.png").write_bytes(b"fallback")
    assert s.content(101).body == PNG
    s.put_asset(107, org="org-on", content=None)
    r = s.content(107)
    assert r.status == 200 and r.body == b"fallback"


def test_open_file_cache_is_respected(make_stack):
    s = served(make_stack, workers=1,
               extra="open_file_cache max=100 inactive=60s; open_file_cache_valid 60s;")
    location = s.put_asset(108, org="org-on", content=b"first version")
    for _ in range(2):  # the worker caches the open file
        assert s.content(108).body == b"first version"
    # Replaced in place (same inode, same size): a cached descriptor reads the new bytes,
    # while a file replaced by rename keeps being served from the old one until it is revalidated.
    (s.root / location).write_bytes(b"other version")
    assert s.content(108).body == b"other version"
    os.rename(s.root / location, s.root / f"{location}.old")
    (s.root / location).write_bytes(b"newer version")
    bodies = {s.content(108).body for _ in range(4)}
    assert bodies == {b"other version"}, bodies


def test_other_methods_are_refused(make_stack):
    s = served(make_stack)
    r = s.request(f"{FILE}?token={mint(101)}", method="POST")
    assert r.status in (404, 405)
    assert r.body != PNG


def test_the_location_serves_nothing_the_gate_did_not_allow(make_stack):
    # The location's content handler is the gate's: a directory index or a file by its URL is
    # never served, before or after an allowed request on the same connection's worker.
    s = served(make_stack)
    (s.root / "exporter").mkdir(exist_ok=True)
    (s.root / "exporter" / "index.html").write_bytes(b"index")
    for path in ["/exporter/", "/exporter/index.html", f"{FILE}?token={mint(101)}", "/exporter/"]:
        r = s.request(path)
        assert r.body != b"index", path
        assert r.status == (200 if "token" in path else 404), path

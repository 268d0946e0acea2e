import pytest

from warcache.collection import open_collection, root_path, validate_name
from warcache.errors import UsageError
from warcache.pagelist import PageEntry


@pytest.mark.parametrize("name", ["default", "my-coll_2", "A"])
def test_good_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-x", "a" * 65, "static", "sp ace", "é"])
def test_bad_names(name):
    with pytest.raises(UsageError, match="collection name"):
        validate_name(name)


def test_layout_is_pywb_layout(tmp_path):
    coll = open_collection(tmp_path, "news", create=True)
    assert coll.archive_dir == tmp_path / "collections" / "news" / "archive"
    assert coll.indexes_dir == tmp_path / "collections" / "news" / "indexes"
    assert coll.archive_dir.is_dir() and coll.indexes_dir.is_dir()


def test_unknown_collection_is_a_usage_error(tmp_path):
    open_collection(tmp_path, "one", create=True)
    with pytest.raises(UsageError, match="no collection 'two'.*one"):
        open_collection(tmp_path, "two")


def test_root_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        root_path(f)


def test_pages_jsonl_skips_torn_lines(tmp_path):
    coll = open_collection(tmp_path, "c", create=True)
    coll.append_pages([PageEntry(url="http://a/", timestamp="20240101000000", warc="a.warc.gz", offset=0)])
    with open(coll.pages_path, "a") as fh:
        fh.write('{"url": "http://b/"')  # a crash mid-line
    assert [p.url for p in coll.pages()] == ["http://a/"]


def test_page_entries_keep_what_a_newer_version_wrote(tmp_path):
    coll = open_collection(tmp_path, "c", create=True)
    line = ('{"bytes": 10, "final_url": "http://a/b", "mime": "text/html", "offset": 5, "records": '
            '{"dom": [1, 2], "page": [5, 6]}, "resources": 3, "revisits": 0, "status": 200, "timestamp": '
            '"20240101000000", "title": "T", "url": "http://a/", "warc": "a.warc.gz", "zz_future": [1]}\n')
    coll.pages_path.write_text(line + '{"url": "http://b/", "timestamp": "x", "warc": "a", "offset": 0}\n')
    entries = list(coll.pages())
    assert len(entries) == 1  # the second line has no capture time
    assert entries[0].span("dom") == (1, 2) and entries[0].page_url == "http://a/b"
    assert entries[0].to_line() == line

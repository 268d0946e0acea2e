"""Every `add` option travels through the queue: a job is JSON, and the capture options a worker
reads from it are those the command line gave."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import fields, replace

from queue_helpers import warcache_cmd

from warcache.capture.page import CaptureOptions
from warcache.capture.session import load_cookies_txt
from warcache.cli.capture import add
from warcache.cli.options import capture_settings
from warcache.distributed.jobs import Job, options_to_json

ARGS = ["--timeout", "12", "--idle-timeout", "3", "--no-scroll", "--scroll-timeout", "7",
        "--max-scroll-steps", "9", "--viewport", "800x600", "--user-agent", "QueueTest/1.0",
        "--ignore-https-errors", "--no-screenshot", "--max-resource-size", "4096",
        "--resolve", "a.example:127.0.0.1", "--resolve", "b.example:127.0.0.2",
        "--dismiss-consent", "--no-expand", "--no-play", "--behavior-timeout", "5", "--pdf",
        "--media-timeout", "60", "--block", "||ads.example^", "http://a.example/"]


def test_every_capture_option_travels_in_a_job(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[cmp]]\nname = "Test"\ndetect = ["#cmp"]\nreject = ["#no"]\n'
                     '[texts]\nreject = ["No thanks"]\n')
    script = tmp_path / "behave.js"
    script.write_text("export default async function (page) { return 'done'; }\n")
    blocklist = tmp_path / "list.txt"
    blocklist.write_text("||trackers.example^\n")
    args = ["--consent-rules", str(rules), "--behavior", str(script), "--block-list", str(blocklist), *ARGS]
    with add.make_context("add", args) as ctx:
        opts, _ = capture_settings(dict(ctx.params))
    default = CaptureOptions()
    from_cli = {f.name for f in fields(CaptureOptions) if getattr(opts, f.name) != getattr(default, f.name)}
    # Every option the command line sets differs from its default here, so each is checked below
    # (--media needs yt-dlp where the command runs; media is a bool like pdf; fetching the other
    # image candidates and whole files has no option of its own). A session never travels: see
    # the test below.
    assert from_cli == {f.name for f in fields(CaptureOptions)} - {"quiet", "max_screenshot_height", "media",
                                                                  "session", "fetch_extras", "extras_timeout"}
    job = Job("http://a.example/", "default", "file:///store", options_to_json(opts))
    wire = json.loads(json.dumps(job.to_kwargs()))  # what the broker carries
    assert Job.from_kwargs(wire).capture_options() == opts


def test_a_job_from_a_newer_client_is_read_without_its_unknown_fields():
    options = {**options_to_json(CaptureOptions()), "new": 1}
    job = Job("http://a.example/", "default", "file:///store", options)
    wire = {**job.to_kwargs(), "something_new": True}
    assert Job.from_kwargs(wire).capture_options() == CaptureOptions()


SECRET = "s3cr3t-session-value"


def test_a_session_never_travels_and_add_broker_refuses_one_in_one_line(tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(f".example.com\tTRUE\t/\tTRUE\t{int(time.time()) + 86400}\tsid\t{SECRET}\n")
    opts = replace(CaptureOptions(), session=load_cookies_txt(cookies))
    data = options_to_json(opts)
    assert "session" not in data and SECRET not in json.dumps(data)
    for option in ("--cookies", "--storage-state"):
        path = cookies if option == "--cookies" else tmp_path / "state.json"
        if option == "--storage-state":
            path.write_text(json.dumps({"cookies": opts.session.cookies, "origins": []}))
        proc = subprocess.run(warcache_cmd(tmp_path / "root", "add", "--broker", "redis://127.0.0.1:1/0",
                                           option, str(path), "http://a.example/"),
                              capture_output=True, text=True, timeout=60)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr
        assert lines[0] == (f"Error: {option} cannot be used with --broker: the session's cookies would "
                            "travel through the broker to every worker; capture pages behind a login "
                            "with a local `warcache add`")

"""Every `add` option travels through the queue: a job is JSON, and the capture options a worker
reads from it are those the command line gave."""

from __future__ import annotations

import json
from dataclasses import fields

from warcache.capture.page import CaptureOptions
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
    # (--media needs yt-dlp where the command runs; media is a bool like pdf).
    assert from_cli == {f.name for f in fields(CaptureOptions)} - {"quiet", "max_screenshot_height", "media"}
    job = Job("http://a.example/", "default", "file:///store", options_to_json(opts))
    wire = json.loads(json.dumps(job.to_kwargs()))  # what the broker carries
    assert Job.from_kwargs(wire).capture_options() == opts


def test_a_job_from_a_newer_client_is_read_without_its_unknown_fields():
    options = {**options_to_json(CaptureOptions()), "new": 1}
    job = Job("http://a.example/", "default", "file:///store", options)
    wire = {**job.to_kwargs(), "something_new": True}
    assert Job.from_kwargs(wire).capture_options() == CaptureOptions()

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
        "--resolve", "a.example:127.0.0.1", "--resolve", "b.example:127.0.0.2", "http://a.example/"]


def test_every_capture_option_travels_in_a_job():
    ctx = add.make_context("add", list(ARGS))
    opts, _ = capture_settings(dict(ctx.params))
    default = CaptureOptions()
    from_cli = {f.name for f in fields(CaptureOptions) if getattr(opts, f.name) != getattr(default, f.name)}
    # Every option the command line sets differs from its default here, so each is checked below.
    assert from_cli == {f.name for f in fields(CaptureOptions)} - {"quiet", "max_screenshot_height"}
    job = Job("http://a.example/", "default", "file:///store", options_to_json(opts))
    wire = json.loads(json.dumps(job.to_kwargs()))  # what the broker carries
    assert Job.from_kwargs(wire).capture_options() == opts


def test_a_job_from_a_newer_client_is_read_without_its_unknown_fields():
    options = {**options_to_json(CaptureOptions()), "new": 1}
    job = Job("http://a.example/", "default", "file:///store", options)
    wire = {**job.to_kwargs(), "something_new": True}
    assert Job.from_kwargs(wire).capture_options() == CaptureOptions()

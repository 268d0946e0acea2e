"""The exceptions warcache raises, in one place.

Library code raises these; the CLI turns them into a one-line message and a non-zero exit.
Nothing here imports click, so the library can be used without the CLI.

    WarcacheError            anything warcache reports to its user
    ├── UsageError           bad input from the user (a URL, a name, a file)
    ├── BrowserNotFound      no Chromium to drive
    ├── CaptureError         one URL could not be captured (the run goes on)
    └── ArchiveError         a WARC or index could not be read or written
"""


class WarcacheError(Exception):
    """Base class: the message is meant for the user, on one line."""


class UsageError(WarcacheError):
    """The user gave something warcache cannot use."""


class BrowserNotFound(WarcacheError):
    """No usable Chromium or Chrome was found."""


class CaptureError(WarcacheError):
    """Capturing one URL failed; `reason` is the short, user-facing explanation."""


class ArchiveError(WarcacheError):
    """A WARC file or an index could not be read or written."""

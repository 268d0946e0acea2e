"""warcache: a personal, faithful web archive.

Capture pages with a real browser into WARC files, index and search them, replay them offline.
"""

__version__ = "0.1.0"

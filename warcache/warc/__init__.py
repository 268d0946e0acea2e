"""warc"""

"""manage"""

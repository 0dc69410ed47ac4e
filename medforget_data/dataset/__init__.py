"""The first half of the pipeline: sources → hierarchy → tasks → splits → materialise → load / export.

Imports neither torch nor transformers: building and reading the dataset needs no deep-learning stack.
"""

"""Real runs on real data with the target tree's own code: `nox -s train -- mlp`.

Each run imports the graded tree (`--target exercises`, the default, or `solutions`)
through grader.target, checks that the katas it needs are written, and says which are
missing instead of crashing when they are not.
"""

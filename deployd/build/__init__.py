"""How a release is made from its source: the artifact directory a slot runs."""

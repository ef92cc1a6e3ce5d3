"""The parts of the GitHub stand-in; tests use `tests.support.github_standin`."""

"""Where a release's code comes from: git repositories and local directories."""

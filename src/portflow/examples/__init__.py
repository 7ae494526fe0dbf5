"""The example flows that come with portflow (links to the repository's examples/): ``portflow examples``."""

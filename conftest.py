"""The fixtures every test of the repository shares, the service's and the bridge's."""

pytest_plugins = ["tests.databases"]

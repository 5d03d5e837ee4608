"""What an operator looks at: ``/dashboard``, its data, ``/metrics``, and the vendored assets.

Everything the pages load is served from ``static/`` by this app: the dashboard and the
API docs work on a machine with no internet access.
"""

from src.entrypoints.http.monitoring.routes import Monitoring

__all__ = ["Monitoring"]

"""Django's PostgreSQL backend, pointed at the embedded server.

The server starts on the first connection, not when settings are imported, so commands that never
touch the database (mypy's Django plugin, `manage.py check`) start nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.postgresql import base

from eureka import embedded


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        server = embedded.ensure_running(Path(self.settings_dict["EMBEDDED_DATA_DIR"]))
        params: dict[str, Any] = super().get_connection_params()
        params["host"] = server.socket_dir
        params["port"] = server.port
        return params

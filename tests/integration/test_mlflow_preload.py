"""MLflow imported ahead on a thread (`tracking.preload`): in a fresh interpreter, as a sweep's
process is before it logs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

_SCRIPT = textwrap.dedent("""\
    import json, sys
    from gridbt.tracking.preload import import_mlflow_ahead
    before = "mlflow" in sys.modules
    thread = import_mlflow_ahead(sys.argv[1])
    daemon = thread.daemon
    thread.join(timeout=120)
    print(json.dumps({"before": before, "daemon": daemon, "alive": thread.is_alive(),
                      "client": "mlflow.tracking" in sys.modules,
                      "sql": "mlflow.store.tracking.sqlalchemy_store" in sys.modules}))
    """)


def _preload(uri: str) -> dict[str, bool]:
    r = subprocess.run([sys.executable, "-c", _SCRIPT, uri], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    found: dict[str, bool] = json.loads(r.stdout.splitlines()[-1])
    return found


def test_a_database_store_gets_the_client_and_the_sql_store_loaded_on_a_thread() -> None:
    found = _preload("sqlite:////tmp/nowhere/mlflow.db")
    # not loaded by the preload module itself, loaded by its thread, which is not a daemon
    # (a run stopped meanwhile waits for the import rather than exiting in the middle of it)
    assert found == {"before": False, "daemon": False, "alive": False, "client": True,
                     "sql": True}


def test_a_tracking_server_gets_only_the_client() -> None:
    found = _preload("http://127.0.0.1:5000")
    assert found["client"] and not found["sql"]

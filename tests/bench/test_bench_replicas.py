"""benchmarks/bench_replicas.py: its nginx config is valid and keeps the proxy settings of
deploy/nginx.conf (the compose deployment), and bad arguments give a clear error."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_replicas.py"


def _script():
    spec = importlib.util.spec_from_file_location("bench_replicas", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_replicas"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _proxy_directives(conf: str, location: str = "location / {") -> set[str]:
    block = conf[conf.index(location):]
    block = block[:block.index("}")]
    return {re.sub(r"\s+", " ", line.split("#")[0]).strip()
            for line in block.splitlines() if line.strip().startswith("proxy_")}


def test_generated_config_matches_the_deployment_one(tmp_path: Path) -> None:
    conf = _script().nginx_config(tmp_path, 8080, [8001, 8002])
    deploy = (REPO / "deploy" / "nginx.conf").read_text()
    assert _proxy_directives(conf) == _proxy_directives(deploy)
    for shared in ("least_conn;", "keepalive 64;", "upstream switchyard {"):
        assert shared in conf and shared in deploy
    assert "server 127.0.0.1:8001" in conf and "server 127.0.0.1:8002" in conf


@pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
                    reason="nginx is not installed (apt-get install -y nginx)")
def test_generated_config_is_valid_nginx(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / f"{kind}_temp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(_script().nginx_config(tmp_path, 18080, [18001]))
    out = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e",
                          str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_bad_arguments_are_refused_clearly() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--url", "", "--replicas", "one"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 2
    assert "--replicas takes" in out.stderr and "no database" in out.stderr
    assert "Traceback" not in out.stderr

"""The evaluation and planning data come from the active domain pack (optional ``[paths]`` keys):
the bundled pack declares all of them, and a pack without one gets a clear error from the
command that needs it (the manifest, the key and the fix), not a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchyard.core import domain
from switchyard.core.pack import DATA_FILES, PackError, default_pack_dir, load_pack

FERNHILL = Path(__file__).resolve().parent / "packs" / "fernhill"


def test_the_bundled_pack_declares_every_data_file() -> None:
    pack = load_pack(default_pack_dir())
    for key in DATA_FILES:
        path = pack.data_file(key)
        assert path.is_file() and path.is_relative_to(pack.root)


def test_an_undeclared_or_missing_data_file_names_the_key_and_the_fix(tmp_path: Path) -> None:
    pack = load_pack(FERNHILL)
    with pytest.raises(PackError) as undeclared:
        pack.data_file("cache_pairs")
    assert str(undeclared.value).startswith(f"{FERNHILL / 'domain.toml'}: key paths.cache_pairs: "
                                            "not declared")
    assert "switchyard cache calibrate" in str(undeclared.value)

    root = tmp_path / "pack"
    shutil.copytree(FERNHILL, root)
    manifest = root / "domain.toml"
    assert "[paths]" not in manifest.read_text()
    manifest.write_text(manifest.read_text() + '\n[paths]\nsample_traffic = "traffic.jsonl"\n')
    with pytest.raises(PackError, match=r"key paths.sample_traffic: file .*traffic.jsonl does "
                                        r"not exist; fix: create it"):
        load_pack(root).data_file("sample_traffic")


@pytest.fixture
def bare_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Fernhill without a held-out split (and, like Fernhill, without the optional files)."""
    root = tmp_path / "pack"
    shutil.copytree(FERNHILL, root)
    (root / "routing" / "test.jsonl").unlink()
    monkeypatch.setenv("SWITCHYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWITCHYARD_OFFLINE", "true")
    monkeypatch.setenv("SWITCHYARD_DOMAIN", str(root))  # undone after the test (--domain sets it)
    before = domain.active_pack()
    yield root
    domain.activate(before)


@pytest.mark.parametrize(("argv", "expected"), [
    (["cache", "calibrate"], "key paths.cache_pairs: not declared"),
    (["eval-retrieval"], "key paths.retrieval_eval: not declared"),
    (["eval", "--suite", "retrieval"], "key paths.retrieval_eval: not declared"),
    (["eval", "--suite", "tools"], "key paths.tool_choice: not declared"),
    (["eval", "--suite", "routing"], "no routing split"),
    (["plan"], "key paths.sample_traffic: not declared"),
    (["bench"], "held-out split"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_command_whose_data_the_pack_lacks_fails_clearly(bare_pack: Path, argv: list[str],
                                                           expected: str) -> None:
    from switchyard.cli.main import app

    result = CliRunner().invoke(app, ["--domain", str(bare_pack), *argv])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    flat = " ".join(result.output.split())
    assert f"error: {bare_pack}" in flat or "error: no routing split" in flat or \
        "error: the bench" in flat
    assert expected in flat and "fix:" in flat

"""The fast tier's account snapshot is a pack-declared function (``account_snapshot =
"module:function"``), resolved and checked like the pack's tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from switchyard.core.pack import PackError, default_pack_dir, load_pack
from switchyard.tools.registry import resolve_account_snapshot

FERNHILL = Path(__file__).resolve().parent / "packs" / "fernhill"


def _with_snapshot(tmp_path: Path, ref: str) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(FERNHILL, root)
    manifest = root / "domain.toml"
    manifest.write_text(f'account_snapshot = "{ref}"\n' + manifest.read_text())
    return root


def test_the_bundled_pack_declares_one_and_a_pack_without_has_none() -> None:
    hook = resolve_account_snapshot(load_pack(default_pack_dir()))
    assert callable(hook) and hook.__name__ == "account_snapshot"
    assert resolve_account_snapshot(load_pack(FERNHILL)) is None


@pytest.mark.parametrize(("ref", "problem"), [
    ("no_such_module_xyz:snapshot", "cannot import module 'no_such_module_xyz'"),
    ("fernhill_tools:no_such_function", "has no attribute 'no_such_function'"),
    ("fernhill_tools:ORDERS", "not a function"),
])
def test_a_bad_reference_names_the_key_and_the_fix(tmp_path: Path, ref: str,
                                                   problem: str) -> None:
    root = _with_snapshot(tmp_path, ref)
    with pytest.raises(PackError) as err:
        resolve_account_snapshot(load_pack(root))
    message = str(err.value)
    assert message.startswith(f"{root / 'domain.toml'}: key account_snapshot: ")
    assert problem in message and "fix:" in message


def test_a_reference_that_is_not_module_colon_attribute_is_a_manifest_error(
        tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"key account_snapshot: .*fix: write it as "
                                        r"'package.module:attribute'"):
        load_pack(_with_snapshot(tmp_path, "just a name"))

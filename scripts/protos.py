"""Generate, check and stage the protobuf contract.

    python scripts/protos.py gen          regenerate clients/python/stowage/v1
                                          (modules, and typed stubs for them and their gRPC stubs)
    python scripts/protos.py check        fail when the committed code is stale
    python scripts/protos.py deps DIR     copy the google.rpc protos into DIR (for buf, Node)

protos/ is the only source; generated modules are committed and never edited.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PACKAGE_ROOT = ROOT / "clients" / "python"
GENERATED = PACKAGE_ROOT / "stowage" / "v1"
GOOGLE_RPC = ("status.proto", "error_details.proto", "code.proto")


def _google_rpc_dir() -> Path:
    import google.rpc.status_pb2 as status

    return Path(status.__file__).resolve().parent


def _include_root() -> Path:
    # googleapis-common-protos installs google/rpc/*.proto inside site-packages.
    return _google_rpc_dir().parent.parent


def _plugin(name: str) -> str:
    # mypy-protobuf's plugins are console scripts beside this interpreter; naming
    # them explicitly keeps generation independent of PATH.
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{name} not found beside {sys.executable}: pip install -e '.[dev]'")
    return f"--plugin={name}={path}"


def generate(out_root: Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    wkt = Path(grpc_tools.__file__).resolve().parent / "_proto"
    sources = sorted(
        str(p.relative_to(PROTOS)) for p in (PROTOS / "stowage" / "v1").glob("*.proto")
    )
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{_include_root()}",
        f"-I{wkt}",
        _plugin("protoc-gen-mypy"),
        _plugin("protoc-gen-mypy_grpc"),
        f"--python_out={out_root}",
        # mypy-protobuf rather than protoc's --pyi_out: its enum value types and
        # typed gRPC stubs (_pb2_grpc.pyi) pass mypy --strict.
        f"--mypy_out=quiet:{out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_grpc_out=quiet:{out_root}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def _generated_files(root: Path) -> dict[str, Path]:
    gen = root / "stowage" / "v1"
    return {
        p.name: p for p in gen.iterdir() if p.name.endswith((".py", ".pyi")) and "_pb2" in p.name
    }


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = _generated_files(Path(tmp))
        committed = _generated_files(PACKAGE_ROOT)
        stale = sorted(
            name
            for name in set(fresh) | set(committed)
            if name not in fresh
            or name not in committed
            or not filecmp.cmp(fresh[name], committed[name], shallow=False)
        )
    if stale:
        print("generated code is stale; run: python scripts/protos.py gen", file=sys.stderr)
        for name in stale:
            print(f"  {name}", file=sys.stderr)
        return 1
    return 0


def stage_deps(dest: Path) -> None:
    target = dest / "google" / "rpc"
    target.mkdir(parents=True, exist_ok=True)
    for name in GOOGLE_RPC:
        shutil.copyfile(_google_rpc_dir() / name, target / name)


def main(argv: list[str]) -> int:
    if argv[:1] == ["gen"]:
        for old in _generated_files(PACKAGE_ROOT).values():
            old.unlink()
        generate(PACKAGE_ROOT)
        return 0
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["deps"] and len(argv) == 2:
        stage_deps(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Regenerate the committed Python code for hashcore's .proto files, or check it is current.

Usage: ``python proto/generate.py`` (write) or ``python proto/generate.py --check`` (exit 1 if
the committed files differ from what the installed grpcio-tools generates). One script, so CI
and developers produce byte-identical output; the generated modules are committed so that
installing hashcore never needs protoc.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
PROTO_FILES = sorted(PROTO_ROOT.glob("hashcore/api/v1/*.proto"))
OUTPUT_PACKAGE = Path("hashcore/api/v1")
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    """Run protoc into ``out_root``; return the generated files (relative to it)."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    relative = [str(path.relative_to(PROTO_ROOT)) for path in PROTO_FILES]
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *relative,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = []
    for proto in PROTO_FILES:
        for suffix in SUFFIXES:
            generated.append(OUTPUT_PACKAGE / f"{proto.stem}{suffix}")
    return generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(tmp)
        generated = generate(out_root)
        stale = [
            rel
            for rel in generated
            if not (REPO_ROOT / rel).exists()
            or not filecmp.cmp(out_root / rel, REPO_ROOT / rel, shallow=False)
        ]
        if args.check:
            for rel in stale:
                print(
                    f"stale generated code: {rel} (run python proto/generate.py)", file=sys.stderr
                )
            return 1 if stale else 0
        for rel in generated:
            target = REPO_ROOT / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((out_root / rel).read_bytes())
            print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

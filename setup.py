"""Generates the gRPC code from protos/ whenever the package is built or installed."""

import shutil
import sys
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
PROTOS = ROOT / "protos"
OUT = ROOT / "src"


def generate_grpc_code() -> None:
    import grpc_tools
    from grpc_tools import protoc

    includes = Path(grpc_tools.__file__).parent / "_proto"
    # mypy-protobuf's plugin writes typed stubs for the generated gRPC classes.
    plugin = shutil.which("protoc-gen-mypy_grpc") or str(
        Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    )
    if not Path(plugin).exists():
        raise SystemExit("protoc-gen-mypy_grpc not found: install mypy-protobuf")
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{includes}",
        f"--python_out={OUT}",
        f"--pyi_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--plugin=protoc-gen-mypy_grpc={plugin}",
        f"--mypy_grpc_out={OUT}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on " + " ".join(sources))


class BuildWithProtos(build_py):
    def run(self) -> None:
        generate_grpc_code()
        super().run()


setup(
    cmdclass={"build_py": BuildWithProtos},
    package_dir={"": "src"},
    # Namespace discovery: the static/ folders of web assets count as (data) packages.
    packages=find_namespace_packages("src", include=["tlssim*"]),
)

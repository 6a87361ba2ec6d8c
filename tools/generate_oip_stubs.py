"""Regenerate the Open Inference Protocol's Python messages from the checked-in .proto.

    python tools/generate_oip_stubs.py

The generated modules are committed (not built at install): installing modelward then
needs no protobuf compiler, and a change to the messages shows up in review. One edit
follows generation: the messages go into a descriptor pool of their own rather than
protobuf's default one, because the protocol's package name (``inference``) is also the
one Triton's and KServe's clients register; two files defining ``inference.*`` in one
pool would refuse to load in a process that imports both (a test, a notebook).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = Path("modelward/serving/oip_proto/grpc_predict_v2.proto")
DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
OWN_POOL = (
    "# a pool of its own, not protobuf's default: see tools/generate_oip_stubs.py\n"
    "_POOL = _descriptor_pool.DescriptorPool()\n"
    "DESCRIPTOR = _POOL.AddSerializedFile("
)


def main() -> int:
    src = ROOT / "src"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{src}",
            f"--python_out={src}",
            str(src / PROTO),
        ],
        check=True,
    )
    module = src / PROTO.with_name("grpc_predict_v2_pb2.py")
    text = module.read_text()
    if DEFAULT_POOL not in text:
        print(
            f"{module}: the default pool call was not found; check the generator", file=sys.stderr
        )
        return 1
    text = text.replace(DEFAULT_POOL, OWN_POOL, 1)
    module.write_text(text)
    print(f"wrote {module.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

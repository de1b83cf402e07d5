"""Assembles the SDK's Python wheel from a library already built and the
module uniffi-bindgen generated from it, without building anything.

    python3 crates/mobile/wheel.py LIBRARY BINDINGS_DIR OUT_DIR

LIBRARY is libgreenlight_mobile.so (the workspace build's, e.g.
target/debug/libgreenlight_mobile.so); BINDINGS_DIR holds the
greenlight_mobile.py that `uniffi-bindgen generate --library LIBRARY
--language python` wrote. Prints the wheel's path.

Why not maturin here: maturin builds the crate with `cargo rustc -p`, whose
features differ from the workspace build's, so every dependency is compiled
a second time (over 10 minutes on 2 cores). tests/mobile.sh takes the
library the workspace build already made and lays out the same wheel
maturin would for `bindings = "uniffi"`: the package `greenlight_mobile`
with the generated module and the library beside it, the metadata from
pyproject.toml. `maturin build --release` in crates/mobile stays the way to
make a release wheel (crates/mobile/README.md).
"""

import base64
import hashlib
import os
import re
import sys
import sysconfig
import tomllib
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "greenlight_mobile"
LIBRARY = f"lib{PACKAGE}.so"


def workspace_version():
    with open(os.path.join(HERE, "..", "..", "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def metadata(project, version):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
        f"Summary: {project['description']}",
        f"License: {project['license']['text']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    lines += [f"Classifier: {c}" for c in project.get("classifiers", [])]
    return "\n".join(lines) + "\n"


def platform_tag():
    # ctypes loads the library: no Python ABI, one tag per platform, as
    # maturin tags uniffi wheels (py3-none-PLATFORM). Not audited for
    # manylinux: the wheel is for this machine's kind of Linux.
    return re.sub(r"[-.]", "_", sysconfig.get_platform())


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build(library, bindings, out):
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    version = workspace_version()
    module = os.path.join(bindings, f"{PACKAGE}.py")
    for path in (library, module):
        if not os.path.isfile(path):
            raise SystemExit(f"wheel.py: {path} is missing")
    dist = f"{PACKAGE}-{version}.dist-info"
    tag = f"py3-none-{platform_tag()}"
    with open(module, "rb") as f:
        generated = f.read()
    with open(library, "rb") as f:
        shared = f.read()
    files = [
        (f"{PACKAGE}/__init__.py", f"from .{PACKAGE} import *  # noqa: F401,F403\n".encode()),
        (f"{PACKAGE}/{PACKAGE}.py", generated),
        (f"{PACKAGE}/{LIBRARY}", shared),
        (f"{dist}/METADATA", metadata(project, version).encode()),
        (f"{dist}/WHEEL",
         f"Wheel-Version: 1.0\nGenerator: greenlight wheel.py\nRoot-Is-Purelib: false\nTag: {tag}\n".encode()),
    ]
    record = "\n".join([record_line(n, d) for n, d in files] + [f"{dist}/RECORD,,"]) + "\n"
    files.append((f"{dist}/RECORD", record.encode()))
    os.makedirs(out, exist_ok=True)
    wheel = os.path.join(out, f"{PACKAGE}-{version}-{tag}.whl")
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            # The library must stay executable-readable once unpacked.
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            z.writestr(info, data, compresslevel=1)
    return wheel


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python3 crates/mobile/wheel.py LIBRARY BINDINGS_DIR OUT_DIR")
    print(build(*sys.argv[1:]))

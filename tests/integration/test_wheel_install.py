"""The built wheel, installed into a fresh virtualenv, imports every
package of the source tree and every execo 2.x module path.

The test suite imports execo from the source tree (pytest's
``pythonpath = .``), which hides packaging mistakes: a subpackage
missing from setup.py, a module left out of the wheel. This test builds
the wheel from a copy of the tree, installs it into a virtualenv of its
own and imports from there, far from the tree.
"""

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(REPO, "tests", "data", "execo-2.8.2-modules.txt")
TOP_PACKAGES = ("execo", "execo_g5k", "execo_engine")
# modules that exist to wrap an optional extra (setup.py's extras_require):
# installed without it, importing them must fail with an ImportError that
# names the package to install, and nothing else may need it
NEEDS_EXTRA = {"execo_g5k.topology": "networkx", "execo_g5k.topology_draw": "networkx"}


def _source_modules():
    """Every package and module of the tree's top packages, dotted."""
    names = []
    for top in TOP_PACKAGES:
        root = os.path.join(REPO, top)
        if not os.path.isdir(root):
            continue
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = [d for d in subdirs if d != "__pycache__"]
            if "__init__.py" not in files:
                continue
            package = os.path.relpath(directory, REPO).replace(os.sep, ".")
            names.append(package)
            # a package's __main__ runs its program when imported: its presence is enough
            names += ["%s.%s" % (package, f[:-3]) for f in files
                      if f.endswith(".py") and f not in ("__init__.py", "__main__.py")]
    return sorted(names)


def _mains():
    """The packages' ``__main__`` modules, dotted (checked installed, not run)."""
    return sorted(os.path.relpath(os.path.join(d, "__main__"), REPO).replace(os.sep, ".")
                  for top in TOP_PACKAGES for d, _, files in os.walk(os.path.join(REPO, top))
                  if "__main__.py" in files and "__pycache__" not in d)


def _legacy_imports():
    """(module, name) of every 2.x name the reference lists that the tree has."""
    from tests.unit.test_legacy_imports import (NO_MEANING_HERE, PENDING_MODULES,
                                                reference_entries, _expected_missing)
    return sorted({(e.module, e.name) for e in reference_entries()
                   if not _expected_missing(e) and (e.module, e.name) not in NO_MEANING_HERE
                   and e.module not in PENDING_MODULES})


def _build_wheel(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "_build", "build", "dist", "*.egg-info", ".pytest_cache"))
    dist = tmp_path / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
               str(source)]
    done = subprocess.run(command + ["--no-build-isolation"], capture_output=True, text=True)
    if done.returncode != 0:  # no local build backend: let pip fetch one
        done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = list(dist.glob("execo-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_installs_and_imports_every_package_and_2x_path(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(str(wheel)) as contents:
        # PEP 561: type checkers read the hints of an installed execo
        assert "execo/py.typed" in contents.namelist()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, env=env, cwd=str(tmp_path))
    checker = (
        "import importlib, json, sys\n"
        "modules, mains, names, needs_extra = json.loads(sys.stdin.read())\n"
        "failed = []\n"
        "import importlib.util\n"
        "for m in mains:\n"
        "    if importlib.util.find_spec(m) is None:\n"
        "        failed.append('%s: not installed' % m)\n"
        "for m in modules:\n"
        "    try:\n"
        "        mod = importlib.import_module(m)\n"
        "        assert mod.__file__.startswith(sys.prefix), mod.__file__\n"
        "    except ImportError as exc:\n"
        "        if needs_extra.get(m, '\\0') not in str(exc):\n"
        "            failed.append('%s: %r' % (m, exc))\n"
        "    except Exception as exc:\n"
        "        failed.append('%s: %r' % (m, exc))\n"
        "for m, n in names:\n"
        "    try:\n"
        "        getattr(importlib.import_module(m), n)\n"
        "    except Exception as exc:\n"
        "        failed.append('%s.%s: %r' % (m, n, exc))\n"
        "print(json.dumps(failed))\n")
    modules = _source_modules()
    done = subprocess.run([python, "-c", checker],
                          input=json.dumps([modules, _mains(), _legacy_imports(), NEEDS_EXTRA]),
                          capture_output=True, text=True, env=env, cwd=str(tmp_path),
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert len(modules) > 30
    # the console scripts setup.py declares (``execo``: execo.cli)
    for script in ("execo", "execo-testbed"):
        helped = subprocess.run([str(env_dir / "bin" / script), "--help"], env=env,
                                cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
        assert helped.returncode == 0 and "usage:" in helped.stdout, (script, helped.stderr)

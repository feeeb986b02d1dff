"""execo: asynchronous control of many local and remote processes."""

import re

from setuptools import setup

with open("execo/__init__.py") as init_file:
    VERSION = re.search(r'^__version__ = "([^"]+)"', init_file.read(), re.M).group(1)

setup(
    name="execo",
    version=VERSION,
    description="Drive many local and remote (ssh, taktuk) processes asynchronously; "
                "Grid5000 helpers (OAR, kadeploy, REST API).",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    packages=["execo", "execo.taktuk", "execo.testbed", "execo_g5k", "execo_engine"],
    # type hints of the public API are part of it (PEP 561)
    package_data={"execo": ["py.typed"]},
    python_requires=">=3.9",
    # node sets (execo.nodeset) and progress bars (execo.progress): small,
    # pure python, imported only when used
    install_requires=["ClusterShell", "tqdm"],
    extras_require={
        "g5k": ["requests", "keyring"],
        # execo_g5k.planning: OAR's database as a planning source, pictures
        "planning": ["psycopg[binary]", "matplotlib"],
        # execo_g5k.topology: the network as a graph, and its picture
        "topology": ["networkx", "matplotlib"],
        "test": ["pytest", "pytest-timeout", "requests", "keyring", "keyrings.alt", "paramiko",
                 "ipython", "psycopg[binary]", "matplotlib", "wheel", "networkx"],
        "doc": ["sphinx"],
    },
    entry_points={"console_scripts": ["execo = execo.cli:main",
                                      "execo-testbed = execo.testbed:main"]},
    data_files=[("share/execo", ["execo.conf.py.sample"])],
    classifiers=[
        "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
    ],
)

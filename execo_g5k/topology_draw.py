"""`treemap`: a picture of a `execo_g5k.topology.g5k_graph`, with matplotlib.

Kept apart from the graph so that building one never needs matplotlib
(imported when a picture is asked for, as for the planning pictures of
`execo_g5k.planning_draw`).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import networkx as nx

from execo.log import logger

__all__ = ["treemap"]

# kind -> how its nodes look (matplotlib marker, face colour, area in points²)
NODE_STYLES: Dict[str, Dict[str, Any]] = {
    'renater': {'shape': 'p', 'color': '#8fd19e', 'size': 220},
    'router': {'shape': '8', 'color': '#9cc9e8', 'size': 280, 'width': 0.5},
    'switch': {'shape': 's', 'color': '#f2b8bf', 'size': 110, 'width': 0.2},
    'linecard': {'shape': '^', 'color': 'white', 'size': 12, 'width': 0.1},
    'node': {'shape': 'o', 'color': '#eef5b8', 'size': 35, 'width': 0.2},
    'cluster': {'shape': 'd', 'color': '#eef5b8', 'size': 220},
    'default': {'shape': 'o', 'color': 'black', 'size': 100},
}
# bandwidth (bits/s) -> how its links look; thicker for faster links
EDGE_STYLES: Dict[Any, Dict[str, Any]] = {
    1e8: {'width': 0.2, 'color': '#777777'}, 1e9: {'width': 0.4, 'color': '#777777'},
    1e10: {'width': 1.0, 'color': '#222222'}, 4e10: {'width': 3.0, 'color': '#222222'},
    1e11: {'width': 4.0, 'color': '#000000'},
    'default': {'width': 0.8, 'color': 'black'},
}
LABEL_SIZES = {'renater': 8, 'router': 8, 'switch': 8, 'cluster': 8, 'node': 6, 'linecard': 6}


def _pyplot() -> Any:
    try:
        import matplotlib
        if not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
            matplotlib.use('Agg')  # headless: a figure to save, never a window
        import matplotlib.pyplot as pyplot
    except ImportError as exc:
        raise ImportError("treemap needs matplotlib: pip install matplotlib "
                          "(or the execo[topology] extra)") from exc
    return pyplot


def _positions(graph: Any, layout: str) -> Dict[Any, Any]:
    """graphviz's ``layout`` program when pydot and graphviz are there, else
    networkx's own spring layout (slower on big graphs, but always there)."""
    try:
        from networkx.drawing.nx_pydot import graphviz_layout
        return graphviz_layout(graph, prog=layout)
    except Exception as exc:  # pydot or the graphviz binaries missing
        logger.debug("graphviz layout %s unavailable (%s): spring layout", layout, exc)
        return nx.spring_layout(graph, seed=1, iterations=100)


def _compacted(graph: Any) -> Any:
    """A copy where the hosts behind one equipment are one node per cluster."""
    from execo_g5k.api_utils import get_host_cluster
    compact = nx.MultiGraph(graph)
    hosts = [n for n, kind in graph.nodes(data='kind') if kind == 'node']
    for host in hosts:
        for _, equip, data in graph.edges(host, data=True):
            group = "%s\n%s" % (get_host_cluster(host), equip.split('.')[0])
            compact.add_node(group, kind='cluster')
            if not compact.has_edge(group, equip):
                compact.add_edge(group, equip, bandwidth=data.get('bandwidth'))
    compact.remove_nodes_from(hosts)
    return compact


def treemap(gr: Any, nodes_legend: Optional[Dict[str, Dict[str, Any]]] = None,
            edges_legend: Optional[Dict[Any, Dict[str, Any]]] = None,
            nodes_labels: Optional[Dict[str, Dict[str, Any]]] = None,
            layout: str = 'neato', compact: bool = False) -> Any:
    """A matplotlib figure of the graph ``gr`` (a `g5k_graph`).

    >>> treemap(g5k_graph('nancy')).savefig('nancy.png')       # doctest: +SKIP

    :param nodes_legend: per kind, ``{'color', 'shape', 'size', 'width'}``
      overriding `NODE_STYLES`.
    :param edges_legend: per bandwidth, ``{'width', 'color'}`` overriding
      `EDGE_STYLES` (``'default'`` for the others).
    :param nodes_labels: per kind, ``{'font_size', 'font_weight',
      'str_func'}``: how its labels are written (the name up to its first
      dot by default).
    :param layout: the graphviz program placing the nodes, when pydot and
      graphviz are installed; networkx's spring layout otherwise.
    :param compact: one node per cluster behind each equipment instead of
      one per host.
    """
    pyplot = _pyplot()
    graph = _compacted(gr) if compact else gr
    node_styles = dict(NODE_STYLES, **(nodes_legend or {}))
    edge_styles = dict(EDGE_STYLES, **(edges_legend or {}))
    labels = nodes_labels or {}
    figure = pyplot.figure(figsize=(10, 10))
    axes = figure.add_subplot(111)
    positions = _positions(graph, layout)
    kinds = sorted({kind or 'default' for _, kind in graph.nodes(data='kind')})
    for kind in kinds:
        style = dict(node_styles['default'], **node_styles.get(kind, {}))
        nodes = [n for n, k in graph.nodes(data='kind') if (k or 'default') == kind]
        nx.draw_networkx_nodes(graph, positions, nodelist=nodes, ax=axes,
                               node_shape=style['shape'], node_color=style['color'],
                               node_size=style['size'], linewidths=style.get('width', 0.8))
        label = labels.get(kind, {})
        name = label.get('str_func', lambda n: str(n).split('.')[0])
        nx.draw_networkx_labels(graph, positions, labels={n: name(n) for n in nodes}, ax=axes,
                                font_size=label.get('font_size', LABEL_SIZES.get(kind, 10)),
                                font_weight=label.get('font_weight', 'normal'))
    by_style: Dict[Any, List[Any]] = {}
    for u, v, bandwidth in graph.edges(data='bandwidth'):
        by_style.setdefault(bandwidth if bandwidth in edge_styles else 'default', []).append((u, v))
    for bandwidth, edges in by_style.items():
        style = edge_styles[bandwidth]
        nx.draw_networkx_edges(graph, positions, edgelist=edges, ax=axes,
                               width=style.get('width', 0.8), edge_color=style.get('color', 'k'))
    axes.axis('off')
    axes.text(0.1, 0, "execo_g5k.topology, %s\nAPI commit %s"
              % (gr.graph.get('date'), gr.graph.get('api_commit')), transform=axes.transAxes)
    figure.tight_layout()
    return figure

"""Pictures of a planning: a Gantt chart of the hosts, and the free hosts over time.

matplotlib is an optional extra (``pip install execo[planning]``), imported
when a picture is asked for; the figure is drawn off screen (Agg) unless
``show=True``, and saved as a PNG a user can open.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Dict, Optional, Sequence, Tuple

from execo.log import logger
from execo.time_utils import format_date
from execo_g5k.api_utils import get_g5k_clusters, get_g5k_sites, get_site_clusters
from execo_g5k.exception import G5kValueError

__all__ = ['draw_gantt', 'draw_slots', 'element_colors']

BUSY_COLOR = '#666666'
_SITE_COLORS = [(255, 122, 122), (255, 204, 122), (255, 255, 122), (255, 246, 153),
                (204, 255, 122), (122, 255, 122), (122, 255, 255), (122, 204, 255),
                (204, 188, 255), (255, 188, 255)]


def _pyplot(show: bool) -> Any:
    try:
        import matplotlib
        if not show:
            matplotlib.use('Agg')
        import matplotlib.pyplot as pyplot
    except ImportError as exc:
        raise ImportError("drawing a planning needs matplotlib: pip install matplotlib "
                          "(or the execo[planning] extra)") from exc
    return pyplot


def element_colors() -> Dict[str, Any]:
    """A colour per site, shades of it per cluster, grey for busy."""
    colors: Dict[str, Any] = {'busy': BUSY_COLOR}
    for index, site in enumerate(sorted(get_g5k_sites())):
        base = [c / 255. for c in _SITE_COLORS[index % len(_SITE_COLORS)]]
        colors[site] = tuple(base)
        darkest = base.index(min(base))
        for shade, cluster in enumerate(sorted(get_site_clusters(site, queues=None))):
            color = list(base)
            color[darkest] = min(1., color[darkest] + 0.12 * shade)
            colors[cluster] = tuple(color)
    return colors


def _date(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts)


def _finish(pyplot: Any, figure: Any, show: bool, save: bool, outfile: str) -> Optional[str]:
    path = None
    if save:
        path = outfile if os.path.splitext(outfile)[1] else outfile + '.png'
        figure.savefig(path, dpi=100)
        logger.info('planning picture saved to %s', path)
    if show:
        pyplot.show()
    pyplot.close(figure)
    return path


def draw_gantt(planning: Dict[str, Any], colors: Optional[Dict[str, Any]] = None,
               show: bool = False, save: bool = True, outfile: Optional[str] = None
               ) -> Optional[str]:
    """One chart per site, a line per host, free time in the cluster's colour.

    Returns the path of the PNG written (``gantt_<sites>_<date>.png`` by
    default), or None with ``save=False``.
    """
    pyplot = _pyplot(show)
    import matplotlib.dates as mdates
    colors = colors or element_colors()
    intervals = [iv for site in planning.values() for resources in site.values()
                 for element in resources.values() for kind in ('busy', 'free')
                 for iv in element[kind]]
    if not intervals:
        raise G5kValueError('draw_gantt: the planning has no interval to draw')
    start, end = min(iv[0] for iv in intervals), max(iv[1] for iv in intervals)
    outfile = outfile or 'gantt_%s_%s' % ('_'.join(planning), format_date(start).replace(' ', '_'))
    columns = 2 if len(planning) > 1 else 1
    rows = -(-len(planning) // columns)
    figure = pyplot.figure(figsize=(15, 5 * rows))
    for index, (site, resources) in enumerate(planning.items(), 1):
        hosts = [(cluster, host, el) for cluster, els in resources.items() if cluster != 'vlans'
                 for host, el in sorted(els.items())]
        axes = figure.add_subplot(rows, columns, index, title=site.title())
        axes.xaxis_date()
        axes.set_xlim(_date(start), _date(end))
        axes.xaxis.set_major_formatter(mdates.DateFormatter('%d %b, %H:%M'))
        axes.get_yaxis().set_ticks([])
        for row, (cluster, host, el) in enumerate(hosts):
            for kind in ('free', 'busy'):
                color = colors.get(cluster, '#7a7aff') if kind == 'free' else colors['busy']
                spans = [(mdates.date2num(_date(a)), mdates.date2num(_date(b)) -
                          mdates.date2num(_date(a))) for a, b in el[kind] if b > a]
                axes.broken_barh(spans, (row, 1), facecolors=color, edgecolor='none')
        axes.set_ylim(0, max(1, len(hosts)))
        axes.set_ylabel(' '.join(c for c in resources if c != 'vlans'))
    figure.autofmt_xdate()
    return _finish(pyplot, figure, show, save, outfile)


def draw_slots(slots: Sequence[Sequence[Any]], colors: Optional[Dict[str, Any]] = None,
               show: bool = False, save: bool = True, outfile: Optional[str] = None
               ) -> Optional[str]:
    """The free hosts of each cluster over time, stacked, with the grid total.

    Returns the path of the PNG written (``slots_<date>.png`` by default).
    """
    if not slots:
        raise G5kValueError('draw_slots: no slot to draw')
    pyplot = _pyplot(show)
    import matplotlib.dates as mdates
    colors = colors or element_colors()
    outfile = outfile or 'slots_%s' % (format_date(slots[0][0]).replace(' ', '_'),)
    clusters = sorted(set(get_g5k_clusters(queues=None)).intersection(slots[0][2]))
    edges = [slot[0] for slot in slots] + [slots[-1][1]]
    steps: Tuple[list, ...] = ([], [])
    counts: Dict[str, list] = {cluster: [] for cluster in clusters}
    for slot, next_start in zip(slots, edges[1:]):
        steps[0].extend((slot[0], next_start))
        for cluster in clusters:
            counts[cluster].extend((slot[2][cluster],) * 2)
    figure = pyplot.figure(figsize=(15, 10))
    axes = figure.add_subplot(111)
    axes.xaxis_date()
    dates = mdates.date2num([_date(ts) for ts in steps[0]])
    axes.stackplot(dates, [counts[c] for c in clusters], labels=clusters,
                   colors=[colors.get(c, '#7a7aff') for c in clusters])
    most = max(slot[2].get('grid5000', 0) for slot in slots)
    axes.axhline(y=most, color='#000000', linewidth=2, label='most free hosts')
    axes.set_ylim(0, max(1, most) * 1.1)
    axes.set_xlabel('Time')
    axes.set_ylabel('Free hosts')
    axes.xaxis.set_major_formatter(mdates.DateFormatter('%d %b, %H:%M'))
    axes.legend(loc='upper right')
    figure.autofmt_xdate()
    return _finish(pyplot, figure, show, save, outfile)

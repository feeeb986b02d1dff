"""Parameter sweeps: expanding parameters into combinations, and handing
them out, crash-safely, to one or many processes.

`sweep` turns ``{parameter: [values]}`` into the list of all
combinations; `ParamSweeper` remembers on disk which of them are done or
being worked on, so that a script killed at any instant and started again
goes on where it stopped, and several processes (on one machine, or on
several through an NFS home) can share the work. The files are those of
execo 2.x (see `execo_engine.sweep_state`): a directory can be shared
with a 2.x script, in both directions, even at the same time.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import math
import os
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from execo_engine.sweep_state import Held, StateDirectory, SweepStateError, allow_classes

__all__ = ["HashableDict", "sweep", "geom", "igeom", "sweep_stats", "ParamSweeper",
           "SweepStateError", "allow_classes"]


def geom(range_min: float, range_max: float, num_steps: int) -> List[float]:
    """``num_steps`` floats from ``range_min`` to ``range_max``, each a
    constant ratio from the previous: ``geom(1, 100, 3) == [1.0, 10.0, 100.0]``."""
    steps = int(num_steps)
    if steps == 0:
        return []
    first = float(range_min)
    if steps == 1:
        return [first]
    ratio = math.pow(float(range_max) / first, 1.0 / (steps - 1))
    # ratio ** i rather than an accumulated product: the same floats as 2.x
    return [first] + [first * math.pow(ratio, i) for i in range(1, steps - 1)] \
        + [float(range_max)]


def igeom(range_min: int, range_max: int, num_steps: int) -> List[int]:
    """`geom` rounded to integers, without duplicates, sorted (so maybe
    shorter): ``igeom(1, 1000, 4) == [1, 10, 100, 1000]``."""
    steps = int(num_steps)
    if steps == 0:
        return []
    if steps == 1:
        return [int(range_min)]
    values = {int(round(x)) for x in geom(range_min, range_max, steps)}
    return sorted(values | {int(range_min), int(range_max)})


class HashableDict(dict):
    """A dict usable as a set member or a dict key: one combination.

    Its hash is computed from its content at each call: do not change a
    combination once it is stored in a set or a sweeper.
    """

    def _items_in_order(self) -> Tuple[Tuple[Any, Any], ...]:
        try:
            keys = sorted(self)
        except TypeError:   # keys of mixed types: any order fixed by the content
            keys = sorted(self, key=lambda k: (type(k).__name__, repr(k)))
        return tuple((k, self[k]) for k in keys)

    def __hash__(self) -> int:   # type: ignore[override]
        return hash(self._items_in_order())


def sweep(parameters: Dict[Any, Any]) -> List[HashableDict]:
    """Every combination of the parameters' values (a full factorial design).

    ``parameters`` maps each parameter to a list of its values. A value
    list may instead be a dict ``{value: sub_parameters}``: the
    sub-parameters are then swept only with that value::

        >>> sweep({"size": [1, 2], "algo": {"a": {}, "b": {"depth": [3, 4]}}})
        [{'size': 1, 'algo': 'a'}, {'size': 1, 'algo': 'b', 'depth': 3}, ...]

    The order of the list, and of each combination's keys, is that of
    execo 2.x for the same input: names made from combinations with
    `execo_engine.utils.slugify` are the same as a 2.x run's. A parameter
    with no values is left out.
    """
    combinations = [HashableDict()]
    for name, values in parameters.items():
        if len(values) == 0:
            continue
        if isinstance(values, dict):
            choices = [({name: value}, sweep(sub)) for value, sub in values.items()]
        else:
            choices = [({name: value}, [{}]) for value in values]
        combinations = [_merged(partial, head, tail)
                        for partial in combinations
                        for head, tails in choices
                        for tail in tails]
    return combinations


def _merged(*parts: Dict[Any, Any]) -> HashableDict:
    combination = HashableDict()
    for part in parts:
        combination.update(part)
    return combination


def _count_values(combinations: Iterable[Dict[Any, Any]]) -> Dict[Any, Dict[Any, int]]:
    counts: Dict[Any, Dict[Any, int]] = {}
    for combination in combinations:
        for name, value in combination.items():
            per_value = counts.setdefault(name, {})
            per_value[value] = per_value.get(value, 0) + 1
    return counts


def sweep_stats(stats: Tuple[Set[Any], ...]) -> Dict[str, Dict[Any, Dict[Any, float]]]:
    """Per parameter and per value: how many combinations are remaining,
    skipped, in progress, done, and which fraction of the total.

    ``stats`` is what `ParamSweeper.stats` returns::

        progress = sweep_stats(sweeper.stats())
        progress["done_ratio"]["size"][1]     # 0.5: half the size=1 ones are done
    """
    sweeps, remaining, skipped, inprogress, done = stats
    total = _count_values(sweeps)
    result: Dict[str, Dict[Any, Any]] = {"total": total}
    for state, combinations in (("remaining", remaining), ("skipped", skipped),
                                ("inprogress", inprogress), ("done", done)):
        counts = _count_values(combinations)
        result[state] = counts
        result[state + "_ratio"] = {
            name: {value: float(counts.get(name, {}).get(value, 0)) / float(count)
                   for value, count in per_value.items()}
            for name, per_value in total.items()}
    return result


class _RemainingView(collections.abc.Set):
    """The remaining combinations as a read-only set, in hand-out order,
    without a copy: what a ``filtr`` receives. 2.x gave filters its own
    set, so the named set methods are here too."""

    def __init__(self, remaining: Dict[Any, None]) -> None:
        self._remaining = remaining

    def __contains__(self, combination: Any) -> bool:
        return combination in self._remaining

    def __iter__(self) -> Iterator[Any]:
        return iter(self._remaining)

    def __len__(self) -> int:
        return len(self._remaining)

    def copy(self) -> Set[Any]:
        return set(self._remaining)

    def intersection(self, *others: Iterable[Any]) -> Set[Any]:
        return set(self._remaining).intersection(*others)

    def union(self, *others: Iterable[Any]) -> Set[Any]:
        return set(self._remaining).union(*others)

    def difference(self, *others: Iterable[Any]) -> Set[Any]:
        return set(self._remaining).difference(*others)

    def symmetric_difference(self, other: Iterable[Any]) -> Set[Any]:
        return set(self._remaining).symmetric_difference(other)

    def issubset(self, other: Iterable[Any]) -> bool:
        return set(self._remaining).issubset(other)

    def issuperset(self, other: Iterable[Any]) -> bool:
        return all(c in self._remaining for c in other)


class ParamSweeper:
    """Hands out combinations to work on, and remembers on disk which are done.

    Each combination is *remaining*, *in progress* (handed out by
    `get_next`), *done*, or *skipped*. Done and in progress are kept in
    ``persistence_dir``; skipped is not (a later run retries them).
    Typical use, safe to kill and start again at any instant::

        sweeper = ParamSweeper(os.path.join(result_dir, "sweeps"),
                               sweep({"size": [1, 2, 4], "algo": ["a", "b"]}))
        while (combination := sweeper.get_next()) is not None:
            try:
                measure(combination)
            except Exception:
                sweeper.skip(combination)     # retried by the next run
            except BaseException:             # Ctrl-C: back in the queue
                sweeper.cancel(combination)
                raise
            else:
                sweeper.done(combination)     # on disk when it returns

    Guarantees: once `done` has returned, the combination is never handed
    out again, by this sweeper or by any other sharing the directory
    (processes on this machine, or on others through NFS with working
    locks), whatever is killed when. No combination is handed to two
    sweepers at once. A combination handed out by a process that died is
    left in progress: `reset` (``reset_inprogress=True``) puts those back
    when you know no one is working on them.

    Combinations are handed out in the order of ``sweeps`` (a set loaded
    from disk has no order). A sweeper is thread-safe.
    """

    def __init__(self, persistence_dir: str, sweeps: Optional[Iterable[Any]] = None,
                 save_sweeps: bool = False, name: Optional[str] = None) -> None:
        """``sweeps``: the combinations; if empty or None, those saved in
        ``persistence_dir`` by an earlier ``save_sweeps=True``.
        ``name``: for logs (default: the directory's name)."""
        self._state = StateDirectory(persistence_dir)
        self._name = name or os.path.basename(persistence_dir)
        self._lock = threading.RLock()
        self._sweeps: Dict[Any, None] = {}
        self._remaining: Dict[Any, None] = {}   # ordered; fast removal anywhere
        self._queue: collections.deque = collections.deque()   # hand-out order, lazily pruned
        self._done: Set[Any] = set()            # everything done on disk, ours or not
        self._filtered_done: Set[Any] = set()   # the part of _done in _sweeps
        self._inprogress: Set[Any] = set()      # as on disk
        self._skipped: Set[Any] = set()
        self._done_mark: Tuple[int, int, int] = (-1, -1, 0)   # dev, inode, bytes read
        self._held: Optional[Held] = None       # the files, while in _synced
        self.set_sweeps(sweeps, save_sweeps)

    # -- reading the shared state ------------------------------------

    @contextlib.contextmanager
    def _synced(self, full: bool = False) -> Iterator[Held]:
        """Hold the directory, with this sweeper up to date with the disk."""
        with self._lock:
            if self._held is not None:
                # called again from a filter, by this thread (the others wait on
                # self._lock): the directory is held and the state fresh
                yield self._held
                return
            with self._state.transaction() as held:
                stat = os.fstat(held.done_fd)
                dev, ino, read = self._done_mark
                if full or (dev, ino) != (stat.st_dev, stat.st_ino) or stat.st_size < read:
                    self._reload_done(held, stat)
                else:
                    records, end = self._state.locked_read_done(held, read)
                    self._done_mark = (dev, ino, end)
                    self._add_done(records)
                self._set_inprogress(self._state.locked_read_inprogress(held))
                self._held = held
                try:
                    yield held
                finally:
                    self._held = None

    def _reload_done(self, held: Held, stat: os.stat_result) -> None:
        records, end = self._state.locked_read_done(held, 0)
        self._done_mark = (stat.st_dev, stat.st_ino, end)
        self._done = set(records)
        self._filtered_done = {c for c in self._done if c in self._sweeps}
        self._inprogress = self._state.locked_read_inprogress(held)
        self._remaining = {c: None for c in self._sweeps if self._is_todo(c)}
        self._queue = collections.deque(self._remaining)

    def _is_todo(self, combination: Any) -> bool:
        return (combination in self._sweeps and combination not in self._done
                and combination not in self._inprogress and combination not in self._skipped)

    def _add_done(self, combinations: Iterable[Any]) -> None:
        for combination in combinations:
            self._done.add(combination)
            self._remaining.pop(combination, None)
            if combination in self._sweeps:
                self._filtered_done.add(combination)

    def _set_inprogress(self, inprogress: Set[Any]) -> None:
        previous, self._inprogress = self._inprogress, inprogress
        for combination in inprogress - previous:
            self._remaining.pop(combination, None)
        # released elsewhere (cancelled, reset, file removed): todo again
        self._make_todo(previous - inprogress)

    def _make_todo(self, combinations: Iterable[Any]) -> None:
        for combination in combinations:
            if self._is_todo(combination) and combination not in self._remaining:
                self._remaining[combination] = None
                self._queue.append(combination)

    def _write_inprogress(self) -> None:
        self._state.locked_write_inprogress(self._held, self._inprogress)

    # -- handing out -------------------------------------------------

    def _take(self, combinations: List[Any]) -> None:
        for combination in combinations:
            self._remaining.pop(combination, None)
        self._inprogress.update(combinations)
        self._write_inprogress()

    def _candidates(self, filtr: Optional[Callable[[Any], Iterable[Any]]]) -> Iterator[Any]:
        if filtr is not None:
            yield from filtr(_RemainingView(self._remaining))
            return
        while self._queue:
            combination = self._queue.popleft()
            if combination in self._remaining:
                yield combination

    def get_next(self, filtr: Optional[Callable[[Any], Iterable[Any]]] = None) -> Optional[Any]:
        """The next remaining combination, now in progress; None when none is left.

        ``filtr`` receives the remaining combinations (a read-only set) and
        returns those to choose from, first choice first: e.g.
        ``lambda r: sorted(r, key=lambda c: c["size"])``.
        """
        with self._synced():
            combination = next(self._candidates(filtr), None)
            if combination is None:
                return None
            self._take([combination])
            return combination

    def get_next_batch(self, num_combs: int,
                       filtr: Optional[Callable[[Any], Iterable[Any]]] = None) -> List[Any]:
        """Up to ``num_combs`` remaining combinations, now in progress (a list)."""
        with self._synced():
            batch: List[Any] = []
            candidates = self._candidates(filtr)
            while len(batch) < num_combs:
                combination = next(candidates, None)
                if combination is None:
                    break
                batch.append(combination)
            candidates.close()
            self._take(batch)
            return batch

    # -- finishing ---------------------------------------------------

    def done(self, combination: Any) -> None:
        """Mark ``combination`` done; returns once that is fsync'ed to disk."""
        self.done_batch([combination])

    def done_batch(self, combinations: Iterable[Any]) -> None:
        """Mark the combinations done; returns once that is fsync'ed to disk."""
        combinations = list(combinations)
        with self._synced() as held:
            new = [c for c in dict.fromkeys(combinations) if c not in self._done]
            if new:
                written = self._state.locked_append_done(held, new)
                dev, ino, read = self._done_mark
                self._done_mark = (dev, ino, read + written)
                self._add_done(new)
            self._release(combinations)

    def skip(self, combination: Any) -> None:
        """Mark ``combination`` skipped: not handed out again by this
        sweeper until `reset`; not kept on disk, so a later run retries it."""
        self.skip_batch([combination])

    def skip_batch(self, combinations: Iterable[Any]) -> None:
        """`skip` for several combinations."""
        combinations = list(combinations)
        with self._synced():
            self._skipped.update(combinations)
            for combination in combinations:
                self._remaining.pop(combination, None)
            self._release(combinations)

    def cancel(self, combination: Any) -> None:
        """Give ``combination`` back: remaining again, handed out again later."""
        self.cancel_batch([combination])

    def cancel_batch(self, combinations: Iterable[Any]) -> None:
        """`cancel` for several combinations."""
        with self._synced():
            self._release(list(combinations))

    def _release(self, combinations: List[Any]) -> None:
        released = self._inprogress.intersection(combinations)
        if released:
            self._inprogress.difference_update(released)
            self._write_inprogress()
        self._make_todo(combinations)

    def reset(self, reset_inprogress: bool = False) -> None:
        """Make the skipped combinations remaining again; with
        ``reset_inprogress``, also every one in progress, in every process
        sharing the directory (for after a crash: call it only when no one
        else is working). Done stays done."""
        with self._synced():
            skipped, self._skipped = self._skipped, set()
            self._make_todo(skipped)
            if reset_inprogress and self._inprogress:
                self._release(list(self._inprogress))

    # -- state -------------------------------------------------------

    def update(self) -> None:
        """Read what other processes changed on disk (quick: only what is new)."""
        with self._synced():
            pass

    def full_update(self) -> None:
        """Read the whole state again from disk."""
        with self._synced(full=True):
            pass

    def set_sweeps(self, sweeps: Optional[Iterable[Any]] = None, save_sweeps: bool = False) -> None:
        """Change the combinations to hand out (None: load those saved);
        ``save_sweeps`` writes them to the directory, for a later
        ``ParamSweeper(directory)`` without sweeps."""
        with self._lock:
            if sweeps:
                self._sweeps = dict.fromkeys(sweeps)
                if save_sweeps:
                    self._state.save_sweeps(self._sweeps)
            else:
                self._sweeps = dict.fromkeys(self._state.load_sweeps())
            self.full_update()

    def get_sweeps(self) -> Set[Any]:
        """All the combinations (a copy)."""
        with self._lock:
            return set(self._sweeps)

    def get_remaining(self) -> Set[Any]:
        """The combinations not handed out yet (a copy)."""
        with self._lock:
            return set(self._remaining)

    def get_inprogress(self) -> Set[Any]:
        """The combinations handed out and not finished, by any sharing process (a copy)."""
        with self._lock:
            return {c for c in self._inprogress if c in self._sweeps}

    def get_done(self) -> Set[Any]:
        """The done combinations (a copy)."""
        with self._lock:
            return set(self._filtered_done)

    def get_skipped(self) -> Set[Any]:
        """The combinations skipped by this sweeper (a copy)."""
        with self._lock:
            return {c for c in self._skipped if c in self._sweeps}

    def stats(self) -> Tuple[Set[Any], Set[Any], Set[Any], Set[Any], Set[Any]]:
        """``(sweeps, remaining, skipped, inprogress, done)``, taken at one
        instant (as last read from disk; `update` first for the latest)."""
        with self._lock:
            return (self.get_sweeps(), self.get_remaining(), self.get_skipped(),
                    self.get_inprogress(), self.get_done())

    def __str__(self) -> str:
        with self._lock:
            return "%s <%i total, %i done, %i skipped, %i in progress, %i remaining>" % (
                self._name, len(self._sweeps), len(self._filtered_done),
                len(self.get_skipped()), len(self.get_inprogress()), len(self._remaining))

"""Local: one local process as an action, to mix it with remote ones
(in a `ParallelActions`, a `Report`, a wait over actions).

The thinnest `execo.action.Action`: its one process is a `Process`; the
action's keywords go to the action, every other keyword to the process.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from execo.action import Action, split_action_kwargs
from execo.log import style
from execo.process import Process
from execo.process_base import Command, check_command, name_from_cmdline

__all__ = ["Local"]


class Local(Action):
    """One local process, as an action (to mix it with remote ones).

    >>> Local("echo hi", ignore_exit_code=True).run().ok
    True

    :param cmd: as for `Process`.
    :param process_args: keyword arguments of the `Process`; any keyword
      that `Action` does not take is added to them.
    """

    def __init__(self, cmd: Command, process_args: Optional[Dict[str, Any]] = None,
                 **kwargs: Any) -> None:
        action_kwargs, self.process_args = split_action_kwargs(kwargs, process_args,
                                                               type(self).__name__)
        action_kwargs.setdefault("name", name_from_cmdline(check_command(cmd)))
        super().__init__(**action_kwargs)
        self.cmd = cmd
        self._set_processes([Process(cmd, **self.process_args)])

    def _args(self) -> List[str]:
        args = [style.command(repr(self.cmd))] + super()._args()
        if self.process_args:
            args.append("process_args=%r" % (self.process_args,))
        return args

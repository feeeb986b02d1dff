"""taktuk: many hosts driven by ONE local taktuk process.

- `execo.taktuk.protocol`: the wire -- what taktuk is asked to print and
  how it is read back into records. Knows nothing of processes.
- `execo.taktuk.driver`: one run -- taktuk's argv, the local taktuk root,
  the records dispatched to one `execo.fed_process.FedProcess` per host.
- `execo.taktuk.actions`: what `TaktukRemote`, `TaktukPut` and
  `TaktukGet` ask taktuk.
"""

from execo.taktuk.actions import TaktukGet, TaktukPut, TaktukRemote
from execo.taktuk.driver import TaktukProcess, taktuk_command

__all__ = ["TaktukGet", "TaktukProcess", "TaktukPut", "TaktukRemote", "taktuk_command"]

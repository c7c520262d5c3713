# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How every natctl.gateway module reaches natctld.
    DOCUMENTATION = r'''
options:
  socket:
    description:
      - Path of natctld's API socket (HTTP/1.1 over a Unix socket) on the managed host.
      - The task's user needs write access to it (mode 0660; root, or the socket's group).
    type: path
    default: /run/natctl/natctld.sock
  timeout:
    description:
      - Seconds to wait for each answer of natctld.
      - A whole-model write with many entries waits for the kernel apply; raise it for very large models.
    type: float
    default: 30
notes:
  - Talks HTTP to natctld with ansible-core's own C(open_url); no Python library beyond ansible-core is needed on the managed host.
  - natctld's error paths are paths in the model, e.g. C(nat_gateways[0].dnat_entries[3].eip).
'''

    # Modules that write: check mode and diff mode.
    WRITES = r'''
attributes:
  check_mode:
    support: full
    description:
      - natctld validates the change and plans it (its C(?dry_run=1)) without changing anything,
        so a model that natctld would refuse fails in check mode too.
  diff_mode:
    support: full
    description:
      - C(before) and C(after) are natctld's JSON of the object (the whole model for M(natctl.gateway.natctl_model)).
notes:
  - C(changed) is natctld's own verdict; writing what is already there is C(ok) and creates no revision.
  - Writes send C(If-Match) with the revision the module read first, so a concurrent writer makes the task fail
    (HTTP 412) instead of one of the two changes being lost.
'''

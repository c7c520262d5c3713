#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: natctl_info
short_description: Read natctld's revision, reconcile status, port usage, model and history
version_added: 0.1.0
description:
  - Reads natctld's state through its API socket and changes nothing.
  - C(revision) is always returned; C(gather) chooses what else is read.
author:
  - natctl maintainers (@natctl)
extends_documentation_fragment:
  - natctl.gateway.natctld
options:
  gather:
    description:
      - What to read besides the revision.
      - C(status) is C(GET /v1/status) (reconcile state, kernel features, drift repairs, conntrack purges).
      - C(ports) is C(GET /v1/ports) (sessions and port budget utilization per EIP, per entry, top sources;
        conntrack accounting). When natctld's accounting is not running it is C(null) and C(ports_error) says why.
      - C(model) is the current model (C(GET /v1/config)); C(revisions) the kept revisions (C(GET /v1/revisions)).
    type: list
    elements: str
    choices: [status, ports, model, revisions]
    default: [status, ports]
  nat_gateway:
    description: Limits C(ports) to the EIPs of this NAT gateway.
    type: str
  eip:
    description: Limits C(ports) to this EIP.
    type: str
  top:
    description: How many destinations and sources C(ports) lists per EIP.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to compare.
seealso:
  - module: natctl.gateway.natctl_model
'''

EXAMPLES = r'''
- name: Read natctld's revision and status
  natctl.gateway.natctl_info:
  register: natctl

- name: Fail when the data plane is not in sync with the model
  ansible.builtin.assert:
    that: natctl.status.reconcile.state == 'in_sync'
    fail_msg: "natctld: {{ natctl.status.reconcile.last_error }}"

- name: EIPs of ngw-demo above 80% of their port budget
  natctl.gateway.natctl_info:
    gather: [ports]
    nat_gateway: ngw-demo
  register: usage
- ansible.builtin.debug:
    msg: "{{ usage.ports.eips | selectattr('utilization', 'gt', 0.8) | map(attribute='name') | list }}"
'''

RETURN = r'''
revision:
  description: The model's current revision.
  returned: always
  type: int
  sample: 42
status:
  description: natctld's status (C(GET /v1/status)).
  returned: when C(gather) has C(status)
  type: dict
  contains:
    reconcile:
      description: C({state, last_apply_time, last_error}); C(state) is C(in_sync), C(failed) or C(repairing).
      type: dict
    kernel_features:
      description: Kernel features natctld detected.
      type: dict
    drift_repairs:
      description: How often natctld put the kernel back to the model.
      type: int
ports:
  description:
    - Port and session accounting from C(GET /v1/ports), per EIP C(sessions), C(port_budget), C(utilization),
      C(top_destinations), C(top_sources), C(budget_in_force); per SNAT and DNAT entry C(sessions);
      C(conntrack) accounting health; C(budget) refusal counters.
    - C(null) when natctld's conntrack accounting is not running.
  returned: when C(gather) has C(ports)
  type: dict
ports_error:
  description: Why C(ports) is C(null).
  returned: when C(gather) has C(ports) and the accounting is not running
  type: str
model:
  description: The current model, in natctl's canonical JSON.
  returned: when C(gather) has C(model)
  type: dict
revisions:
  description: The kept revisions, oldest first, each C({revision, time, author, summary}).
  returned: when C(gather) has C(revisions)
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.natctl.gateway.plugins.module_utils.natctld import (
    CONNECTION_ARGS, NatctldError, NatctldUnreachable, client_for, fail_with, path_segment)


def ports_query(params):
    query = ['top=%d' % params['top']]
    if params['nat_gateway']:
        query.append('gateway=' + path_segment(params['nat_gateway']))
    if params['eip']:
        query.append('eip=' + path_segment(params['eip']))
    return query


def gather(module, client):
    wanted = set(module.params['gather'])
    result = dict(changed=False)
    # The model's GET carries the revision as its ETag; status also reports it.
    config = client.get('/v1/config')
    result['revision'] = config.revision
    if 'model' in wanted:
        result['model'] = config.body
    if 'status' in wanted:
        result['status'] = client.get('/v1/status').body
    if 'revisions' in wanted:
        result['revisions'] = (client.get('/v1/revisions').body or {}).get('revisions', [])
    if 'ports' in wanted:
        try:
            result['ports'] = client.get('/v1/ports', query=ports_query(module.params)).body
        except NatctldError as error:
            if error.status != 503:
                raise
            result['ports'] = None
            result['ports_error'] = '; '.join(error.reasons()) or 'conntrack accounting is not running'
    return result


def main():
    argument_spec = dict(
        gather=dict(type='list', elements='str', default=['status', 'ports'],
                    choices=['status', 'ports', 'model', 'revisions']),
        nat_gateway=dict(type='str'),
        eip=dict(type='str'),
        top=dict(type='int', default=5),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params['top'] < 0:
        module.fail_json(msg='top: must be 0 or more, got %d' % module.params['top'])
    try:
        result = gather(module, client_for(module))
    except (NatctldError, NatctldUnreachable) as error:
        fail_with(module, error)
    module.exit_json(**result)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: natctl_model
short_description: Apply a whole natctl model (VPCs, EIPs, NAT gateways, routes) declaratively
version_added: 0.1.0
description:
  - Makes natctld's model exactly the given one, with one C(PUT /v1/config) on natctld's API socket.
    natctld validates the whole model, plans the change, applies it to the kernel in one atomic
    netlink batch and stores it as a new revision.
  - Objects the model no longer lists are removed; use M(natctl.gateway.natctl_dnat),
    M(natctl.gateway.natctl_snat) or M(natctl.gateway.natctl_eip) to change one object and leave the rest alone.
  - In check mode natctld validates and plans the model (C(?dry_run=1)) and changes nothing, so an
    invalid model fails in C(--check) as it would for real, and C(plan) says what would change.
  - A model equal to natctld's current one changes nothing and is reported C(ok) (no new revision).
  - "An invalid model fails with every problem natctld found, each as C(path: reason) in C(reasons)."
author:
  - natctl maintainers (@natctl)
extends_documentation_fragment:
  - natctl.gateway.natctld
  - natctl.gateway.natctld.writes
options:
  model:
    description:
      - The model, as in natctl's JSON format (C(version), C(vpcs), C(eips), C(nat_gateways), C(ipv4_gateways), C(limits)).
      - Its fields are described in natctl's README.md ("What natctl programs") and shown in its C(examples/) directory.
      - Mutually exclusive with C(src).
    type: dict
  src:
    description:
      - Path of a JSON file holding the model, on the managed host.
      - Mutually exclusive with C(model). To send a file from the controller, use
        C(model) with the C(file) lookup and the C(from_json) filter (see the examples).
    type: path
  revision:
    description:
      - The revision the model must still be at, e.g. the C(revision) an earlier
        M(natctl.gateway.natctl_info) task returned. When natctld's revision differs, the task
        fails (HTTP 412) and nothing changes.
      - Without it, the task guards against a writer between its own read and write only.
    type: int
requirements:
  - natctld running on the managed host
seealso:
  - module: natctl.gateway.natctl_info
  - module: natctl.gateway.natctl_dnat
'''

EXAMPLES = r'''
- name: Apply the quick-start model shipped with natctl
  natctl.gateway.natctl_model:
    model: "{{ lookup('ansible.builtin.file', 'examples/quickstart.json') | from_json }}"
  register: applied

- name: Show what changed
  ansible.builtin.debug:
    var: applied.plan

- name: Apply a model file that is already on the gateway
  natctl.gateway.natctl_model:
    src: /etc/natctl/model.json

- name: Validate and plan only (also what --check does)
  natctl.gateway.natctl_model:
    src: /etc/natctl/model.json
  check_mode: true
  register: planned

- name: Apply only if nobody changed the model since it was read
  natctl.gateway.natctl_model:
    model: "{{ new_model }}"
    revision: "{{ facts.revision }}"
'''

RETURN = r'''
revision:
  description:
    - The model's revision after the task (unchanged in check mode or when nothing changed).
  returned: always
  type: int
  sample: 42
previous_revision:
  description: The revision natctld was at when the task read the model.
  returned: always
  type: int
  sample: 41
plan:
  description:
    - natctld's plan of the change; in check mode what would change. Objects are matched by kind and name.
  returned: always
  type: dict
  contains:
    added:
      description: Objects added, each C({kind, name, path}); C(path) in the new model.
      type: list
      elements: dict
    changed:
      description: Objects whose own fields changed or that moved to another parent.
      type: list
      elements: dict
    removed:
      description: Objects removed; C(path) in the old model.
      type: list
      elements: dict
  sample:
    added: [{"kind": "dnat_entry", "name": "web-http", "path": "nat_gateways[0].dnat_entries[0]"}]
    changed: []
    removed: []
kernel:
  description:
    - The data plane's summary of the change (sets, chains, elements, routes; C(changed)); in check
      mode the planned change. Empty when the model did not change.
  returned: always
  type: dict
dry_run:
  description: Whether natctld only planned the change (check mode).
  returned: always
  type: bool
kind:
  description: >-
    The kind of natctld's errors: C(invalid), C(not_found), C(conflict), C(kernel_refused)
    (the kernel is as it was), C(outcome_unknown) (natctld repairs the kernel to the stored
    revision; run the task again), C(unavailable) or C(internal).
  returned: failed with an answer from natctld
  type: str
  sample: invalid
reasons:
  description: "Every problem natctld found with the model, as C(path: reason)."
  returned: failed
  type: list
  elements: str
  sample: ["nat_gateways[0].dnat_entries[0].eip: unknown EIP 'eip-nope'"]
errors:
  description: natctld's errors as it answered them, each C({path, reason}).
  returned: failed
  type: list
  elements: dict
status:
  description: The HTTP status of natctld's refusal (412 for a concurrent change, 422 for an invalid model).
  returned: failed
  type: int
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.natctl.gateway.plugins.module_utils.natctld import (
    CONNECTION_ARGS, NatctldError, NatctldUnreachable, client_for, fail_with, write_result)


def read_model(module):
    if module.params['model'] is not None:
        return module.params['model']
    path = module.params['src']
    try:
        with open(path, 'rb') as handle:
            model = json.loads(handle.read().decode('utf-8'))
    except (IOError, OSError) as error:
        module.fail_json(msg='cannot read src %s: %s' % (path, to_native(error)))
    except ValueError as error:
        module.fail_json(msg='src %s is not JSON: %s' % (path, to_native(error)))
    if not isinstance(model, dict):
        module.fail_json(msg='src %s: the model must be a JSON object, not %s' % (path, type(model).__name__))
    return model


def main():
    argument_spec = dict(
        model=dict(type='dict'),
        src=dict(type='path'),
        revision=dict(type='int'),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('model', 'src')], required_one_of=[('model', 'src')])
    desired = read_model(module)
    client = client_for(module)
    try:
        current = client.get('/v1/config')
        expected = module.params['revision']
        if_match = current.revision if expected is None else expected
        answer = client.request('PUT', '/v1/config', body=desired, if_match=if_match,
                                dry_run=module.check_mode)
        result = write_result(answer, module.check_mode)
        result['previous_revision'] = current.revision
        if not result['changed']:
            after = current.body
        else:
            after = desired
    except (NatctldError, NatctldUnreachable) as error:
        fail_with(module, error, changed=False)
    if result['changed'] and not module.check_mode:
        try:
            after = client.get('/v1/config').body
        except (NatctldError, NatctldUnreachable) as error:
            # The write is done; only the diff's 'after' is second-hand.
            module.warn('revision %s was written, but reading it back failed: %s' % (result['revision'], to_native(error)))
            after = desired
    if module._diff:
        result['diff'] = dict(before=current.body, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: natctl_eip
short_description: Manage one elastic IP of natctl and its association with a NAT gateway
version_added: 0.1.0
description:
  - Makes the EIP C(name) exist with C(address) and, with C(nat_gateway), associated with that
    NAT gateway; or makes it absent (disassociated and removed).
  - The EIP and its association change together in one write of the model (C(PUT /v1/config) with
    C(If-Match)), so that natctld validates both at once, also in check mode; removing an EIP an
    SNAT or DNAT entry still uses fails with natctld's reasons and changes nothing.
  - An EIP associated with another gateway is moved to C(nat_gateway).
author:
  - natctl maintainers (@natctl)
extends_documentation_fragment:
  - natctl.gateway.natctld
  - natctl.gateway.natctld.writes
options:
  name:
    description: Name of the EIP.
    type: str
    required: true
  state:
    description: Whether the EIP must exist or not.
    type: str
    choices: [present, absent]
    default: present
  address:
    description:
      - Its public IPv4 address. Required to create the EIP; when omitted, an existing EIP keeps its address.
    type: str
  nat_gateway:
    description:
      - Name of the NAT gateway the EIP is associated with. Omitted, the association is left as it is.
    type: str
seealso:
  - module: natctl.gateway.natctl_snat
  - module: natctl.gateway.natctl_dnat
'''

EXAMPLES = r'''
- name: An EIP for web traffic, on ngw-demo
  natctl.gateway.natctl_eip:
    name: eip-web
    address: 203.0.113.11
    nat_gateway: ngw-demo

- name: Release it (fails while an entry still uses it)
  natctl.gateway.natctl_eip:
    name: eip-web
    state: absent
'''

RETURN = r'''
revision:
  description: The model's revision after the task.
  returned: always
  type: int
  sample: 44
object:
  description: C({name, address, nat_gateway}) of the EIP after the task (as it would be, in check mode); C(null) when absent.
  returned: always
  type: dict
  sample: {"name": "eip-web", "address": "203.0.113.11", "nat_gateway": "ngw-demo"}
plan:
  description: natctld's plan of the change (C(added), C(changed), C(removed) objects); empty when nothing changed.
  returned: always
  type: dict
kernel:
  description: The data plane's summary of the change.
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
reasons:
  description: "Every problem natctld found, as C(path: reason)."
  returned: failed
  type: list
  elements: str
'''

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.natctl.gateway.plugins.module_utils.natctld import (
    CONNECTION_ARGS, NatctldError, NatctldUnreachable, client_for, fail_with, write_result)


def eip_view(model, name):
    """{name, address, nat_gateway} of the EIP in MODEL, None when it has none such."""
    for eip in model.get('eips', []):
        if eip.get('name') == name:
            gateways = [gw.get('name') for gw in model.get('nat_gateways', []) if name in gw.get('eips', [])]
            return dict(name=name, address=eip.get('address'), nat_gateway=gateways[0] if gateways else None)
    return None


def edited(module, model):
    """A copy of MODEL with the EIP as the task asks."""
    params = module.params
    name = params['name']
    result = copy.deepcopy(model)
    eips = result.setdefault('eips', [])
    existing = [eip for eip in eips if eip.get('name') == name]
    gateways = result.get('nat_gateways', [])
    if params['state'] == 'absent':
        result['eips'] = [eip for eip in eips if eip.get('name') != name]
        for gateway in gateways:
            if name in gateway.get('eips', []):
                gateway['eips'] = [eip for eip in gateway['eips'] if eip != name]
        return result
    if existing:
        if params['address'] is not None:
            existing[0]['address'] = params['address']
    elif params['address'] is None:
        module.fail_json(msg='address: required to create EIP %s' % name)
    else:
        eips.append(dict(name=name, address=params['address']))
    wanted = params['nat_gateway']
    if wanted is None:
        return result
    if not any(gateway.get('name') == wanted for gateway in gateways):
        module.fail_json(msg='nat_gateway: there is no NAT gateway %s' % wanted)
    for gateway in gateways:
        listed = name in gateway.get('eips', [])
        if gateway.get('name') == wanted and not listed:
            gateway.setdefault('eips', []).append(name)
        elif gateway.get('name') != wanted and listed:
            gateway['eips'] = [eip for eip in gateway['eips'] if eip != name]
    return result


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        address=dict(type='str'),
        nat_gateway=dict(type='str'),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = client_for(module)
    name = module.params['name']
    try:
        current = client.get('/v1/config')
        before_model = current.body or {}
        after_model = edited(module, before_model)
        if after_model == before_model:
            result = dict(changed=False, revision=current.revision, plan={}, kernel={}, dry_run=module.check_mode)
        else:
            answer = client.request('PUT', '/v1/config', body=after_model, if_match=current.revision,
                                    dry_run=module.check_mode)
            result = write_result(answer, module.check_mode)
    except (NatctldError, NatctldUnreachable) as error:
        fail_with(module, error, changed=False)
    before = eip_view(before_model, name)
    after = eip_view(after_model, name) if result['changed'] else before
    result['object'] = after
    result['diff'] = dict(before=before or {}, after=after or {})
    module.exit_json(**result)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: natctl_snat
short_description: Manage one SNAT entry of a natctl NAT gateway
version_added: 0.1.0
description:
  - Creates, replaces or removes the SNAT entry C(name) of the NAT gateway C(nat_gateway) through
    C(/v1/nat_gateways/GW/snat_entries) and leaves the rest of the model alone.
  - An SNAT entry translates the sources it covers (a VPC, a vSwitch, an instance or a CIDR) to
    one of its EIPs; the entry with the longest matching prefix wins.
author:
  - natctl maintainers (@natctl)
extends_documentation_fragment:
  - natctl.gateway.natctld
  - natctl.gateway.natctld.writes
options:
  nat_gateway:
    description: Name of the NAT gateway the entry belongs to; it must exist.
    type: str
    required: true
  name:
    description: Name of the SNAT entry, unique within the gateway.
    type: str
    required: true
  state:
    description: Whether the entry must exist (replaced whole when it differs) or not.
    type: str
    choices: [present, absent]
    default: present
  source:
    description: The sources the entry translates; exactly one of its suboptions. Required with C(state=present).
    type: dict
    suboptions:
      vpc:
        description: Every address of this VPC.
        type: str
      vswitch:
        description: Every address of this vSwitch.
        type: str
      instance:
        description: The private addresses of this instance.
        type: str
      cidr:
        description: A prefix inside the gateway's VPC, e.g. C(10.0.2.0/25).
        type: str
  eips:
    description:
      - Names of the EIPs the sources are translated to; each associated with the gateway.
        Required with C(state=present).
    type: list
    elements: str
  eip_affinity:
    description:
      - With several EIPs, keep each source on one EIP (C(true)) or choose per connection (C(false)).
        Unset leaves natctl's default.
    type: bool
seealso:
  - module: natctl.gateway.natctl_dnat
  - module: natctl.gateway.natctl_model
'''

EXAMPLES = r'''
- name: Translate vsw-app to eip-egress
  natctl.gateway.natctl_snat:
    nat_gateway: ngw-demo
    name: snat-vsw-app
    source:
      vswitch: vsw-app
    eips: [eip-egress]

- name: Remove it
  natctl.gateway.natctl_snat:
    nat_gateway: ngw-demo
    name: snat-vsw-app
    state: absent
'''

RETURN = r'''
revision:
  description: The model's revision after the task.
  returned: always
  type: int
  sample: 43
object:
  description: The entry as natctld stores it (as it would be, in check mode); C(null) when absent.
  returned: always
  type: dict
  sample: {"name": "snat-vsw-app", "source": {"vswitch": "vsw-app"}, "eips": ["eip-egress"]}
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.natctl.gateway.plugins.module_utils.natctld import (
    CONNECTION_ARGS, drop_unset, path_segment, run_object_module)

SOURCE_KINDS = ('vpc', 'vswitch', 'instance', 'cidr')


def main():
    argument_spec = dict(
        nat_gateway=dict(type='str', required=True),
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        source=dict(type='dict', options=dict((kind, dict(type='str')) for kind in SOURCE_KINDS),
                    mutually_exclusive=[SOURCE_KINDS], required_one_of=[SOURCE_KINDS]),
        eips=dict(type='list', elements='str'),
        eip_affinity=dict(type='bool'),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ('source', 'eips'))])
    params = module.params
    desired = drop_unset(dict(name=params['name'], eips=params['eips'], eip_affinity=params['eip_affinity'],
                              source=drop_unset(params['source']) if params['source'] else None))
    collection = '/v1/nat_gateways/%s/snat_entries' % path_segment(params['nat_gateway'])
    run_object_module(module, collection, desired)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: natctl_dnat
short_description: Manage one DNAT entry (port mapping or IP mapping) of a natctl NAT gateway
version_added: 0.1.0
description:
  - Creates, replaces or removes the DNAT entry C(name) of the NAT gateway C(nat_gateway) through
    C(/v1/nat_gateways/GW/dnat_entries) and leaves the rest of the model alone.
  - A port mapping (C(public_port) and C(private_port) set) is changed in time proportional to the
    change, not to the model, by natctld's fast path.
  - Without C(public_port) and C(private_port) and with C(protocol=any) the entry is an IP mapping, which sends
    everything arriving on the EIP to C(private_ip).
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
    description: Name of the DNAT entry, unique within the gateway.
    type: str
    required: true
  state:
    description: Whether the entry must exist (replaced whole when it differs) or not.
    type: str
    choices: [present, absent]
    default: present
  eip:
    description: Name of the EIP the entry listens on; associated with the gateway. Required with C(state=present).
    type: str
  protocol:
    description: C(tcp) or C(udp) for a port mapping, C(any) for an IP mapping. Required with C(state=present).
    type: str
    choices: [tcp, udp, any]
  public_port:
    description: Public port or range (C(80), C(8000-8009)) on the EIP.
    type: str
  private_ip:
    description: Private address the traffic goes to. Required with C(state=present).
    type: str
  private_port:
    description: Private port or range, as many ports as C(public_port).
    type: str
seealso:
  - module: natctl.gateway.natctl_snat
  - module: natctl.gateway.natctl_model
'''

EXAMPLES = r'''
- name: Publish web-1's port 8080 on eip-web:80
  natctl.gateway.natctl_dnat:
    nat_gateway: ngw-demo
    name: web-http
    eip: eip-web
    protocol: tcp
    public_port: 80
    private_ip: 10.0.1.10
    private_port: 8080

- name: Withdraw it
  natctl.gateway.natctl_dnat:
    nat_gateway: ngw-demo
    name: web-http
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
  sample: {"name": "web-http", "eip": "eip-web", "protocol": "tcp", "public_port": "80",
           "private_ip": "10.0.1.10", "private_port": "8080"}
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

FIELDS = ('name', 'eip', 'protocol', 'public_port', 'private_ip', 'private_port')


def main():
    argument_spec = dict(
        nat_gateway=dict(type='str', required=True),
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        eip=dict(type='str'),
        protocol=dict(type='str', choices=['tcp', 'udp', 'any']),
        public_port=dict(type='str'),
        private_ip=dict(type='str'),
        private_port=dict(type='str'),
    )
    argument_spec.update(CONNECTION_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ('eip', 'protocol', 'private_ip'))])
    desired = drop_unset(dict((field, module.params[field]) for field in FIELDS))
    collection = '/v1/nat_gateways/%s/dnat_entries' % path_segment(module.params['nat_gateway'])
    run_object_module(module, collection, desired)


if __name__ == '__main__':
    main()

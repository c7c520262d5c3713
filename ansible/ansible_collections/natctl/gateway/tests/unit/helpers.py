# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)
"""Runs a module's main() with arguments, as ansible-core would, and returns its result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result)
        self.result = result
        self.failed = failed


def _exit_json(self, **result):
    raise ModuleExit(result, False)


def _fail_json(self, msg, **result):
    result['msg'] = msg
    raise ModuleExit(result, True)


def run_module(monkeypatch, module, fake, args, check_mode=False, diff=False):
    """main() of MODULE against FAKE (a FakeNatctld); (failed, result)."""
    args = dict(args)
    args['_ansible_check_mode'] = check_mode
    args['_ansible_diff'] = diff
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', _fail_json)
    monkeypatch.setattr('ansible_collections.natctl.gateway.plugins.module_utils.natctld.open_url', fake.open_url)
    with pytest.raises(ModuleExit) as raised:
        module.main()
    return raised.value.failed, raised.value.result

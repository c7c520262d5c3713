# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.natctl.gateway.plugins.modules import natctl_info
from ansible_collections.natctl.gateway.tests.unit.fake_natctld import FakeNatctld
from ansible_collections.natctl.gateway.tests.unit.helpers import run_module


def test_default_reads_revision_status_and_ports_and_writes_nothing(monkeypatch):
    fake = FakeNatctld(revision=12)
    failed, result = run_module(monkeypatch, natctl_info, fake, {})
    assert not failed and not result['changed']
    assert result['revision'] == 12
    assert result['status']['reconcile']['state'] == 'in_sync'
    assert result['ports']['query'] == {'top': ['5']}
    assert 'model' not in result and 'revisions' not in result
    assert fake.writes() == []


def test_gather_and_ports_filters(monkeypatch):
    fake = FakeNatctld({'version': 1, 'eips': []}, revision=3)
    args = {'gather': ['model', 'revisions', 'ports'], 'nat_gateway': 'ngw demo', 'eip': 'eip-web', 'top': 2}
    failed, result = run_module(monkeypatch, natctl_info, fake, args)
    assert not failed
    assert result['model'] == {'version': 1, 'eips': []}
    assert [r['revision'] for r in result['revisions']] == [1, 2, 3]
    assert result['ports']['query'] == {'top': ['2'], 'gateway': ['ngw demo'], 'eip': ['eip-web']}
    assert 'status' not in result


def test_ports_without_accounting_is_null_with_the_reason(monkeypatch):
    fake = FakeNatctld()
    fake.ports_running = False
    failed, result = run_module(monkeypatch, natctl_info, fake, {'gather': ['ports']})
    assert not failed
    assert result['ports'] is None
    assert result['ports_error'] == 'conntrack accounting is not running'


def test_negative_top_and_unreachable_fail(monkeypatch):
    failed, result = run_module(monkeypatch, natctl_info, FakeNatctld(), {'top': -1})
    assert failed and result['msg'] == 'top: must be 0 or more, got -1'
    fake = FakeNatctld()
    fake.reachable = False
    failed, result = run_module(monkeypatch, natctl_info, fake, {})
    assert failed and 'cannot reach natctld on /run/natctl/natctld.sock' in result['msg']

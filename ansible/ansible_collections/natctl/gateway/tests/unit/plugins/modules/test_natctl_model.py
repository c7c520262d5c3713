# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.natctl.gateway.plugins.modules import natctl_model
from ansible_collections.natctl.gateway.tests.unit.fake_natctld import FakeNatctld
from ansible_collections.natctl.gateway.tests.unit.helpers import run_module

MODEL = {
    'version': 1,
    'eips': [{'name': 'eip-web', 'address': '203.0.113.11'}],
    'nat_gateways': [{'name': 'ngw', 'vpc': 'vpc', 'eips': ['eip-web'], 'dnat_entries': [
        {'name': 'web', 'eip': 'eip-web', 'protocol': 'tcp', 'public_port': '80', 'private_ip': '10.0.1.10'}]}],
}


def test_apply_writes_once_with_if_match_and_reports_the_new_revision(monkeypatch):
    fake = FakeNatctld(revision=7)
    failed, result = run_module(monkeypatch, natctl_model, fake, {'model': MODEL, 'socket': '/tmp/x.sock'}, diff=True)
    assert not failed, result
    assert result['changed'] is True
    assert result['revision'] == 8 and result['previous_revision'] == 7
    assert fake.model == MODEL
    (put,) = fake.writes()
    assert put['method'] == 'PUT' and put['path'] == '/v1/config'
    assert put['headers']['If-Match'] == '"7"'
    assert put['socket'] == '/tmp/x.sock'
    assert 'dry_run' not in put['query']
    assert result['diff'] == {'before': {'version': 1}, 'after': MODEL}


def test_second_identical_run_is_ok_and_makes_no_revision(monkeypatch):
    fake = FakeNatctld(MODEL, revision=3)
    failed, result = run_module(monkeypatch, natctl_model, fake, {'model': MODEL}, diff=True)
    assert not failed, result
    assert result['changed'] is False
    assert result['revision'] == 3 and fake.revision == 3
    assert result['diff']['before'] == result['diff']['after']


def test_check_mode_asks_for_a_dry_run_and_changes_nothing(monkeypatch):
    fake = FakeNatctld(revision=5)
    failed, result = run_module(monkeypatch, natctl_model, fake, {'model': MODEL}, check_mode=True, diff=True)
    assert not failed, result
    assert result['changed'] is True and result['dry_run'] is True
    assert fake.model == {'version': 1} and fake.revision == 5
    (put,) = fake.writes()
    assert put['query'] == {'dry_run': ['1']}
    assert result['diff']['after'] == MODEL
    assert result['plan']['changed']


def test_invalid_model_fails_with_every_path_and_reason_in_check_mode_too(monkeypatch):
    bad = copy.deepcopy(MODEL)
    bad['eips'] = []
    bad['nat_gateways'][0]['dnat_entries'][0]['eip'] = 'eip-other'
    for check_mode in (False, True):
        fake = FakeNatctld(revision=2)
        failed, result = run_module(monkeypatch, natctl_model, fake, {'model': bad}, check_mode=check_mode)
        assert failed
        assert result['status'] == 422
        assert result['reasons'] == [
            "nat_gateways[0].eips[0]: unknown EIP 'eip-web'",
            "nat_gateways[0].dnat_entries[0].eip: EIP 'eip-other' is not associated with the gateway",
        ]
        assert "nat_gateways[0].eips[0]: unknown EIP 'eip-web'" in result['msg']
        assert fake.revision == 2 and fake.model == {'version': 1}


def test_a_write_between_read_and_write_fails_the_task_instead_of_being_overwritten(monkeypatch):
    fake = FakeNatctld(revision=4)
    other = {'version': 1, 'eips': [{'name': 'theirs', 'address': '203.0.113.99'}]}

    def concurrent_writer(server):
        server.model = other
        server.revision += 1
    fake.after_get = concurrent_writer
    failed, result = run_module(monkeypatch, natctl_model, fake, {'model': MODEL})
    assert failed
    assert result['status'] == 412
    assert 'changed while this task ran' in result['msg']
    assert fake.model == other and fake.revision == 5


def test_revision_option_pins_the_revision_to_write_over(monkeypatch):
    fake = FakeNatctld(revision=9)
    failed, result = run_module(monkeypatch, natctl_model, fake, {'model': MODEL, 'revision': 8})
    assert failed and result['status'] == 412
    assert fake.writes()[0]['headers']['If-Match'] == '"8"'
    failed, result = run_module(monkeypatch, natctl_model, fake, {'model': MODEL, 'revision': 9})
    assert not failed and result['revision'] == 10


def test_src_is_read_on_the_managed_host(monkeypatch, tmp_path):
    path = tmp_path / 'model.json'
    path.write_text(json.dumps(MODEL))
    fake = FakeNatctld()
    failed, result = run_module(monkeypatch, natctl_model, fake, {'src': str(path)})
    assert not failed and fake.model == MODEL


def test_src_problems_fail_before_anything_is_sent(monkeypatch, tmp_path):
    missing = tmp_path / 'missing.json'
    broken = tmp_path / 'broken.json'
    broken.write_text('{"version": 1,')
    listed = tmp_path / 'list.json'
    listed.write_text('[]')
    for path, words in ((missing, 'cannot read src'), (broken, 'is not JSON'), (listed, 'must be a JSON object')):
        fake = FakeNatctld()
        failed, result = run_module(monkeypatch, natctl_model, fake, {'src': str(path)})
        assert failed and words in result['msg']
        assert fake.requests == []


def test_model_and_src_are_exclusive_and_one_is_required(monkeypatch):
    failed, result = run_module(monkeypatch, natctl_model, FakeNatctld(), {'model': MODEL, 'src': '/x'})
    assert failed and 'mutually exclusive' in result['msg']
    failed, result = run_module(monkeypatch, natctl_model, FakeNatctld(), {})
    assert failed and 'one of the following is required' in result['msg']


def test_unreachable_socket_fails_with_its_path(monkeypatch):
    fake = FakeNatctld()
    fake.reachable = False
    failed, result = run_module(monkeypatch, natctl_model, fake, {'model': MODEL, 'socket': '/run/nope.sock'})
    assert failed and 'cannot reach natctld on /run/nope.sock' in result['msg']

# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)
"""natctl_dnat, natctl_snat and natctl_eip against the in-memory natctld."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.natctl.gateway.plugins.modules import natctl_dnat, natctl_eip, natctl_snat
from ansible_collections.natctl.gateway.tests.unit.fake_natctld import FakeNatctld
from ansible_collections.natctl.gateway.tests.unit.helpers import run_module

MODEL = {
    'version': 1,
    'eips': [{'name': 'eip-egress', 'address': '203.0.113.10'}, {'name': 'eip-web', 'address': '203.0.113.11'}],
    'nat_gateways': [
        {'name': 'ngw', 'vpc': 'vpc', 'eips': ['eip-egress', 'eip-web']},
        {'name': 'ngw-2', 'vpc': 'vpc'},
    ],
}
WEB = {'nat_gateway': 'ngw', 'name': 'web', 'eip': 'eip-web', 'protocol': 'tcp', 'public_port': 80,
       'private_ip': '10.0.1.10', 'private_port': 8080}
WEB_STORED = {'name': 'web', 'eip': 'eip-web', 'protocol': 'tcp', 'public_port': '80',
              'private_ip': '10.0.1.10', 'private_port': '8080'}


def entries(fake, kind='dnat_entries'):
    return fake.model['nat_gateways'][0].get(kind, [])


def test_dnat_create_then_same_again_is_ok(monkeypatch):
    fake = FakeNatctld(MODEL, revision=1)
    failed, result = run_module(monkeypatch, natctl_dnat, fake, WEB, diff=True)
    assert not failed, result
    assert result['changed'] and result['revision'] == 2
    assert entries(fake) == [WEB_STORED]
    assert result['object'] == WEB_STORED
    assert result['diff'] == {'before': {}, 'after': WEB_STORED}
    post = fake.writes()[0]
    assert (post['method'], post['path']) == ('POST', '/v1/nat_gateways/ngw/dnat_entries')
    assert post['headers']['If-Match'] == '"1"'

    failed, result = run_module(monkeypatch, natctl_dnat, fake, WEB)
    assert not failed and not result['changed'] and result['revision'] == 2
    put = fake.writes()[-1]
    assert (put['method'], put['path']) == ('PUT', '/v1/nat_gateways/ngw/dnat_entries/web')


def test_dnat_replace_shows_the_diff(monkeypatch):
    fake = FakeNatctld(MODEL)
    run_module(monkeypatch, natctl_dnat, fake, WEB)
    failed, result = run_module(monkeypatch, natctl_dnat, fake, dict(WEB, private_port=9090), diff=True)
    assert not failed and result['changed']
    assert result['diff']['before']['private_port'] == '8080'
    assert result['diff']['after']['private_port'] == '9090'


def test_dnat_check_mode_is_a_dry_run(monkeypatch):
    fake = FakeNatctld(MODEL, revision=4)
    failed, result = run_module(monkeypatch, natctl_dnat, fake, WEB, check_mode=True)
    assert not failed and result['changed'] and result['dry_run']
    assert entries(fake) == [] and fake.revision == 4
    assert fake.writes()[0]['query'] == {'dry_run': ['1']}


def test_dnat_absent(monkeypatch):
    fake = FakeNatctld(MODEL)
    run_module(monkeypatch, natctl_dnat, fake, WEB)
    absent = {'nat_gateway': 'ngw', 'name': 'web', 'state': 'absent'}
    failed, result = run_module(monkeypatch, natctl_dnat, fake, absent, check_mode=True)
    assert not failed and result['changed'] and entries(fake) == [WEB_STORED]
    failed, result = run_module(monkeypatch, natctl_dnat, fake, absent, diff=True)
    assert not failed and result['changed'] and entries(fake) == []
    assert result['diff'] == {'before': WEB_STORED, 'after': {}}
    assert fake.writes()[-1]['method'] == 'DELETE'
    writes = len(fake.writes())
    failed, result = run_module(monkeypatch, natctl_dnat, fake, absent)
    assert not failed and not result['changed'] and len(fake.writes()) == writes


def test_dnat_refusals_name_the_field(monkeypatch):
    fake = FakeNatctld(MODEL)
    failed, result = run_module(monkeypatch, natctl_dnat, fake, dict(WEB, eip='eip-nope'))
    assert failed and result['status'] == 422
    assert result['reasons'] == ["nat_gateways[0].dnat_entries[0].eip: EIP 'eip-nope' is not associated with the gateway"]
    failed, result = run_module(monkeypatch, natctl_dnat, fake, dict(WEB, nat_gateway='ngw-missing'))
    assert failed and result['status'] == 404
    failed, result = run_module(monkeypatch, natctl_dnat, fake, {'nat_gateway': 'ngw', 'name': 'web'})
    assert failed and 'eip, protocol, private_ip' in result['msg']
    assert entries(fake) == []


def test_snat_source_is_exactly_one_kind(monkeypatch):
    fake = FakeNatctld(MODEL)
    args = {'nat_gateway': 'ngw', 'name': 'snat-app', 'source': {'vswitch': 'vsw-app'}, 'eips': ['eip-egress']}
    failed, result = run_module(monkeypatch, natctl_snat, fake, args)
    assert not failed and result['changed']
    assert entries(fake, 'snat_entries') == [{'name': 'snat-app', 'source': {'vswitch': 'vsw-app'}, 'eips': ['eip-egress']}]
    failed, result = run_module(monkeypatch, natctl_snat, fake, args)
    assert not failed and not result['changed']
    failed, result = run_module(monkeypatch, natctl_snat, fake, dict(args, source={'vswitch': 'a', 'cidr': '10.0.0.0/8'}))
    assert failed and 'mutually exclusive' in result['msg']
    failed, result = run_module(monkeypatch, natctl_snat, fake, dict(args, eip_affinity=True))
    assert not failed and result['changed'] and entries(fake, 'snat_entries')[0]['eip_affinity'] is True


def test_eip_create_and_associate_in_one_write(monkeypatch):
    fake = FakeNatctld(MODEL, revision=3)
    args = {'name': 'eip-lab', 'address': '203.0.113.12', 'nat_gateway': 'ngw'}
    failed, result = run_module(monkeypatch, natctl_eip, fake, args, diff=True)
    assert not failed and result['changed'] and result['revision'] == 4
    assert {'name': 'eip-lab', 'address': '203.0.113.12'} in fake.model['eips']
    assert fake.model['nat_gateways'][0]['eips'] == ['eip-egress', 'eip-web', 'eip-lab']
    (put,) = fake.writes()
    assert put['path'] == '/v1/config' and put['headers']['If-Match'] == '"3"'
    assert result['diff'] == {'before': {}, 'after': {'name': 'eip-lab', 'address': '203.0.113.12', 'nat_gateway': 'ngw'}}
    failed, result = run_module(monkeypatch, natctl_eip, fake, args)
    assert not failed and not result['changed'] and len(fake.writes()) == 1


def test_eip_moves_between_gateways_and_absent_disassociates(monkeypatch):
    fake = FakeNatctld(MODEL)
    failed, result = run_module(monkeypatch, natctl_eip, fake, {'name': 'eip-web', 'nat_gateway': 'ngw-2'})
    assert not failed and result['changed']
    assert fake.model['nat_gateways'][0]['eips'] == ['eip-egress']
    assert fake.model['nat_gateways'][1]['eips'] == ['eip-web']
    assert result['object'] == {'name': 'eip-web', 'address': '203.0.113.11', 'nat_gateway': 'ngw-2'}
    failed, result = run_module(monkeypatch, natctl_eip, fake, {'name': 'eip-web', 'state': 'absent'})
    assert not failed and result['changed'] and result['object'] is None
    assert [eip['name'] for eip in fake.model['eips']] == ['eip-egress']
    assert fake.model['nat_gateways'][1]['eips'] == []


def test_eip_refusals(monkeypatch):
    fake = FakeNatctld(MODEL)
    before = copy.deepcopy(fake.model)
    failed, result = run_module(monkeypatch, natctl_eip, fake, {'name': 'eip-new'})
    assert failed and result['msg'] == 'address: required to create EIP eip-new'
    failed, result = run_module(monkeypatch, natctl_eip, fake, {'name': 'eip-web', 'nat_gateway': 'ngw-9'})
    assert failed and result['msg'] == 'nat_gateway: there is no NAT gateway ngw-9'
    fake.model['nat_gateways'][0]['dnat_entries'] = [dict(WEB_STORED)]
    before = copy.deepcopy(fake.model)
    failed, result = run_module(monkeypatch, natctl_eip, fake, {'name': 'eip-web', 'state': 'absent'}, check_mode=True)
    assert failed and result['status'] == 422
    assert fake.model == before

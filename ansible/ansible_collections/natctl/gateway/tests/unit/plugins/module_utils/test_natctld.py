# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.natctl.gateway.plugins.module_utils import natctld
from ansible_collections.natctl.gateway.tests.unit.fake_natctld import FakeNatctld


def test_revision_of_etag():
    assert natctld.revision_of('"42"') == 42
    assert natctld.revision_of('7') == 7
    assert natctld.revision_of(None) is None
    assert natctld.revision_of('"abc"') is None


def test_path_segment_escapes_reserved_characters():
    assert natctld.path_segment('web/1 a?b') == 'web%2F1%20a%3Fb'


def test_error_reasons_and_message():
    error = natctld.NatctldError(422, [{'path': 'eips[0].address', 'reason': 'not an IPv4 address'},
                                       {'path': '', 'reason': 'whole body'}], 'PUT', '/v1/config')
    assert error.reasons() == ['eips[0].address: not an IPv4 address', 'whole body']
    assert error.message() == ('natctld refused PUT /v1/config (HTTP 422): '
                               'eips[0].address: not an IPv4 address; whole body')
    assert error.kind is None


def test_kernel_failures_say_what_state_they_leave():
    refused = natctld.NatctldError(502, [{'path': 'nat_gateways[0]', 'kind': 'kernel_refused',
                                          'reason': 'EEXIST (File exists)'}],
                                   'POST', '/v1/nat_gateways/ngw-1/dnat_entries')
    assert refused.kind == 'kernel_refused'
    assert refused.message() == ('the kernel refused POST /v1/nat_gateways/ngw-1/dnat_entries '
                                 '(HTTP 502): nothing was stored and the kernel is as it was; a '
                                 'retry is safe once the cause is gone: '
                                 'nat_gateways[0]: EEXIST (File exists)')
    unknown = natctld.NatctldError(504, [{'path': '', 'kind': 'outcome_unknown',
                                          'reason': 'no answer'}], 'PUT', '/v1/config')
    assert unknown.kind == 'outcome_unknown'
    assert unknown.message().startswith('natctld does not know whether the kernel took PUT '
                                        '/v1/config (HTTP 504): nothing was stored')


def test_request_sends_json_if_match_and_dry_run(monkeypatch):
    fake = FakeNatctld(revision=5)
    monkeypatch.setattr(natctld, 'open_url', fake.open_url)
    client = natctld.NatctldClient('/tmp/sock', 3)
    answer = client.request('PUT', '/v1/config', body={'version': 1, 'eips': []}, if_match=5, dry_run=True)
    assert answer.status == 200 and answer.revision == 5 and answer.body['dry_run'] is True
    sent = fake.requests[-1]
    assert sent['headers'] == {'Accept': 'application/json', 'Content-Type': 'application/json', 'If-Match': '"5"'}
    assert sent['query'] == {'dry_run': ['1']}
    assert (sent['socket'], sent['timeout']) == ('/tmp/sock', 3)


def test_request_raises_with_natctlds_errors(monkeypatch):
    fake = FakeNatctld(revision=5)
    monkeypatch.setattr(natctld, 'open_url', fake.open_url)
    client = natctld.NatctldClient()
    with pytest.raises(natctld.NatctldError) as raised:
        client.request('PUT', '/v1/config', body={}, if_match=4)
    assert raised.value.status == 412
    assert raised.value.errors == [{'path': 'If-Match', 'kind': 'conflict',
                                    'reason': 'revision 4 is stale: the current revision is 5'}]
    assert raised.value.kind == 'conflict'
    assert client.get_optional('/v1/eips/none') is None
    fake.reachable = False
    with pytest.raises(natctld.NatctldUnreachable):
        client.get('/v1/status')

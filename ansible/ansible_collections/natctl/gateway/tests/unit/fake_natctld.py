# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)
"""An in-memory natctld for the unit tests: the API's HTTP semantics that the modules rely
on (ETag, If-Match and 412, dry_run, changed only on a real change, 404/409/422 error JSON),
served through a replacement of open_url. Validation is a small subset of natctld's: every
EIP an entry or gateway names must exist, which is enough to produce 422 answers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import io
import json

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import unquote, urlparse, parse_qs


class Answer(object):
    def __init__(self, status, body, etag):
        self.status = status
        self.body = json.dumps(body).encode('utf-8')
        self.headers = {'ETag': etag}

    def getcode(self):
        return self.status

    def read(self):
        return self.body


class FakeNatctld(object):
    def __init__(self, model=None, revision=1):
        self.model = copy.deepcopy(model or {'version': 1})
        self.revision = revision
        self.requests = []
        self.reachable = True
        # called after every GET: lets a test write "concurrently" between read and write
        self.after_get = None
        self.ports_running = True

    # ---- what a test looks at --------------------------------------------------------------

    def writes(self):
        return [r for r in self.requests if r['method'] != 'GET']

    # ---- open_url ---------------------------------------------------------------------------

    def open_url(self, url, data=None, headers=None, method=None, unix_socket=None, timeout=None, **kwargs):
        if not self.reachable:
            raise URLError('[Errno 2] No such file or directory')
        parsed = urlparse(url)
        query = parse_qs(parsed.query, keep_blank_values=True)
        request = dict(method=method, path=parsed.path, query=query, headers=dict(headers or {}),
                       body=json.loads(data) if data else None, socket=unix_socket, timeout=timeout)
        self.requests.append(request)
        status, body = self.handle(request)
        if status >= 400:
            raise HTTPError(url, status, 'error', {}, io.BytesIO(json.dumps(body).encode('utf-8')))
        answer = Answer(status, body, '"%d"' % self.revision)
        if method == 'GET' and self.after_get:
            hook, self.after_get = self.after_get, None
            hook(self)
        return answer

    # ---- the API ----------------------------------------------------------------------------

    # natctld's status -> kind table (docs/API.md, "Conventions").
    KINDS = {400: 'invalid', 404: 'not_found', 405: 'invalid', 409: 'conflict', 412: 'conflict',
             413: 'invalid', 422: 'invalid', 500: 'internal', 502: 'kernel_refused',
             503: 'unavailable', 504: 'outcome_unknown'}

    @classmethod
    def error(cls, status, path, reason):
        return status, {'errors': [{'path': path, 'reason': reason, 'kind': cls.KINDS[status]}]}

    def handle(self, request):
        segments = [unquote(s) for s in request['path'].split('/') if s]
        method = request['method']
        if segments[:1] != ['v1']:
            return self.error(404, '', 'no such path')
        segments = segments[1:]
        if method == 'GET':
            return self.read(segments, request)
        if_match = request['headers'].get('If-Match')
        if if_match is not None and if_match.strip('"') != str(self.revision):
            return self.error(412, 'If-Match', 'revision %s is stale: the current revision is %d'
                              % (if_match.strip('"'), self.revision))
        edited = copy.deepcopy(self.model)
        refusal = self.edit(edited, method, segments, request['body'])
        if refusal:
            return refusal
        errors = self.validate(edited)
        if errors:
            return 422, {'errors': [dict(e, kind='invalid') for e in errors]}
        dry_run = 'dry_run' in request['query']
        changed = edited != self.model
        answer = {'revision': self.revision, 'changed': changed, 'plan': self.plan(self.model, edited),
                  'kernel': {'changed': changed}}
        if dry_run:
            answer['dry_run'] = True
        if changed and not dry_run:
            self.model = edited
            self.revision += 1
            answer['revision'] = self.revision
        return (201 if method == 'POST' and not dry_run else 200), answer

    def read(self, segments, request):
        if segments == ['config']:
            return 200, self.model
        if segments == ['status']:
            return 200, {'revision': self.revision, 'reconcile': {'state': 'in_sync', 'last_error': None}}
        if segments == ['revisions']:
            return 200, {'revisions': [{'revision': r, 'time': 0, 'author': 'uid 0', 'summary': 'x'}
                                       for r in range(1, self.revision + 1)]}
        if segments == ['ports']:
            if not self.ports_running:
                return self.error(503, '', 'conntrack accounting is not running')
            return 200, {'eips': [], 'query': request['query']}
        found = self.locate(self.model, segments)
        if found is None:
            return self.error(404, '', 'no such object')
        collection, name = found
        if name is None:
            return 200, {'items': collection}
        for item in collection:
            if item.get('name') == name:
                return 200, item
        return self.error(404, '', 'no such object')

    @staticmethod
    def locate(model, segments):
        """(the list, the name or None) that an object path names; None when a parent is missing."""
        if segments[:1] == ['eips']:
            return model.setdefault('eips', []), (segments[1] if len(segments) > 1 else None)
        if segments[:1] == ['nat_gateways'] and len(segments) >= 4 and segments[2] in ('dnat_entries', 'snat_entries'):
            for gateway in model.get('nat_gateways', []):
                if gateway.get('name') == segments[1]:
                    return gateway.setdefault(segments[2], []), (segments[3] if len(segments) > 3 else None)
            return None
        if segments[:1] == ['nat_gateways'] and len(segments) == 3:
            for gateway in model.get('nat_gateways', []):
                if gateway.get('name') == segments[1]:
                    return gateway.setdefault(segments[2], []), None
        return None

    def edit(self, model, method, segments, body):
        if segments == ['config'] and method == 'PUT':
            model.clear()
            model.update(body)
            return None
        found = self.locate(model, segments)
        if found is None:
            return self.error(404, '', 'no such object')
        collection, name = found
        names = [item.get('name') for item in collection]
        if method == 'POST' and name is None:
            if body.get('name') in names:
                return self.error(409, 'name', 'already exists')
            collection.append(body)
            return None
        if name not in names:
            return self.error(404, '', 'no such object')
        index = names.index(name)
        if method == 'PUT':
            collection[index] = body
        elif method == 'DELETE':
            del collection[index]
        else:
            return self.error(405, '', 'method not allowed')
        return None

    @staticmethod
    def validate(model):
        eips = set(eip.get('name') for eip in model.get('eips', []))
        errors = []
        for g, gateway in enumerate(model.get('nat_gateways', [])):
            for e, name in enumerate(gateway.get('eips', [])):
                if name not in eips:
                    errors.append({'path': 'nat_gateways[%d].eips[%d]' % (g, e), 'reason': "unknown EIP '%s'" % name})
            for d, entry in enumerate(gateway.get('dnat_entries', [])):
                if entry.get('eip') not in gateway.get('eips', []):
                    errors.append({'path': 'nat_gateways[%d].dnat_entries[%d].eip' % (g, d),
                                   'reason': "EIP '%s' is not associated with the gateway" % entry.get('eip')})
        return errors

    @staticmethod
    def plan(old, new):
        changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
        return {'added': [], 'changed': [{'kind': key, 'name': key, 'path': key} for key in changed], 'removed': []}

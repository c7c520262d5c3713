# -*- coding: utf-8 -*-
# Copyright (c) 2026 the natctl developers
# MIT License (see LICENSE in the natctl repository)
"""Client of natctld's HTTP API on its Unix socket, shared by the natctl.gateway modules.

Only ansible-core's own open_url is used (no third-party Python on the target). Every
answer, success or error, is JSON; errors carry {"errors": [{"path", "reason"}]}.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import open_url
from ansible.module_utils.common.text.converters import to_native, to_text

DEFAULT_SOCKET = '/run/natctl/natctld.sock'

# The argument spec every module shares (documented in the natctl.gateway.natctld doc
# fragment).
CONNECTION_ARGS = dict(
    socket=dict(type='path', default=DEFAULT_SOCKET),
    timeout=dict(type='float', default=30.0),
)


class NatctldError(Exception):
    """An answer that is not a success: the HTTP status, natctld's errors and their kind."""

    def __init__(self, status, errors, method, path):
        self.status = status
        self.errors = errors
        self.method = method
        self.path = path
        # Every error of one answer has the same kind (invalid, not_found, conflict,
        # kernel_refused, outcome_unknown, unavailable, internal); None from a natctld that
        # predates kinds.
        self.kind = next((e.get('kind') for e in errors if e.get('kind')), None)
        super(NatctldError, self).__init__(self.message())

    def reasons(self):
        """Every error as 'path: reason' (natctld's own paths, e.g. nat_gateways[0].eips[1])."""
        lines = []
        for error in self.errors:
            path = error.get('path') or ''
            reason = error.get('reason') or ''
            lines.append('%s: %s' % (path, reason) if path else reason)
        return lines

    def message(self):
        what = 'natctld refused %s %s (HTTP %s)' % (self.method, self.path, self.status)
        if self.status == 412:
            what = ('the model changed while this task ran (HTTP 412): nothing was written; '
                    'run the task again to apply it over the new revision')
        elif self.kind == 'kernel_refused':
            what = ('the kernel refused %s %s (HTTP %s): nothing was stored and the kernel is '
                    'as it was; a retry is safe once the cause is gone'
                    % (self.method, self.path, self.status))
        elif self.kind == 'outcome_unknown':
            what = ('natctld does not know whether the kernel took %s %s (HTTP %s): nothing '
                    'was stored and natctld brings the kernel back to the stored revision; '
                    'run the task again' % (self.method, self.path, self.status))
        reasons = self.reasons()
        return '%s: %s' % (what, '; '.join(reasons)) if reasons else what


class NatctldUnreachable(Exception):
    """No HTTP answer at all: no socket, connection refused, timeout."""


def path_segment(value):
    """One path segment of an object URL (names may hold characters URLs reserve)."""
    return quote(to_native(value), safe='')


def revision_of(etag):
    """The revision a quoted ETag ("42") carries, as an int; None without one."""
    if not etag:
        return None
    value = etag.strip().strip('"')
    return int(value) if value.isdigit() else None


class Response(object):
    def __init__(self, status, body, etag):
        self.status = status
        self.body = body
        self.etag = etag

    @property
    def revision(self):
        return revision_of(self.etag)


class NatctldClient(object):
    """HTTP/1.1 + JSON to natctld on `socket_path`."""

    def __init__(self, socket_path=DEFAULT_SOCKET, timeout=30.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def request(self, method, path, body=None, if_match=None, dry_run=False, query=None):
        """One request. Returns a Response for 2xx; raises NatctldError for an HTTP error
        answer and NatctldUnreachable when natctld did not answer."""
        params = list(query or [])
        if dry_run:
            params.append('dry_run=1')
        url = 'http://natctld' + path
        if params:
            url += ('&' if '?' in url else '?') + '&'.join(params)
        headers = {'Accept': 'application/json'}
        data = None
        if body is not None:
            data = json.dumps(body, sort_keys=True)
            headers['Content-Type'] = 'application/json'
        if if_match is not None:
            headers['If-Match'] = '"%d"' % if_match
        try:
            answer = open_url(url, data=data, headers=headers, method=method,
                              unix_socket=self.socket_path, timeout=self.timeout,
                              follow_redirects='none', validate_certs=False)
        except HTTPError as error:
            raise NatctldError(error.code, self._errors_of(error), method, path)
        except (URLError, socket.error, socket.timeout) as error:
            reason = getattr(error, 'reason', error)
            raise NatctldUnreachable('cannot reach natctld on %s: %s' % (self.socket_path, to_native(reason)))
        return Response(answer.getcode(), self._json_of(answer.read(), method, path), answer.headers.get('ETag'))

    def _json_of(self, raw, method, path):
        text = to_text(raw, errors='surrogate_or_strict')
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise NatctldError(0, [{'path': '', 'reason': 'answer is not JSON: %s' % text[:200]}], method, path)

    def _errors_of(self, error):
        try:
            raw = error.read()
        except Exception:  # pylint: disable=broad-except
            raw = b''
        try:
            body = json.loads(to_text(raw, errors='surrogate_or_strict'))
            errors = body.get('errors') if isinstance(body, dict) else None
            if isinstance(errors, list):
                return [e for e in errors if isinstance(e, dict)]
        except ValueError:
            pass
        text = to_text(raw, errors='surrogate_or_strict').strip()
        return [{'path': '', 'reason': text or to_native(error.reason)}]

    # ---- convenience ---------------------------------------------------------------------

    def get(self, path, query=None):
        return self.request('GET', path, query=query)

    def get_optional(self, path):
        """GET of an object that may not exist: None on 404."""
        try:
            return self.get(path)
        except NatctldError as error:
            if error.status == 404:
                return None
            raise


def client_for(module):
    return NatctldClient(module.params['socket'], module.params['timeout'])


def fail_with(module, error, **result):
    """Ends the module for a NatctldError / NatctldUnreachable, with every 'path: reason'."""
    if isinstance(error, NatctldError):
        module.fail_json(msg=error.message(), status=error.status, kind=error.kind,
                         errors=error.errors, reasons=error.reasons(), **result)
    module.fail_json(msg=to_native(error), **result)


def write_result(answer, check_mode):
    """The common part of a write's module result from natctld's answer."""
    body = answer.body or {}
    return dict(
        changed=bool(body.get('changed')),
        revision=body.get('revision'),
        plan=body.get('plan') or {},
        kernel=body.get('kernel') or {},
        dry_run=bool(body.get('dry_run', check_mode)),
    )


def object_result(module, client, collection, name, desired, state):
    """Makes the object NAME of COLLECTION (an API path such as
    /v1/nat_gateways/ngw-1/dnat_entries) be DESIRED (state present) or absent, in one write
    (none when it already is). natctld decides whether anything changes; check mode is its
    dry run. Returns the module result (changed, revision, plan, kernel, diff, object)."""
    item = '%s/%s' % (collection, path_segment(name))
    current = client.get_optional(item)
    before = current.body if current else None
    if current is None and state == 'absent':
        listing = client.get(collection)  # 404 here: the parent is missing
        return dict(changed=False, revision=listing.revision, plan={}, kernel={},
                    dry_run=module.check_mode, object=None, diff=dict(before={}, after={}))
    if current is None:
        listing = client.get(collection)
        answer = client.request('POST', collection, body=desired, if_match=listing.revision,
                                dry_run=module.check_mode)
    elif state == 'present':
        answer = client.request('PUT', item, body=desired, if_match=current.revision,
                                dry_run=module.check_mode)
    else:
        answer = client.request('DELETE', item, if_match=current.revision, dry_run=module.check_mode)
    result = write_result(answer, module.check_mode)
    if state == 'absent':
        after = None
    elif not result['changed']:
        after = before
    elif module.check_mode:
        after = desired
    else:
        after = client.get(item).body
    result['object'] = after
    result['diff'] = dict(before=before or {}, after=after or {})
    return result


def drop_unset(values):
    """The body of an object from module options: options left unset are omitted, so that
    natctld applies its defaults (and its canonical JSON omits them too)."""
    return dict((key, value) for key, value in values.items() if value is not None)


def run_object_module(module, collection, desired):
    """The whole run of a per-object module (natctl_dnat, natctl_snat): object_result for
    module.params name and state, then exit_json or fail_json."""
    try:
        result = object_result(module, client_for(module), collection, module.params['name'],
                               desired, module.params['state'])
    except (NatctldError, NatctldUnreachable) as error:
        fail_with(module, error, changed=False)
    module.exit_json(**result)

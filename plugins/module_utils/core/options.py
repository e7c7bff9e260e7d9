"""The options of every module that writes, as plain data, and the one validator every front end uses.

The specs are in the dialect of Ansible's argument_spec (type, elements, options, choices, default, required,
aliases), so a module passes them to AnsibleModule as they are; the fabric module and the Pulumi program
validate each spec entry with `validate_options` against the same spec. An entry that moves from a playbook task
into the fabric spec is therefore checked by the same rules, and every error names the option and the value.
Connection options are not here: they belong to the module, not to what it declares.
"""

from __future__ import annotations

import difflib
import os

from ansible_collections.gpufabric.platform.plugins.module_utils.core.model import (
    DEFAULT_LABEL_PREFIX, DEFAULT_RG_PREFIX)

# The connection options of every module (kubernetes.core's names and aliases), as a fabric spec's `hub` and a
# spoke's connection may carry them; module_utils/module.py's AUTH_ARG_SPEC defines them for AnsibleModule.
CONNECTION_OPTIONS = ("kubeconfig", "context", "host", "api_key", "username", "password", "validate_certs",
                      "verify_ssl", "ca_cert", "ssl_ca_cert", "client_cert", "cert_file", "client_key", "key_file",
                      "proxy", "no_proxy", "proxy_headers", "persist_config", "impersonate_user",
                      "impersonate_groups")

# A second cluster's connection as a sub-dict with the same option names (the spoke module's `cluster`): no
# K8S_AUTH_* fallbacks, which belong to the module's own connection.
CONNECTION = dict(
    kubeconfig=dict(type="raw"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
    proxy=dict(type="str"),
    no_proxy=dict(type="str"),
    proxy_headers=dict(type="dict", options=dict(
        proxy_basic_auth=dict(type="str", no_log=True),
        basic_auth=dict(type="str", no_log=True),
        user_agent=dict(type="str"),
    )),
    impersonate_user=dict(type="str"),
    impersonate_groups=dict(type="list", elements="str"),
)

STATE = dict(type="str", default="present", choices=["present", "absent"])
FORCE = dict(type="bool", default=False)
LABEL_PREFIX = dict(type="str", default=DEFAULT_LABEL_PREFIX)
ARCHITECTURES = ["AMD64", "ARM64", "amd64", "arm64"]

OPTIONS = {
    "tenant": dict(
        name=dict(type="str", required=True),
        gpu_quota=dict(type="dict", default={}),
        state=STATE,
        force=FORCE,
    ),
    "project": dict(
        name=dict(type="str", required=True),
        tenant=dict(type="str"),
        description=dict(type="str", default=""),
        gpu_quota=dict(type="dict", default={}),
        members=dict(type="list", elements="dict", default=[], options=dict(
            user=dict(type="str"),
            group=dict(type="str"),
            role=dict(type="str", required=True, choices=["admin", "editor", "viewer"]),
        ), mutually_exclusive=[("user", "group")], required_one_of=[("user", "group")]),
        pool_access=dict(type="list", elements="dict", default=[], options=dict(
            pool=dict(type="str", required=True),
            users=dict(type="list", elements="str", default=[]),
            groups=dict(type="list", elements="str", default=[]),
        )),
        state=STATE,
        force=FORCE,
    ),
    "pool_label": dict(
        name=dict(type="str"),
        description=dict(type="str", default=""),
        nodes=dict(type="dict"),
        node_selector=dict(type="str"),
        definition=dict(type="dict"),
        src=dict(type="path"),
        overwrite=dict(type="bool", default=False),
        spoke=dict(type="str"),
        state=STATE,
        force=FORCE,
    ),
    "compute_pool": dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        description=dict(type="str"),
        mode=dict(type="str", default="dedicated", choices=["dedicated", "shared"]),
        control_plane=dict(type="dict", default={}, options=dict(
            node_count=dict(type="int", default=1, choices=[1, 3, 5]),
            single_node_cluster=dict(type="bool", default=False),
            schedule_workloads=dict(type="bool", default=True),
            architecture=dict(type="str", default="AMD64", choices=ARCHITECTURES),
            resource_groups=dict(type="dict"),
        )),
        worker_pools=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str"),
            architecture=dict(type="str", default="AMD64", choices=ARCHITECTURES),
            gpu=dict(type="dict", required=True, options=dict(
                family=dict(type="str", required=True),
                count=dict(type="int", required=True),
            )),
            min_worker_nodes=dict(type="int", default=1),
        )),
        worker_resource_groups=dict(type="dict"),
        resource_group_prefix=dict(type="str", default=DEFAULT_RG_PREFIX),
        scaling_policy=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str"),
        )),
        autoscale=dict(type="dict", options=dict(
            samples=dict(type="list", elements="dict"),
            prometheus=dict(type="dict", options=dict(
                url=dict(type="str", required=True),
                token=dict(type="str", no_log=True, aliases=["api_key"]),
                ca_cert=dict(type="path"),
                validate_certs=dict(type="bool", default=True),
                step=dict(type="int", default=30),
                timeout=dict(type="int", default=30),
            )),
            worker_pool=dict(type="str"),
            now=dict(type="str"),
        ), mutually_exclusive=[("samples", "prometheus")], required_one_of=[("samples", "prometheus")]),
        hosts=dict(type="list", elements="dict"),
        host_source=dict(type="str", default="nodes", choices=["nodes", "edgehosts"]),
        spoke=dict(type="str"),
        state=STATE,
        force=FORCE,
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=600),
    ),
    "app_deployment": dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        pool=dict(type="str"),
        compute_pool=dict(type="str"),
        platform=dict(type="str"),
        kind=dict(type="str", choices=["Deployment", "Job"]),
        image=dict(type="str"),
        command=dict(type="list", elements="str"),
        args=dict(type="list", elements="str"),
        env=dict(type="dict"),
        replicas=dict(type="int", default=1),
        resources=dict(type="dict", options=dict(
            gpu=dict(type="int"),
            cpu=dict(type="str"),
            memory=dict(type="str"),
            storage=dict(type="str"),
        )),
        pod_templates=dict(type="list", elements="dict"),
        default_variables=dict(type="dict"),
        resource_validations=dict(type="list", elements="dict"),
        spoke=dict(type="str"),
        delivery=dict(type="str", default="direct", choices=["direct", "manifestwork"]),
        state=STATE,
        force=FORCE,
    ),
    "spoke": dict(
        name=dict(type="str", required=True),
        cluster=dict(type="dict", options=CONNECTION),
        cluster_set=dict(type="str", default="default"),
        hub_url=dict(type="str"),
        klusterlet=dict(type="dict", default={}, options=dict(
            mode=dict(type="str", default="Default", choices=["Default", "Singleton"]),
            registration_image=dict(type="str"),
            work_image=dict(type="str"),
            image=dict(type="str"),
        )),
        manifests=dict(type="list", elements="dict", default=[]),
        wait_timeout=dict(type="int", default=60),
        state=STATE,
        force=FORCE,
    ),
    "hub": dict(
        ocm_crds=dict(type="list", elements="raw", default=[]),
        manifests=dict(type="list", elements="dict", default=[]),
        wait_timeout=dict(type="int", default=60),
    ),
    # The fabric module's own options; the spec's entries are checked against the kinds above. Which of spec and
    # src is given is AnsibleModule's to judge: an empty spec is a spec.
    "fabric": dict(
        spec=dict(type="dict"),
        src=dict(type="path"),
        prune=dict(type="bool", default=False),
        spoke=dict(type="str"),
    ),
}

# Module-level constraints, in AnsibleModule's keyword names.
CONSTRAINTS = {
    "pool_label": dict(mutually_exclusive=[("nodes", "node_selector", "definition", "src")],
                       required_one_of=[("name", "definition", "src")]),
    "app_deployment": dict(mutually_exclusive=[("pool", "compute_pool")],
                           required_if=[("state", "present", ("pool", "compute_pool"), True),
                                        ("state", "present", ("image",))]),
}

_TRUE = ("yes", "on", "true", "1", "y", "t")
EXACT_FLOAT = 2 ** 53  # every integer up to here has an exact float
_FALSE = ("no", "off", "false", "0", "n", "f")


def argument_spec(kind, **extra):
    """The AnsibleModule argument_spec of a module: its options plus `extra` (label_prefix, connection options)."""
    spec = dict(OPTIONS[kind])
    spec.update(extra)
    return spec


def _describe(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _convert(value, kind, where):
    """(converted value, error or None) for one of Ansible's simple types."""
    if kind == "raw":
        return value, None
    if kind in ("str", "path"):
        if isinstance(value, bool) or isinstance(value, (dict, list)) or value is None:
            return None, "%s must be a string, got %s" % (where, _describe(value))
        text = value if isinstance(value, str) else str(value)
        return (os.path.expanduser(text) if kind == "path" else text), None
    if kind == "int":
        if isinstance(value, bool):
            return None, "%s must be an integer, got %s" % (where, _describe(value))
        if isinstance(value, int):
            return value, None
        # A float names an integer only while it is exact: beyond 2**53 (1e23, say) it stands for a rounded
        # number, and the message would show digits the user never wrote.
        if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_FLOAT:
            return int(value), None
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip()), None
        return None, "%s must be an integer, got %s" % (where, _describe(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if text in _TRUE:
            return True, None
        if text in _FALSE:
            return False, None
        return None, "%s must be true or false, got %s" % (where, _describe(value))
    if kind == "dict":
        if isinstance(value, dict):
            return value, None
        return None, "%s must be a mapping, got %s" % (where, _describe(value))
    if kind == "list":
        if isinstance(value, (list, tuple)):
            return list(value), None
        return None, "%s must be a list, got %s" % (where, _describe(value))
    raise ValueError("unknown option type %r" % kind)  # a spec bug, not user input


def _unknown(keys, spec, where):
    """Errors naming each unknown key, with the closest known one when there is a likely typo."""
    known = set(spec) | set(alias for option in spec.values() for alias in option.get("aliases") or ())
    errors = []
    for key in sorted((k for k in keys if k not in known), key=str):
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = "did you mean %s?" % close[0] if close else "supported: %s" % ", ".join(sorted(spec))
        errors.append("%s: unknown option %s (%s)" % (where, key, hint))
    return errors


def _join(where, key):
    return "%s.%s" % (where, key) if where else str(key)


def _validate(args, spec, where, constraints=None):
    """(params with defaults, errors) for one mapping against an options spec."""
    errors = _unknown(args, spec, where or "options")
    params, invalid = {}, set()
    for name, option in spec.items():
        value = args.get(name)
        for alias in option.get("aliases") or ():
            if value is None and args.get(alias) is not None:
                value = args[alias]
        place = _join(where, name)
        if value is None:
            if option.get("required"):
                errors.append("%s is required" % place)
            default = option.get("default")
            params[name] = list(default) if isinstance(default, list) else (
                dict(default) if isinstance(default, dict) else default)
            if isinstance(params[name], dict) and option.get("options") and params[name] is not None:
                params[name], more = _validate(params[name], option["options"], place)
                errors += more
            continue
        value, error = _convert(value, option.get("type", "str"), place)
        if error:
            errors.append(error)
            params[name] = None
            invalid.add(name)
            continue
        if option.get("type") == "list" and option.get("elements"):
            items = []
            for index, item in enumerate(value):
                item_place = "%s[%d]" % (place, index)
                item, error = _convert(item, option["elements"], item_place)
                if error:
                    errors.append(error)
                    continue
                if option["elements"] == "dict" and option.get("options"):
                    item, more = _validate(item, option["options"], item_place, option)
                    errors += more
                items.append(item)
            value = items
        elif option.get("type") == "dict" and option.get("options"):
            value, more = _validate(value, option["options"], place, option)
            errors += more
        if option.get("choices") is not None and value not in option["choices"]:
            choices = ", ".join(str(c) for c in option["choices"])
            errors.append("%s is %s; expected one of %s" % (place, _describe(value), choices))
        params[name] = value
    errors += _constraint_errors(params, constraints or {}, where, invalid)
    return params, errors


def _given(params, key, invalid=()):
    """Whether the option was given: a value of the wrong type was given too (its own error names it)."""
    return key in invalid or params.get(key) not in (None, "", [], {})


def _constraint_errors(args, constraints, where, invalid=()):
    """mutually_exclusive, required_one_of and required_if, judged on the parameters with defaults."""
    errors = []
    place = where or "options"
    for group in constraints.get("mutually_exclusive") or ():
        given = [key for key in group if _given(args, key, invalid)]
        if len(given) > 1:
            errors.append("%s: %s are mutually exclusive; give one" % (place, " and ".join(given)))
    for group in constraints.get("required_one_of") or ():
        if not any(_given(args, key, invalid) for key in group):
            errors.append("%s: one of %s is required" % (place, ", ".join(group)))
    for rule in constraints.get("required_if") or ():
        key, value, needed = rule[0], rule[1], rule[2]
        any_of = len(rule) > 3 and rule[3]
        if args.get(key) != value:
            continue
        present = [name for name in needed if _given(args, name, invalid)]
        if any_of and not present:
            errors.append("%s: with %s=%s, one of %s is required" % (place, key, value, ", ".join(needed)))
        elif not any_of and len(present) != len(needed):
            missing = [name for name in needed if name not in present]
            errors.append("%s: with %s=%s, %s is required" % (place, key, value, ", ".join(missing)))
    return errors


def secret_values(kind, args):
    """The values given for options marked no_log (at any depth) in `args` of module `kind`: what a module that
    prints a whole spec, as the fabric module's invocation does, must mask."""
    found = set()

    def walk(values, spec):
        if not isinstance(values, dict):
            return
        for name, option in spec.items():
            for key in [name] + list(option.get("aliases") or ()):
                value = values.get(key)
                if option.get("no_log") and isinstance(value, str) and value:
                    found.add(value)
                elif option.get("options") and isinstance(value, dict):
                    walk(value, option["options"])
                elif option.get("options") and isinstance(value, list):
                    for item in value:
                        walk(item, option["options"])
    walk(args, OPTIONS.get(kind) or {})
    return found


def validate_options(kind, args, where=""):
    """(params, errors): `args` checked against the options of module `kind`, defaults filled in, values
    converted as AnsibleModule converts them. Every error names the option (dotted path) and the value."""
    if not isinstance(args, dict):
        return {}, ["%s: expected a mapping of %s options, got %s" % (where or kind, kind, _describe(args))]
    return _validate(args, OPTIONS[kind], where, CONSTRAINTS.get(kind))

# Copyright: gpufabric contributors
# Apache License 2.0 (see LICENSE)
"""Kubeconfig files merged with kubectl's rules, and the chosen context loaded by the kubernetes library.

kubectl merges a KUBECONFIG list: the first file that names a cluster, user or context wins, so does the first
file that sets current-context (the library's own merge takes the last one), and relative paths are relative to
the file that holds them. The merge is done here; the library then loads the one chosen context into a
Configuration (token, basic auth, client certificate, exec and auth-provider plugins with their refresh).
Importing the library costs 0.17-0.6 s per module process (measured on 2 busy cores); loading a context after
that, about 5 ms. So the library is imported only for what needs it (exec and auth-provider plugins, and the
pod's service account); static credentials in the file, and a host with credentials of its own, are read here.
"""

from __future__ import annotations

import logging
import os

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
BASIC_ADVICE = ("check the password; basic authentication works only where the API server accepts it "
                "(Kubernetes itself removed it in 1.19)")
CERT_ADVICE = ("check that the client certificate is signed by a CA the API server trusts (its --client-ca-file) "
               "and has not expired")
_DICT = "(given as a dict)"


class AuthError(Exception):
    """The connection options do not give a usable connection; the message says which option to fix."""


class Target(object):
    """Where and as whom to connect, before the options override it. `identity` names whose credentials these
    are, `source` the kubeconfig context they came from, `advice` what to check when the server refuses them."""

    def __init__(self, server, identity="", advice="", source=""):
        self.server, self.identity, self.advice, self.source = server, identity, advice, source
        self.ca_file = self.cert_file = self.key_file = self.tls_server_name = self.proxy = None
        self.authorization = None  # the Authorization value, or a callable giving the current one
        self.verify = True
        self.impersonate = {}


def resolve(options, environ):
    """The chosen context of the merged kubeconfig. None without a kubeconfig, or when it selects no context and
    a host or the pod can stand in (kubectl's fallbacks)."""
    config, files = read(options.get("kubeconfig"), environ)
    name = options.get("context") or (config or {}).get("current-context")
    if config is None or not name:
        if options.get("context"):
            raise AuthError("context %s given but no kubeconfig found (the kubeconfig option, "
                            "K8S_AUTH_KUBECONFIG, KUBECONFIG or ~/.kube/config)" % options["context"])
        if config and config.get("contexts") and not options.get("host") and not in_cluster_possible(environ):
            raise AuthError("kubeconfig %s sets no current-context; set the context option or K8S_AUTH_CONTEXT "
                            "(contexts there: %s)" % (files, _names(config, "contexts")))
        return None
    context = _named(config, "contexts", name, files)
    cluster_name, user_name = context.get("cluster"), context.get("user")
    cluster = _named(config, "clusters", cluster_name, files, 'context "%s" names ' % name)
    server = cluster.get("server") or options.get("host")
    if not server:
        raise AuthError('kubeconfig %s: cluster "%s" of context "%s" has no server; set server there or the host '
                        'option' % (_origin(config, "clusters", cluster_name, files), cluster_name, name))
    user = _find(config, "users", user_name) or {}
    target = Target(server, advice=_advice(user, user_name),
                    source='context "%s" in kubeconfig %s' % (name, _origin(config, "contexts", name, files)))
    if not user_name:
        target.identity = target.source + " (it names no user, so no credentials were sent)"
    elif not user:
        target.identity = 'user "%s" of %s (no kubeconfig defines that user, so no credentials were sent)' % (
            user_name, target.source)
    else:
        target.identity = 'user "%s" of context "%s" in kubeconfig %s' % (
            user_name, name, _origin(config, "users", user_name, files))
    user = _with_token_file_read(user, target.identity)
    persist = None
    if options.get("persist_config") and user.get("auth-provider") and files != _DICT:
        persist = _persister(_origin(config, "users", user_name, files), user_name, user)
    chosen = {"current-context": name, "contexts": [{"name": name, "context": context}],
              "clusters": [{"name": cluster_name, "cluster": dict(cluster, server=server)}],
              "users": [{"name": user_name, "user": user}] if user else []}
    if not (user.get("exec") or user.get("auth-provider")):
        return _static(target, cluster, user)
    configuration = _load(chosen, name, persist, target.identity, user)
    target.server = configuration.host
    target.ca_file = configuration.ssl_ca_cert
    target.cert_file, target.key_file = configuration.cert_file, configuration.key_file
    target.verify = bool(configuration.verify_ssl)
    target.tls_server_name = cluster.get("tls-server-name")
    target.proxy = cluster.get("proxy-url")
    if _authorization(configuration):
        target.authorization = lambda: _authorization(configuration)
    target.impersonate = {"user": user.get("as"), "groups": user.get("as-groups"), "uid": user.get("as-uid"),
                          "extra": user.get("as-user-extra")}
    return target


def _static(target, cluster, user):
    """A context whose user holds its credentials in the file (token, tokenFile, basic auth, client
    certificate): read here as the library reads it, so the module process does not import the library for it
    (0.2-0.6 s per task, more than a converged run's requests). Plugins, which need the library's refresh, do."""
    import base64

    target.ca_file = cluster.get("certificate-authority") or _data_file(cluster.get("certificate-authority-data"))
    target.cert_file = user.get("client-certificate") or _data_file(user.get("client-certificate-data"))
    target.key_file = user.get("client-key") or _data_file(user.get("client-key-data"))
    target.verify = not cluster.get("insecure-skip-tls-verify", False)
    target.tls_server_name = cluster.get("tls-server-name")
    target.proxy = cluster.get("proxy-url")
    if user.get("token"):
        target.authorization = "Bearer " + user["token"]
    elif user.get("username"):
        pair = "%s:%s" % (user["username"], user.get("password") or "")
        target.authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    target.impersonate = {"user": user.get("as"), "groups": user.get("as-groups"), "uid": user.get("as-uid"),
                          "extra": user.get("as-user-extra")}
    return target


def _data_file(data):
    """Base64 certificate or key data in a private temporary file (the TLS layer reads files), removed at exit."""
    if not data:
        return None
    import atexit
    import base64
    import tempfile

    handle, path = tempfile.mkstemp(prefix="gpufabric-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(base64.b64decode(data))
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    return path


def read(option, environ):
    """(merged kubeconfig, the files it came from) or (None, None) when there is none: the option's files (each
    must exist), else KUBECONFIG's (kubectl skips those that do not), else ~/.kube/config."""
    import yaml

    if isinstance(option, dict):
        return option, _DICT
    if option is not None and not isinstance(option, str):
        raise AuthError("the kubeconfig option must be a path (or several, separated by %s) or a dict, not %s"
                        % (os.pathsep, type(option).__name__))
    if option:
        paths = [os.path.expanduser(path) for path in option.split(os.pathsep) if path]
        for path in paths:
            if not os.path.isfile(path):
                raise AuthError("kubeconfig %s does not exist; set the kubeconfig option or K8S_AUTH_KUBECONFIG"
                                % path)
    elif environ.get("KUBECONFIG"):
        paths = [os.path.expanduser(path) for path in environ["KUBECONFIG"].split(os.pathsep) if path]
    else:
        paths = [os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".kube", "config")]
    configs = []
    for path in paths:
        path = os.path.abspath(path)
        if not os.path.isfile(path) or path in [seen for seen, _config in configs]:
            continue
        try:
            with open(path) as handle:
                configs.append((path, yaml.safe_load(handle) or {}))
        except (IOError, OSError, yaml.YAMLError) as error:
            raise AuthError("cannot read kubeconfig %s: %s" % (path, error))
    if not configs:
        return None, None
    return merge(configs), os.pathsep.join(path for path, _config in configs)


def merge(configs):
    """kubectl's merge of (path, kubeconfig) pairs: entries by name and current-context from the first file that
    has them, each entry's relative paths resolved against its own file. `_origin` says where each came from."""
    merged = {"clusters": [], "contexts": [], "users": [], "current-context": None, "_origin": {}}
    for path, config in configs:
        if not isinstance(config, dict):
            raise AuthError("kubeconfig %s is not a kubeconfig (a mapping with clusters, contexts, users)" % path)
        base = os.path.dirname(path)
        for section in ("clusters", "contexts", "users"):
            for entry in config.get(section) or ():
                name = (entry or {}).get("name")
                if (section, name) not in merged["_origin"]:
                    merged["_origin"][(section, name)] = path
                    merged[section].append({"name": name, section[:-1]: _absolute(section, entry, base)})
        if not merged["current-context"] and config.get("current-context"):
            merged["current-context"] = config["current-context"]
    return merged


def _absolute(section, entry, base):
    """The entry's body with its file paths made absolute (kubectl's ResolveLocalPaths)."""
    body = dict(entry.get(section[:-1]) or {})
    keys = {"clusters": ("certificate-authority",), "users": ("client-certificate", "client-key", "tokenFile")}
    for key in keys.get(section, ()):
        if body.get(key) and not os.path.isabs(body[key]):
            body[key] = os.path.join(base, body[key])
    command = (body.get("exec") or {}).get("command")
    if command and os.sep in command and not os.path.isabs(command):  # a bare name is looked up on PATH
        body["exec"] = dict(body["exec"], command=os.path.join(base, command))
    return body


def _find(config, section, name):
    for entry in config.get(section) or ():
        if entry.get("name") == name:
            return entry.get(section[:-1]) or {}
    return None


def _named(config, section, name, files, what=""):
    found = _find(config, section, name)
    if found is None:
        raise AuthError("kubeconfig %s: %sno %s named %s (%s there: %s)"
                        % (files, what, section[:-1], name, section, _names(config, section)))
    return found


def _names(config, section):
    return ", ".join(sorted(str(entry.get("name")) for entry in config.get(section) or ())) or "none"


def _origin(config, section, name, files):
    return config.get("_origin", {}).get((section, name), files)


def _advice(user, name):
    """What to check when the server refuses this kubeconfig user (in the order the library tries them)."""
    if not user:
        return "choose a context whose user has credentials, or give api_key"
    if user.get("auth-provider"):
        return ("log in again through the %s auth provider: its token may have expired"
                % (user["auth-provider"].get("name") or "configured"))
    if user.get("token"):
        return 'check that the token of user "%s" is current and was issued for this cluster' % name
    if user.get("tokenFile"):
        return "check that the token in %s is current and was issued for this cluster" % user["tokenFile"]
    if user.get("exec"):
        return ("check that the exec plugin %s prints a token (ExecCredential status.token) this cluster accepts"
                % user["exec"].get("command"))
    if user.get("username"):
        return BASIC_ADVICE
    if user.get("client-certificate") or user.get("client-certificate-data"):
        return CERT_ADVICE
    return 'give user "%s" credentials (a token, a client certificate or an exec plugin)' % name


def _with_token_file_read(user, identity):
    """A tokenFile read here and trimmed, as kubectl trims it (the library would keep a newline in the header)."""
    if user.get("token") or not user.get("tokenFile"):
        return user
    try:
        with open(user["tokenFile"]) as handle:
            token = handle.read().strip()
    except (IOError, OSError) as error:
        raise AuthError("cannot read the tokenFile of %s: %s" % (identity, error))
    return dict(user, token=token)


def _load(chosen, context, persist, identity, user):
    """The chosen context loaded into a kubernetes Configuration; a plugin failure, which the library only logs,
    is raised here in the plugin's own words."""
    try:
        from kubernetes.client import Configuration
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.config.kube_config import KubeConfigLoader
    except ImportError:
        raise AuthError("reading a kubeconfig needs the kubernetes Python library: pip install kubernetes "
                        "(or give host with api_key, username and password, or client_cert and client_key)")
    configuration = Configuration()
    logged = _Collect()
    root = logging.getLogger()
    root.addHandler(logged)
    try:
        KubeConfigLoader(config_dict=chosen, active_context=context, config_persister=persist,
                         config_base_path=None).load_and_set(configuration)
    except (ConfigException, ValueError, TypeError, KeyError, IOError, OSError) as error:
        raise AuthError("cannot load %s: %s" % (identity, error))
    finally:
        root.removeHandler(logged)
    if user.get("exec") and not _authorization(configuration) and not configuration.cert_file:
        raise AuthError("the exec plugin %s of %s gave no credentials: %s"
                        % (user["exec"].get("command"), identity, "; ".join(logged.messages) or "no output"))
    return configuration


class _Collect(logging.Handler):
    """The library's logged errors during a load."""

    def __init__(self):
        super(_Collect, self).__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _authorization(configuration):
    """The Authorization value the library holds ("Bearer ...", "Basic ..."); reading it refreshes an expired
    plugin token. The settings key differs across library versions."""
    settings = configuration.auth_settings()
    entry = settings.get("BearerToken") or settings.get("authorization") or {}
    return entry.get("value") or None


def _persister(path, user_name, user):
    """persist_config: a refreshed auth-provider token is written back to the file that defines the user."""
    def save():
        import yaml

        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
        for entry in config.get("users") or ():
            if entry.get("name") == user_name:
                entry.setdefault("user", {})["auth-provider"] = user["auth-provider"]
        temporary = path + ".gpufabric-tmp"
        with open(temporary, "w") as handle:
            yaml.safe_dump(config, handle, default_flow_style=False)
        os.chmod(temporary, os.stat(path).st_mode & 0o777)
        os.replace(temporary, path)
    return save


def in_cluster_possible(environ):
    return bool(environ.get("KUBERNETES_SERVICE_HOST") and environ.get("KUBERNETES_SERVICE_PORT")
                and os.path.isfile(os.path.join(SERVICE_ACCOUNT, "token")))


def in_cluster(environ):
    """The pod's service account, through the library's loader (it re-reads a rotated token)."""
    if not in_cluster_possible(environ):
        raise AuthError("no kubeconfig (the kubeconfig option, K8S_AUTH_KUBECONFIG, KUBECONFIG or ~/.kube/config) "
                        "and not running in a pod; say which cluster to use")
    try:
        from kubernetes.client import Configuration
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.config.incluster_config import InClusterConfigLoader
    except ImportError:
        raise AuthError("the pod's service account needs the kubernetes Python library: pip install kubernetes")
    configuration = Configuration()
    try:
        InClusterConfigLoader(token_filename=os.path.join(SERVICE_ACCOUNT, "token"),
                              cert_filename=os.path.join(SERVICE_ACCOUNT, "ca.crt"),
                              environ=environ).load_and_set(configuration)
    except ConfigException as error:
        raise AuthError("cannot use the pod's service account (%s): %s" % (SERVICE_ACCOUNT, error))
    target = Target(configuration.host, "the pod's service account (%s/token)" % SERVICE_ACCOUNT,
                    "check the service account's role bindings and that its token is mounted", "the pod")
    target.ca_file = configuration.ssl_ca_cert
    target.authorization = lambda: _authorization(configuration)
    return target

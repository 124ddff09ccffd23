"""The DaemonSet's pod as a container runtime runs it, with podman: rendering
deploy/kubernetes with kubectl kustomize, the DaemonSet controller's
template -> Pod step, `podman kube play`, the manifest's own probes, the
container's cgroup, and a local registry. Used by test_image.py,
test_daemonset_pod.py and bench/pod_resources_bench.py (standard library
only)."""
import copy
import hashlib
import json
import os
import random
import shutil
import socket
import string
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KUSTOMIZE_BASE = os.path.join(REPO, "deploy", "kubernetes")
# What podman needs on these hosts (deploy/build-image.sh uses the same).
CONTAINERS_CONF = os.environ.get("CONTAINERS_CONF",
                                 os.path.join(REPO, "deploy", "podman", "containers.conf"))
# Where scripts/install-deps.sh unpacks Debian 12's kubectl when another
# package owns /usr/bin/kubectl (the CI machines ship Google's).
DEBIAN_KUBECTL_UNPACKED = "/opt/kubernetes-client-debian12/usr/bin/kubectl"
# Kubelet counts an HTTP probe as passed for these statuses.
PROBE_OK = range(200, 400)


def podman(*args, check=True, timeout=300):
    env = dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF)
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=env,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {result.returncode}\n"
                             f"{result.stdout}{result.stderr}")
    return result


def image_under_test():
    """The image deploy/build-image.sh built for this run (ctest sets it)."""
    image = os.environ.get("TCPQ_IMAGE")
    if not image:
        raise unittest.SkipTest("TCPQ_IMAGE is not set (run through ctest)")
    if shutil.which("podman") is None:
        raise unittest.SkipTest("needs podman (scripts/install-deps.sh)")
    return image


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubectls():
    """{label: path} of every kubectl to render with: Debian 12's (the
    kubernetes-client package, 1.20 with kustomize v2) and whichever kubectl
    is first on PATH if that is another one."""
    found = {}
    on_path = shutil.which("kubectl")
    owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(on_path or "/usr/bin/kubectl")],
                           capture_output=True, text=True).stdout
    if on_path and owner.startswith("kubernetes-client:"):
        found["debian12"] = on_path
    elif os.access(DEBIAN_KUBECTL_UNPACKED, os.X_OK):
        found["debian12"] = DEBIAN_KUBECTL_UNPACKED
    if on_path and found.get("debian12") != on_path:
        found["path"] = on_path
    return found


def write_overlay(directory, image):
    """The README's overlay: deploy/kubernetes with another image, by
    kustomize's images: entry. `bases:` because Debian 12's kubectl (kustomize
    v2.0) takes directories only there; newer ones accept it too."""
    name, tag = image.rsplit(":", 1)
    base = os.path.relpath(KUSTOMIZE_BASE, directory)
    with open(os.path.join(directory, "kustomization.yaml"), "w") as f:
        f.write(f"bases:\n  - {base}\nimages:\n  - name: ghcr.io/tcpq/tcpq_exporter\n"
                f"    newName: {name}\n    newTag: \"{tag}\"\n")


def render(kubectl, directory):
    """`kubectl kustomize DIR` (what `kubectl apply -k DIR` sends), as
    objects. A no-op local patch is kubectl's own way to print YAML as JSON,
    with no cluster."""
    yaml_text = subprocess.run([kubectl, "kustomize", directory], check=True,
                               capture_output=True, text=True).stdout
    out = subprocess.run([kubectl, "patch", "--local", "-f", "-", "--type", "merge",
                          "-p", "{}", "-o", "json"], input=yaml_text, check=True,
                         capture_output=True, text=True).stdout
    objects, decoder, i = [], json.JSONDecoder(), 0
    while True:
        while i < len(out) and out[i].isspace():
            i += 1
        if i == len(out):
            return objects
        obj, i = decoder.raw_decode(out, i)
        objects.extend(obj["items"] if obj.get("kind") == "List" else [obj])


def daemonset_of(objects):
    found = [o for o in objects if o["kind"] == "DaemonSet"]
    if len(found) != 1:
        raise AssertionError(f"expected one DaemonSet, rendered {[o['kind'] for o in objects]}")
    return found[0]


def pod_from_daemonset(ds, node):
    """The Pod the DaemonSet controller creates on `node` (pkg/controller/
    daemon: CreatePodTemplate, then controller.GetPodFromTemplate): the
    template's labels (plus the revision labels), annotations and finalizers,
    name from generateName, owner reference, the template's spec with the
    daemon tolerations added and the node pinned by affinity."""
    template = copy.deepcopy(ds["spec"]["template"])
    meta, spec = template.get("metadata", {}), template["spec"]
    # A stand-in for the ControllerRevision hash (only a label value).
    revision = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
    labels = dict(meta.get("labels", {}), **{
        "controller-revision-hash": revision,
        "pod-template-generation": str(ds["metadata"].get("generation", 1))})
    tolerations = spec.setdefault("tolerations", [])
    daemon = [("node.kubernetes.io/not-ready", "NoExecute"),
              ("node.kubernetes.io/unreachable", "NoExecute"),
              ("node.kubernetes.io/disk-pressure", "NoSchedule"),
              ("node.kubernetes.io/memory-pressure", "NoSchedule"),
              ("node.kubernetes.io/pid-pressure", "NoSchedule"),
              ("node.kubernetes.io/unschedulable", "NoSchedule")]
    if spec.get("hostNetwork"):
        daemon.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in daemon:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    spec["affinity"] = dict(spec.get("affinity", {}), nodeAffinity={
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}})
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
    pod_meta = {"name": f"{ds['metadata']['name']}-{suffix}",
                "namespace": ds["metadata"].get("namespace", "default"),
                "labels": labels,
                "ownerReferences": [{"apiVersion": ds["apiVersion"], "kind": "DaemonSet",
                                     "name": ds["metadata"]["name"], "controller": True,
                                     "blockOwnerDeletion": True}]}
    for field in ("annotations", "finalizers"):
        if field in meta:
            pod_meta[field] = meta[field]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def listen_port(container):
    """The port of --web.listen-address in the container's args."""
    for arg in container.get("args", []):
        if arg.startswith("--web.listen-address="):
            return int(arg.rsplit(":", 1)[1])
    raise AssertionError(f"no --web.listen-address in {container.get('args')}")


def for_podman(pod, port, drop_capability=None, limits=True, host_paths=None):
    """What podman kube play needs changed, and nothing else:
    - no `ports:`: podman refuses port mappings in a hostNetwork pod (they
      only reserve the node port in Kubernetes);
    - `port`, not the manifest's, everywhere the manifest names its port
      (listen address, probes): other exporters may hold 9715 on this host;
    - optionally one added capability removed, or the resource limits
      lifted (for measuring what the exporter uses);
    - optionally a hostPath volume's node directory replaced ({manifest path:
      test path}), e.g. a kubelet-style /var/log the test made."""
    pod = copy.deepcopy(pod)
    for old, new in (host_paths or {}).items():
        volumes = [v for v in pod["spec"]["volumes"] if v.get("hostPath", {}).get("path") == old]
        if len(volumes) != 1:
            raise AssertionError(f"no single hostPath volume of {old} in the manifest")
        volumes[0]["hostPath"]["path"] = new
    (container,) = pod["spec"]["containers"]
    manifest_port = listen_port(container)
    declared = {p["containerPort"] for p in container.pop("ports", [])}
    if declared != {manifest_port}:
        raise AssertionError(f"container ports {declared} != listen port {manifest_port}")
    container["args"] = [a.replace(f":{manifest_port}", f":{port}")
                         if a.startswith("--web.listen-address=") else a
                         for a in container["args"]]
    for probe in ("readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        if http["port"] != manifest_port:
            raise AssertionError(f"{probe} port {http['port']!r} is not {manifest_port} "
                                 "(podman needs the number, the ports are gone)")
        http["port"] = port
    if drop_capability:
        added = container["securityContext"]["capabilities"]["add"]
        added.remove(drop_capability)
    if not limits:
        container["resources"].pop("limits", None)
    return pod


def probe(container, name, host="127.0.0.1"):
    """Runs the container's probe `name` as kubelet does for a hostNetwork
    pod: an HTTP GET from the node to the pod's (the node's) address, failed
    past timeoutSeconds. Returns the HTTP status (0 when no answer)."""
    spec = container[name]["httpGet"]
    url = f"{spec.get('scheme', 'HTTP').lower()}://{host}:{spec['port']}{spec['path']}"
    try:
        with urllib.request.urlopen(url, timeout=container[name].get("timeoutSeconds", 1)) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


class PlayedPod:
    """`podman kube play` of one Pod object; on exit the pod is removed
    (also when the test failed), and `logs` keeps what the container said."""

    def __init__(self, pod, extra_args=()):
        self.pod = pod
        self.name = pod["metadata"]["name"]
        (container_spec,) = pod["spec"]["containers"]
        self.container_spec = container_spec
        # podman names a played container <pod>-<container>.
        self.container = f"{self.name}-{container_spec['name']}"
        self.extra_args = list(extra_args)
        self.logs = ""

    def __enter__(self):
        self._dir = tempfile.mkdtemp(prefix="tcpq-pod-")
        self.file = os.path.join(self._dir, "pod.json")
        with open(self.file, "w") as f:
            json.dump(self.pod, f, indent=1)
        try:
            podman("kube", "play", "--quiet", *self.extra_args, self.file)
            self.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        result = podman("logs", self.container, check=False)
        self.logs = result.stdout + result.stderr
        podman("kube", "down", self.file, check=False)
        podman("pod", "rm", "--force", "--ignore", self.name, check=False)
        shutil.rmtree(self._dir, ignore_errors=True)

    def state(self):
        out = podman("inspect", "--format", "{{.State.Status}} {{.State.Pid}}",
                     self.container).stdout.split()
        return out[0], int(out[1])

    def wait_ready(self):
        """Waits as long as kubelet would before giving up on readiness
        (initialDelay + failureThreshold periods) and more, for a slow
        host; raises with the container's log if the probe never passes."""
        spec = self.container_spec["readinessProbe"]
        budget = (spec.get("initialDelaySeconds", 0) +
                  spec.get("periodSeconds", 10) * spec.get("failureThreshold", 3) + 30)
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            if probe(self.container_spec, "readinessProbe") in PROBE_OK:
                return
            status, _ = self.state()
            if status != "running":
                break
            time.sleep(0.2)
        logs = podman("logs", self.container, check=False)
        raise AssertionError(f"pod {self.name} never ready ({self.state()}):\n"
                             f"{logs.stdout}{logs.stderr}")

    def current_logs(self):
        result = podman("logs", self.container)
        return result.stdout + result.stderr

    def cgroup_dir(self, controller):
        """The container's cgroup directory of a v1 controller (this host's
        hybrid layout; podman with the cgroupfs manager)."""
        _, pid = self.state()
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controller in controllers.split(","):
                    return f"/sys/fs/cgroup/{controllers}{path}"
        raise AssertionError(f"no {controller} cgroup for pid {pid}")


class Registry:
    """Debian's docker-registry (the Distribution registry) on a free
    loopback port, storing in a temporary directory."""

    def __init__(self):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self):
        binary = shutil.which("docker-registry")
        if binary is None:
            raise unittest.SkipTest("needs docker-registry (scripts/install-deps.sh)")
        self._dir = tempfile.mkdtemp(prefix="tcpq-registry-")
        config = os.path.join(self._dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self._dir}/data\nhttp:\n  addr: {self.address}\n")
        self.proc = subprocess.Popen([binary, "serve", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise AssertionError(f"docker-registry did not start: {self.__exit__()}")

    def __exit__(self, *exc):
        """Stops the registry (it exits at once on SIGTERM); returns its log."""
        self.proc.terminate()
        error = self.proc.communicate(timeout=10)[1]
        shutil.rmtree(self._dir, ignore_errors=True)
        return error

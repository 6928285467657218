"""k8s/ manifests: each document parses and validates against the Kubernetes, KubeRay and
prometheus-operator schemas kept in tests/data/schemas (sources and versions in
SOURCES.md), and the manifests agree with one another, with the job's config and with
the Dockerfile."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import stat
import subprocess
import textwrap
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "data" / "schemas"
KUBE = SCHEMAS / "kubernetes" / "v1.34.0-local-strict"
KUBERAY = SCHEMAS / "kuberay" / "ray.io_v1.yaml"
PODMONITOR = SCHEMAS / "prometheus-operator" / "monitoring.coreos.com_v1_podmonitor.yaml"


# --- loading ------------------------------------------------------------------------------
def documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is not None:
                docs.append((f"{path.name}#{i}", doc))
    return docs


def by_kind(kind: str) -> list[dict]:
    return [d for _, d in documents() if d["kind"] == kind]


def one(kind: str, name: str | None = None) -> dict:
    found = [d for d in by_kind(kind) if name is None or d["metadata"].get("name") == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def strict(schema):
    """additionalProperties: false wherever an object lists its properties (kubectl --validate=strict)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@lru_cache(maxsize=1)
def registry() -> Registry:
    resources = [Resource.from_contents(json.loads(p.read_text())) for p in sorted(KUBE.glob("*.json"))]
    resources += [Resource.from_contents(strict(yaml.safe_load(p.read_text()))) for p in (KUBERAY, PODMONITOR)]
    return Registry().with_resources((r.id(), r) for r in resources)


def schema_for(doc: dict) -> dict:
    api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    if api == "ray.io/v1" and kind in ("RayCluster", "RayJob", "RayCronJob"):
        return {"$ref": f"{yaml.safe_load(KUBERAY.read_text())['$id']}#/$defs/{kind}"}
    if api == "monitoring.coreos.com/v1" and kind == "PodMonitor":
        return {"$ref": f"{yaml.safe_load(PODMONITOR.read_text())['$id']}#/$defs/PodMonitor"}
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api)  # batch/v1 -> batch-v1
    path = KUBE / f"{kind.lower()}-{group_version}.json"
    assert path.exists(), f"no schema kept for {api} {kind} (add it to tests/data/schemas, with SOURCES.md)"
    return json.loads(path.read_text())


def validation_errors(doc: dict) -> list[str]:
    validator = Draft202012Validator(schema_for(doc), registry=registry())
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


def cluster_specs() -> dict[str, dict]:
    return {"raycluster": one("RayCluster")["spec"], "rayjob": one("RayJob")["spec"]["rayClusterSpec"],
            "raycronjob": one("RayCronJob")["spec"]["jobTemplate"]["rayClusterSpec"]}


def pod_templates() -> list[tuple[str, dict]]:
    spec = cluster_specs()["raycluster"]
    out = [("head", spec["headGroupSpec"]["template"])]
    out += [(g["groupName"], g["template"]) for g in spec["workerGroupSpecs"]]
    out.append(("submitter", one("RayJob")["spec"]["submitterPodTemplate"]))
    out.append(("nightly-submit", one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]))
    return out


def group(name: str) -> dict:
    return next(g for g in cluster_specs()["raycluster"]["workerGroupSpecs"] if g["groupName"] == name)


def seig_config():
    from pipeline.config import SeigConfig

    text = one("ConfigMap", "seig-config")["data"]["config.yaml"]
    return SeigConfig.model_validate(yaml.safe_load(text))


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


# --- schemas ------------------------------------------------------------------------------
def test_schemas_are_kept_with_their_sources():
    sources = (SCHEMAS / "SOURCES.md").read_text()
    for needle in ("kubernetes-validate", "1.37.0", "v1.34.0", "ray-project/kuberay",
                   "0074504f84f22d26df800ebcd2e0a3e1490e2aef", "prometheus-operator/prometheus-operator",
                   "00749296a6ed0225f09f8bd9849d764f1280d766"):
        assert needle in sources, needle
    for schema in (KUBERAY, PODMONITOR):
        Draft202012Validator.check_schema(yaml.safe_load(schema.read_text()))
    for path in KUBE.glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_schemas_reject_what_the_api_server_would():
    """The validator is not a rubber stamp: typos, wrong types and missing fields fail."""
    job = copy.deepcopy(one("RayJob"))
    job["spec"]["shutdownAfterJobFinishes"] = "yes"
    job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplica"] = 3  # typo
    job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 1
    errors = " | ".join(validation_errors(job))
    assert "'yes' is not of type 'boolean'" in errors
    assert "maxReplica" in errors and "imagePullPolicy" in errors
    cron = copy.deepcopy(one("RayCronJob"))
    del cron["spec"]["schedule"]
    assert any("'schedule' is a required property" in e for e in validation_errors(cron))
    cron = copy.deepcopy(one("RayCronJob"))
    cron["spec"]["jobTemplate"]["rayClusterSpec"]["autoscalerOptions"]["upscalingMode"] = "Eager"
    assert any("is not one of" in e for e in validation_errors(cron))
    mon = copy.deepcopy(one("PodMonitor", "seig-driver"))
    mon["spec"]["podMetricsEndpoints"][0]["interval"] = "30 seconds"
    del mon["spec"]["selector"]
    errors = " | ".join(validation_errors(mon))
    assert "does not match" in errors and "'selector' is a required property" in errors
    cron_job = copy.deepcopy(one("CronJob"))
    cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["comand"] = ["x"]
    assert any("comand" in e for e in validation_errors(cron_job))


# --- every manifest -----------------------------------------------------------------------
@pytest.mark.parametrize("where,doc", documents(), ids=[w for w, _ in documents()])
def test_manifest_validates(where, doc):
    assert {"apiVersion", "kind", "metadata"} <= set(doc), where
    assert doc["metadata"].get("namespace", "seig") == "seig" or doc["kind"] == "Namespace"
    errors = validation_errors(doc)
    assert not errors, f"{where} ({doc['kind']}):\n" + "\n".join(errors)


def test_every_kind_is_there():
    kinds = {d["kind"] for _, d in documents()}
    assert kinds >= {"RayCluster", "RayJob", "RayCronJob", "CronJob", "ServiceAccount", "ConfigMap", "Secret",
                     "PersistentVolumeClaim", "PodMonitor", "Namespace"}


# --- the manifests agree with one another and with the job --------------------------------
def test_the_three_cluster_specs_are_the_same():
    specs = cluster_specs()
    assert specs["raycluster"] == specs["rayjob"] == specs["raycronjob"]
    assert one("RayJob")["spec"] == one("RayCronJob")["spec"]["jobTemplate"]


def test_groups_resources_and_autoscaling_bounds():
    spec = cluster_specs()["raycluster"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert [g["groupName"] for g in spec["workerGroupSpecs"]] == ["cpu-workers", "gpu-workers"]
    for g in spec["workerGroupSpecs"]:
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], g["groupName"]
    gpu = group("gpu-workers")["template"]["spec"]["containers"][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == gpu["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in str(group("cpu-workers")) and "nvidia.com/gpu" not in str(spec["headGroupSpec"])
    assert env_of(gpu)["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "compute,utility,graphics"
    containers = [c for _, t in pod_templates() for c in t["spec"]["containers"]]
    containers.append({"name": "autoscaler", "resources": spec["autoscalerOptions"]["resources"]})
    for c in containers:
        assert c["resources"].get("requests") and c["resources"].get("limits"), f"{c['name']}: requests and limits"


def test_ray_containers_run_without_capabilities():
    """The Blender jail needs no privilege: no container adds one, every Ray container drops all."""
    for where, template in pod_templates():
        if where in ("submitter", "nightly-submit"):  # they run no Blender; they drop nothing asked of them
            continue
        for c in template["spec"]["containers"]:
            sc = c.get("securityContext", {})
            assert sc.get("capabilities") == {"drop": ["ALL"]}, (where, c["name"])
            assert sc.get("runAsNonRoot") is True and sc.get("allowPrivilegeEscalation") is False, (where, c["name"])
            assert sc.get("seccompProfile") == {"type": "RuntimeDefault"}, (where, c["name"])
    for path in (ROOT / "k8s").glob("*.yaml"):
        assert "SYS_ADMIN" not in path.read_text(), path.name


def test_shared_memory_and_kernel_cache_volumes():
    cfg = seig_config()
    pvc = one("PersistentVolumeClaim")
    for name, template in pod_templates()[:3]:  # the Ray pods
        pod = template["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory", name
    gpu = group("gpu-workers")["template"]["spec"]
    cache = next(v for v in gpu["volumes"] if "persistentVolumeClaim" in v)
    assert cache["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    mount = next(m["mountPath"] for m in gpu["containers"][0]["volumeMounts"] if m["name"] == cache["name"])
    assert mount == cfg.worker.cache_dir or mount in cfg.worker.writable_dirs, \
        "the Blender sandbox must be allowed to write the kernel cache (worker.cache_dir)"
    for var in ("CUDA_CACHE_PATH", "OPTIX_CACHE_PATH", "XDG_CACHE_HOME"):
        assert env_of(gpu["containers"][0])[var]["value"].startswith(mount + "/"), var


def test_config_map_is_a_valid_job_config_matching_the_cluster():
    from stages.backends.openai_backend import OpenAIConfig

    cfg = seig_config()
    assert cfg.ray.address == "auto" and cfg.actors.num_gpus == 1 and cfg.worker.device == "gpu"
    assert cfg.actors.count == group("gpu-workers")["maxReplicas"], "one render actor per GPU"
    OpenAIConfig.model_validate(cfg.reconstruct.openai)
    head = cluster_specs()["raycluster"]["headGroupSpec"]["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for p in head["containers"][0]["ports"]}
    assert ports["seig-metrics"] == cfg.metrics.port and cfg.metrics.host == "0.0.0.0"
    config_volume = next(v for v in head["volumes"] if v.get("configMap", {}).get("name") == "seig-config")
    mount = next(m["mountPath"] for m in head["containers"][0]["volumeMounts"] if m["name"] == config_volume["name"])
    assert f"--config {mount}/config.yaml" in one("RayJob")["spec"]["entrypoint"]
    script = one("ConfigMap", "seig-nightly-submit")["data"]["submit.sh"]
    assert f"--config {mount}/config.yaml" in script
    assert cfg.reconstruct.openai["api_key_env"] in one("Secret", "seig-vlm")["stringData"]


def test_secrets_are_placeholders_and_every_reference_resolves():
    secrets = {s["metadata"]["name"]: s for s in by_kind("Secret")}
    for s in secrets.values():
        for key, value in s["stringData"].items():
            if any(w in key.upper() for w in ("SECRET", "KEY", "TOKEN")):
                assert value.startswith("REPLACE_ME"), f"{s['metadata']['name']}.{key} must be a placeholder"
    config_maps = {c["metadata"]["name"] for c in by_kind("ConfigMap")}
    text = json.dumps([d for _, d in documents() if d["kind"] != "Secret"])
    for ref in re.findall(r'"secretRef": \{"name": "([^"]+)"\}', text):
        assert ref in secrets, ref
    for name, key in re.findall(r'"secretKeyRef": \{"name": "([^"]+)", "key": "([^"]+)"\}', text):
        assert key in secrets[name]["stringData"], f"{name}.{key}"
    for name in re.findall(r'"configMap": \{"name": "([^"]+)"', text):
        assert name in config_maps, name
    assert "seig-ray-auth" in text and "RAY_AUTH_TOKEN" in text


def test_pod_monitors_match_the_pods():
    driver, nodes = one("PodMonitor", "seig-driver"), one("PodMonitor", "seig-ray-nodes")
    head = cluster_specs()["raycluster"]["headGroupSpec"]["template"]
    head_ports = {p["name"] for p in head["spec"]["containers"][0]["ports"]}
    assert driver["spec"]["podMetricsEndpoints"][0]["port"] in head_ports
    # ray.io/* labels are set by KubeRay on its pods; ours must be on the templates
    for mon in (driver, nodes):
        ours = {k: v for k, v in mon["spec"]["selector"]["matchLabels"].items() if not k.startswith("ray.io/")}
        for _, template in pod_templates()[:3]:
            assert ours.items() <= template["metadata"]["labels"].items()
    for _, template in pod_templates()[:3]:
        ports = {p["name"] for p in template["spec"]["containers"][0]["ports"]}
        assert nodes["spec"]["podMetricsEndpoints"][0]["port"] in ports


def test_nightly_schedules_agree():
    cron, ray_cron = one("CronJob"), one("RayCronJob")
    assert cron["spec"]["schedule"] == ray_cron["spec"]["schedule"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["timeZone"] == "Etc/UTC"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    env = env_of(pod["containers"][0])
    assert env["RAY_ADDRESS"]["value"].startswith(f"http://{one('RayCluster')['metadata']['name']}-head-svc.")


# --- the nightly submit script, run against a stand-in `ray` ------------------------------
FAKE_RAY = textwrap.dedent("""\
    #!/bin/bash
    # A stand-in for the `ray` CLI: records its arguments; state in $FAKE_RAY_STATE.
    echo "$*" >> "$FAKE_RAY_STATE/calls"
    case "$1 $2" in
      "job submit")
        id=$(echo "$*" | sed -n 's/.*--submission-id \\([^ ]*\\).*/\\1/p')
        if [ -e "$FAKE_RAY_STATE/$id" ]; then echo "Job with submission_id $id already exists" >&2; exit 1; fi
        touch "$FAKE_RAY_STATE/$id"; echo "Job '$id' submitted successfully" ;;
      "job status")
        id="${@: -1}"
        [ -e "$FAKE_RAY_STATE/$id" ] || { echo "no such job $id" >&2; exit 1; }
        echo "Status for job '$id': ${FAKE_RAY_FINAL:-SUCCEEDED}" ;;
      "job logs") echo "logs of ${@: -1}" ;;
    esac
    """)


@pytest.fixture()
def submit(tmp_path):
    script = tmp_path / "submit.sh"
    script.write_text(one("ConfigMap", "seig-nightly-submit")["data"]["submit.sh"])
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ray").write_text(FAKE_RAY)
    (bindir / "ray").chmod(stat.S_IRWXU)
    state = tmp_path / "state"
    state.mkdir()

    def run(**env):
        full = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", FAKE_RAY_STATE=str(state),
                    RAY_ADDRESS="http://head:8265", **env)
        return subprocess.run(["bash", str(script)], env=full, capture_output=True, text=True, timeout=60)

    return run, state


def test_submit_script_submits_once_per_night_and_follows(submit):
    run, state = submit
    assert subprocess.run(["bash", "-n", "/dev/stdin"], input=one("ConfigMap", "seig-nightly-submit")["data"]
                          ["submit.sh"], text=True).returncode == 0
    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    calls = (state / "calls").read_text().splitlines()
    night = re.search(r"--submission-id seig-nightly-(\d{8})", calls[0]).group(1)
    assert f"--run-id nightly-{night}" in calls[0] and "--config /etc/seig/config.yaml" in calls[0]
    assert any(c.startswith("job logs") and "--follow" in c for c in calls)
    again = run()  # a retried pod the same night: refused submission, follows the same job
    assert again.returncode == 0 and "refused" in again.stdout
    assert len(list(state.glob("seig-nightly-*"))) == 1
    failed = run(FAKE_RAY_FINAL="FAILED")
    assert failed.returncode == 1 and "FAILED" in failed.stdout


# --- the image ----------------------------------------------------------------------------
def test_dockerfile_installs_like_the_readme():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "pip install --no-deps -e ." in text and "COPY --chown=ray:ray . ." in text and "WORKDIR /app" in text
    assert "pip install -e" in (ROOT / "README.md").read_text()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "prompts" not in ignored


@pytest.mark.skipif(not (shutil.which("ldd") and shutil.which("dpkg") and shutil.which("apt-cache")),
                    reason="needs Debian's dpkg/apt-cache and ldd")
def test_dockerfile_apt_packages_cover_what_bpy_links():
    """ldd on the installed bpy module -> Debian packages; each must be in the Dockerfile's
    apt-get list, pulled in by one of them, or part of the python:3.11-slim base."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")  # the installed wheel's extension module, not imported here
    assert spec and spec.origin and spec.origin.endswith(".so"), spec
    so = Path(spec.origin)
    out = subprocess.run(["ldd", str(so)], capture_output=True, text=True, check=True).stdout
    system_libs = [line.split("=>")[1].split()[0] for line in out.splitlines()
                   if "=>" in line and line.split("=>")[1].strip().startswith("/") and "site-packages" not in line]
    needed = set()
    for lib in system_libs:
        real = os.path.realpath(lib)
        # merged /usr: dpkg may know a file under /lib or under /usr/lib
        names = {lib, real} | {p[4:] if p.startswith("/usr/") else "/usr" + p for p in (lib, real)}
        owners = [subprocess.run(["dpkg", "-S", n], capture_output=True, text=True) for n in sorted(names)]
        found = [r.stdout.split(":")[0] for r in owners if r.returncode == 0]
        assert found, f"{lib}: no Debian package owns it"
        needed.add(found[0])
    text = (ROOT / "Dockerfile").read_text()
    block = re.search(r"apt-get install -y --no-install-recommends(.*?)&& rm -rf", text, re.S).group(1)
    listed = set(re.findall(r"\b([a-z0-9][a-z0-9.+-]+)\b", block.replace("\\", " ")))
    deps = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                           "--no-breaks", "--no-replaces", "--no-enhances", *sorted(listed)],
                          capture_output=True, text=True).stdout
    pulled = set(re.findall(r"^(?:\s+Depends: |\s+PreDepends: )?<?([a-z0-9][a-z0-9.+-]+)>?(?::\w+)?$", deps, re.M))
    base = {"libc6", "libgcc-s1", "libstdc++6", "libuuid1"}  # in debian:bookworm-slim (apt needs them)
    missing = needed - listed - pulled - base
    assert not missing, f"bpy links against libraries from {sorted(missing)}: add them to the Dockerfile"

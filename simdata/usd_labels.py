"""Isaac Sim's semantic labels on scene.usdc, added by usd-core outside the Blender child.

Blender's USD exporter writes each object as an Xform prim named after it under /World,
with its custom properties as `userProperties:*` (`semantic`, `instance_id`) and its
name as `userProperties:blender:object_name`. Here every object's prim gets its class in
both conventions Isaac Sim reads:
- `UsdSemantics.LabelsAPI` (OpenUSD's semantics schema, read by Isaac Sim 5.x and
  Replicator): applied schema `SemanticsLabelsAPI:class`, attribute
  `token[] semantics:labels:class = ["car"]`;
- the older Isaac Sim `SemanticsAPI` (Isaac Sim 4.x and before): applied schema
  `SemanticsAPI:Semantics`, attributes `string semantic:Semantics:params:semanticType =
  "class"` and `string semantic:Semantics:params:semanticData = "car"`.
Stage metadata is set to `metersPerUnit = 1`, `upAxis = "Z"`, default prim `/World`. The
world becomes a uniform `DomeLight` at `/World/env_light` (`inputs:color`, the sky's mean
linear colour, and `inputs:intensity`, its strength, from the checked scene facts), so
the file needs no texture beside it.

The file came from a child that ran untrusted code, so it is opened here, in a separate
short-lived process with memory and CPU limits (`label_files`), never in the caller's
process: a crafted crate file can at worst crash or stall that process, which fails the
sample. Run as `python -m simdata.usd_labels` with a JSON job on stdin.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile

LABELS_INSTANCE = "class"
LEGACY_SCHEMA = "SemanticsAPI:Semantics"
LEGACY_TYPE = "semantic:Semantics:params:semanticType"
LEGACY_DATA = "semantic:Semantics:params:semanticData"
ROOT = "/World"
DOME = "env_light"  # the name Blender's own world conversion gives its dome light
MAX_PRIMS = 200_000
NAME_ATTR = "userProperties:blender:object_name"


class UsdLabelError(ValueError):
    """scene.usdc could not be opened, lacked an object's prim, or the labeller failed."""


def _limits() -> None:  # runs in the child process before exec
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))
    resource.setrlimit(resource.RLIMIT_FSIZE, (512 << 20, 512 << 20))


Dome = dict  # {"color": [r, g, b] linear, "strength": float} (simdata.facts.WorldFacts)


def label_files(items: list[tuple[bytes, dict[str, str], Dome | None]],
                timeout_s: float = 120.0) -> list[bytes | UsdLabelError]:
    """[(usdc bytes, {object name: class}, dome light or None)] -> labelled usdc bytes, or
    the UsdLabelError of that file, in order. One labeller process for all of them (one
    start-up per image); UsdLabelError when the labeller itself fails."""
    if not items:
        return []
    with tempfile.TemporaryDirectory(prefix="seig-usd-") as tmp:
        jobs = []
        for i, (data, labels, dome) in enumerate(items):
            src, dst = os.path.join(tmp, f"in-{i}.usdc"), os.path.join(tmp, f"out-{i}.usdc")
            with open(src, "wb") as fh:
                fh.write(data)
            jobs.append({"src": src, "dst": dst, "labels": labels, "dome": dome})
        try:
            proc = subprocess.run([sys.executable, "-m", "simdata.usd_labels"], input=json.dumps(jobs).encode(),
                                  capture_output=True, timeout=timeout_s, preexec_fn=_limits, cwd=tmp,
                                  env={**_env(), "PYTHONPATH": _package_root()})
        except subprocess.TimeoutExpired as exc:
            raise UsdLabelError(f"labelling scene.usdc took over {timeout_s:g} s") from exc
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"status {proc.returncode}"]
            raise UsdLabelError(f"the USD labeller failed: {tail[0][:300]}")
        try:
            results = json.loads(proc.stdout.decode())
            assert isinstance(results, list) and all(isinstance(r, dict) for r in results)
        except (ValueError, AssertionError) as exc:
            raise UsdLabelError("the USD labeller answered something that is not its report") from exc
        out = []
        for i, res in enumerate(results):
            if "error" in res:
                out.append(UsdLabelError(f"scene.usdc: {str(res['error'])[:400]}"))
                continue
            with open(jobs[i]["dst"], "rb") as fh:
                out.append(fh.read())
        if len(out) != len(items):
            raise UsdLabelError(f"the USD labeller answered {len(out)} of {len(items)} files")
        return out


def _env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- inside the labeller process ---------------------------------------------------------
def label_stage(src: str, dst: str, labels: dict[str, str], dome: Dome | None = None) -> dict:
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdLux, UsdSemantics

    stage = Usd.Stage.Open(src, Usd.Stage.LoadAll)
    if stage is None:
        raise UsdLabelError("does not open as a USD stage")
    root = stage.GetPrimAtPath(ROOT)
    if not root or not root.IsValid():
        raise UsdLabelError(f"has no {ROOT} prim")
    prims = {}
    for count, prim in enumerate(stage.Traverse()):
        if count > MAX_PRIMS:
            raise UsdLabelError(f"has more than {MAX_PRIMS} prims")
        attr = prim.GetAttribute(NAME_ATTR)
        if attr and prim.GetParent() == root:
            name = attr.Get()
            if name in prims:
                raise UsdLabelError(f"names object {name!r} twice")
            prims[name] = prim
    missing = sorted(set(labels) - set(prims))
    if missing:
        raise UsdLabelError(f"has no prim for objects {missing[:5]}")
    for name, cls in labels.items():
        prim = prims[name]
        UsdSemantics.LabelsAPI.Apply(prim, LABELS_INSTANCE).CreateLabelsAttr().Set([cls])
        prim.AddAppliedSchema(LEGACY_SCHEMA)
        prim.CreateAttribute(LEGACY_TYPE, Sdf.ValueTypeNames.String).Set(LABELS_INSTANCE)
        prim.CreateAttribute(LEGACY_DATA, Sdf.ValueTypeNames.String).Set(cls)
    if dome is not None:
        light = UsdLux.DomeLight.Define(stage, f"{ROOT}/{DOME}")
        light.CreateColorAttr().Set(Gf.Vec3f(*dome["color"]))
        light.CreateIntensityAttr().Set(float(dome["strength"]))
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    stage.SetDefaultPrim(root)
    if not canonical(stage.GetRootLayer()).Export(dst):
        raise UsdLabelError("could not be written back")
    return {"prims": len(prims)}


def canonical(layer):
    """A copy of `layer` with every prim's children in name order. Blender's exporter writes
    them in an order that changes from run to run (it walks a hash set); sorted, the same
    scene gives the same bytes."""
    from pxr import Sdf

    out = Sdf.Layer.CreateAnonymous(".usdc")
    out.TransferContent(layer)

    def rebuild(path) -> None:
        spec = out.pseudoRoot if path == Sdf.Path.absoluteRootPath else out.GetPrimAtPath(path)
        names = sorted(spec.nameChildren.keys())
        spec.nameChildren.clear()
        for name in names:
            Sdf.CopySpec(layer, path.AppendChild(name), out, path.AppendChild(name))
            rebuild(path.AppendChild(name))

    rebuild(Sdf.Path.absoluteRootPath)
    return out


def main() -> int:
    jobs = json.loads(sys.stdin.read())
    results = []
    for job in jobs:
        try:
            results.append(label_stage(job["src"], job["dst"], job["labels"], job.get("dome")))
        except UsdLabelError as exc:
            results.append({"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - pxr raises Tf errors of its own types
            results.append({"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    sys.stdout.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Patches: a generator that only changes numbers answers with the keys it changes.

A patch is a JSON object nested like the section's dict: a value replaces, a nested object
merges, `null` removes the key (RFC 7386, JSON Merge Patch). One addition: GEOMETRY's
`objects` list is addressed by name, as an object `{"car_1": {...}, "tree_2_crown": null}`
(or a list of objects with a "name", merged by name): an existing name merges, a new name
adds the object (with all its fields), null removes it. The patched dict is written back
with seig's writer, the section's code untouched; the contract check then runs on it as on
any candidate.
"""
from __future__ import annotations

from typing import Any

from scene_program.sections import SectionError, parse
from scene_program.writer import section_params, with_section_params
from stages.backends.base import BackendError


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge of `patch` into `target` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def _merge_objects(objects: list, patch: Any) -> list:
    """GEOMETRY["objects"] patched by name."""
    if isinstance(patch, list):
        if not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in patch):
            raise BackendError("patch", "a list under GEOMETRY's 'objects' in a patch must hold objects that each "
                               "have a 'name' (or write it as {name: changes})")
        patch = {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in patch}
    if not isinstance(patch, dict):
        raise BackendError("patch", "GEOMETRY's 'objects' in a patch is an object {name: changes or null}")
    out, names = [], set()
    for spec in objects:
        name = spec.get("name") if isinstance(spec, dict) else None
        names.add(name)
        if name in patch:
            if patch[name] is None:
                continue
            spec = merge(spec, patch[name])
        out.append(spec)
    for name, spec in patch.items():
        if name not in names and spec is not None:
            out.append({"name": name, **(spec if isinstance(spec, dict) else {})})
    return out


def apply_patch(params: dict, patch: dict, section: str) -> dict:
    """`params` with `patch` applied (GEOMETRY's objects by name)."""
    if section == "geometry" and "objects" in patch:
        rest = {k: v for k, v in patch.items() if k != "objects"}
        merged = merge(params, rest)
        merged["objects"] = _merge_objects(list(params.get("objects", [])), patch["objects"])
        return merged
    return merge(params, patch)


def patched_body(program: str, section: str, patch: dict) -> str:
    """The new body of `section` after `patch`; BackendError("patch" / "unchanged") when it
    cannot be applied or changes nothing."""
    try:
        body = parse(program).get(section)
        params = section_params(body, section)
    except SectionError as exc:
        raise BackendError("patch", f"cannot patch the {section} section: {exc}; write the whole section "
                           "in a ```python block") from None
    new = apply_patch(params, patch, section)
    if new == params:
        raise BackendError("unchanged", f"the patch changes nothing in the {section} section's dict")
    return parse(with_section_params(program, section, new)).get(section)


def diff(old: Any, new: Any) -> Any:
    """The merge patch that turns `old` into `new` (the inverse of `merge`)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    out = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old:
            out[key] = value
        elif old[key] != value:
            out[key] = diff(old[key], value)
    return out


def diff_params(old: dict, new: dict, section: str) -> dict:
    """The patch from `old` to `new` params, GEOMETRY's objects by name (what a verifier is shown)."""
    if section == "geometry" and isinstance(old.get("objects"), list) and isinstance(new.get("objects"), list):
        named = lambda objs: {o.get("name"): {k: v for k, v in o.items() if k != "name"}  # noqa: E731
                              for o in objs if isinstance(o, dict)}
        out = diff({k: v for k, v in old.items() if k != "objects"}, {k: v for k, v in new.items() if k != "objects"})
        objects = diff(named(old["objects"]), named(new["objects"]))
        if objects:
            out["objects"] = objects
        return out
    return diff(old, new)
